//! The audit log's copy in syslog (RFC 5424): committed entries and signed checkpoints arrive
//! over UDP (RFC 5426) and TCP with octet counting (RFC 6587 §3.4.1) with the event code as
//! MSGID and the chain's seq and hash in structured data; a dead syslog stops nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::extracts::{body, download, live_extract};
use common::{TestApp, TestDir, prepare, spawn_app_in};
use registervakt::audit::checkpoint::Checkpoint;
use registervakt::crypto::Keyring;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::sync::mpsc;

/// One received message, parsed by the grammar of RFC 5424 §6 (independently of the broker).
#[derive(Debug, Clone)]
struct Syslog {
    pri: u8,
    hostname: String,
    app: String,
    msgid: String,
    sd_id: String,
    params: BTreeMap<String, String>,
    msg: Option<String>,
}

impl Syslog {
    fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
}

fn parse(line: &str) -> Syslog {
    assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
    let rest = line.strip_prefix('<').expect("PRI");
    let (pri, rest) = rest.split_once('>').expect("PRI end");
    let rest = rest.strip_prefix("1 ").expect("VERSION 1");
    let mut fields = rest.splitn(6, ' ');
    let mut next = || fields.next().expect("a header field").to_owned();
    let (timestamp, hostname, app, procid, msgid, rest) =
        (next(), next(), next(), next(), next(), next());
    time::OffsetDateTime::parse(&timestamp, &Rfc3339).expect("an RFC 3339 TIMESTAMP");
    assert!(timestamp.ends_with('Z'), "{timestamp}");
    assert!(procid.parse::<u32>().is_ok(), "{procid}");
    for field in [&hostname, &app, &procid, &msgid] {
        assert!(field.bytes().all(|b| (33..=126).contains(&b)), "{field}");
    }
    assert!(msgid.len() <= 32);
    let rest = rest.strip_prefix('[').expect("one SD-ELEMENT");
    let mut chars = rest.chars().peekable();
    let mut sd_id = String::new();
    while let Some(c) = chars.next_if(|c| *c != ' ' && *c != ']') {
        sd_id.push(c);
    }
    let mut params = BTreeMap::new();
    while chars.next_if_eq(&' ').is_some() {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=') {
            name.push(c);
        }
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().expect("a closing quote") {
                '"' => break,
                '\\' if matches!(chars.peek(), Some('"' | '\\' | ']')) => {
                    value.push(chars.next().unwrap());
                }
                c => value.push(c),
            }
        }
        params.insert(name, value);
    }
    assert_eq!(chars.next(), Some(']'), "SD-ELEMENT end in {line}");
    let rest: String = chars.collect();
    let msg = rest.strip_prefix(' ').map(|m| {
        m.strip_prefix('\u{feff}')
            .expect("UTF-8 MSG starts with a BOM")
            .to_owned()
    });
    Syslog {
        pri: pri.parse().expect("PRIVAL"),
        hostname,
        app,
        msgid,
        sd_id,
        params,
        msg,
    }
}

/// A UDP socket on 127.0.0.1:0; every datagram is one message.
async fn udp_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = format!("udp://{}", socket.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = socket.recv_from(&mut buf).await {
            assert!(n <= 2048, "a datagram of {n} octets");
            let _ = tx.send(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
    });
    (address, rx)
}

/// A TCP listener on 127.0.0.1:0 reading `MSG-LEN SP SYSLOG-MSG` frames.
async fn tcp_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(read_frames(stream, tx.clone()));
        }
    });
    (address, rx)
}

/// Sends each `MSG-LEN SP SYSLOG-MSG` frame read from `stream` to `tx`, until the stream ends
/// or breaks off inside a frame (RFC 6587 octet counting, as over TCP and TLS, RFC 5425).
pub async fn read_frames(
    stream: impl tokio::io::AsyncRead + Unpin,
    tx: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        if reader.read_until(b' ', &mut len).await.unwrap_or(0) == 0 {
            return;
        }
        let len: usize = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap()
            .parse()
            .expect("MSG-LEN");
        let mut message = vec![0u8; len];
        if reader.read_exact(&mut message).await.is_err() {
            return;
        }
        let _ = tx.send(String::from_utf8(message).unwrap());
    }
}

/// A broker whose `[audit]` section points at `address`, checkpointing every second.
async fn broker_with_syslog(address: &str) -> TestApp {
    let dir: TestDir = prepare(200).await;
    let text = format!(
        "{}syslog = \"{address}\"\ncheckpoint_interval_secs = 1\n",
        dir.config_text()
    );
    std::fs::write(&dir.config_path, text).unwrap();
    spawn_app_in(dir).await
}

/// Collects messages until `done` holds for all received so far (10 s at most).
async fn until(
    rx: &mut mpsc::UnboundedReceiver<String>,
    seen: &mut Vec<Syslog>,
    done: impl Fn(&[Syslog]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(line)) => seen.push(parse(&line)),
            _ => panic!(
                "not all expected messages arrived; got {:?}",
                seen.iter().map(|m| &m.msgid).collect::<Vec<_>>()
            ),
        }
    }
}

fn has(msgid: &'static str) -> impl Fn(&[Syslog]) -> bool {
    move |seen| seen.iter().any(|m| m.msgid == msgid)
}

/// Every entry message matches the stored entry of its seq; every checkpoint verifies.
async fn check_against_store(app_dir: &TestDir, seen: &[Syslog]) {
    let store = registervakt::app::open_store(&app_dir.config(), false)
        .await
        .unwrap();
    let rows = store.list_recent_audit_events(10_000).await.unwrap();
    store.close().await;
    let keyring = Keyring::load(&app_dir.kek).unwrap();
    for m in seen {
        assert_eq!(
            (m.app.as_str(), m.sd_id.as_str()),
            ("registervakt", "registervakt@32473")
        );
        assert!(!m.hostname.is_empty());
        if m.msgid == "checkpoint" {
            assert_eq!(m.pri, 10 * 8 + 5, "authpriv.notice");
            let c = Checkpoint::parse(m.msg.as_deref().unwrap(), 1).unwrap();
            assert!(c.verifies(&keyring));
            assert_eq!(m.param("entries"), c.entries.to_string());
            assert_eq!(m.param("head"), c.head_hash);
            continue;
        }
        let seq: i64 = m.param("seq").parse().unwrap();
        let row = rows.iter().find(|r| r.seq == seq).expect("a stored seq");
        assert_eq!(m.msgid, row.action);
        assert_eq!(m.param("hash"), row.entry_hash);
        assert_eq!(m.param("actor"), row.actor);
        assert_eq!(m.param("target"), row.target);
        assert_eq!(m.param("outcome"), row.outcome);
        assert_eq!(m.msg.as_deref(), Some(row.details.as_str()));
        let severity = if row.outcome == "success" { 6 } else { 4 };
        assert_eq!(m.pri, 10 * 8 + severity, "{} {}", row.action, row.outcome);
    }
}

#[tokio::test]
async fn sign_in_events_and_checkpoints_arrive_over_udp_as_rfc5424_with_their_seq() {
    let (address, mut rx) = udp_receiver().await;
    let app = broker_with_syslog(&address).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let wrong = app
        .post_json(
            "/api/v1/auth/login",
            None,
            serde_json::json!({ "username": "anna", "password": "not her password" }),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    app.sign_in(&anna, "anna").await;
    let mut seen = Vec::new();
    until(&mut rx, &mut seen, |s| {
        [
            "system.start",
            "auth.password_fail",
            "auth.password_ok",
            "auth.second_factor_ok",
            "checkpoint",
        ]
        .iter()
        .all(|id| has(id)(s))
    })
    .await;
    let dir = app.stop().await;
    until(&mut rx, &mut seen, has("system.stop")).await;
    // The shutdown checkpoint comes after system.stop and covers it.
    until(&mut rx, &mut seen, |s| {
        let stop = s.iter().position(|m| m.msgid == "system.stop").unwrap();
        let seq = &s[stop].params["seq"];
        s[stop..]
            .iter()
            .any(|m| m.msgid == "checkpoint" && &m.params["entries"] == seq)
    })
    .await;
    check_against_store(&dir, &seen).await;
    let entries: Vec<i64> = seen
        .iter()
        .filter(|m| m.msgid != "checkpoint")
        .map(|m| m.params["seq"].parse().unwrap())
        .collect();
    let first = entries[0];
    assert_eq!(
        entries,
        (first..first + entries.len() as i64).collect::<Vec<_>>(),
        "every entry once, in order"
    );
}

#[tokio::test]
async fn a_download_arrives_over_tcp_with_octet_counting_and_its_msgid() {
    let (address, mut rx) = tcp_receiver().await;
    let app = broker_with_syslog(&address).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    assert_eq!(download(&app, &cookie, &id, "csv").await.0, 200);
    let mut seen = Vec::new();
    until(&mut rx, &mut seen, |s| {
        s.iter()
            .any(|m| m.msgid == "extract.download" && m.param("target") == format!("extract:{id}"))
            && has("checkpoint")(s)
    })
    .await;
    let dir = app.stop().await;
    check_against_store(&dir, &seen).await;
}

#[tokio::test]
async fn a_dead_syslog_stops_neither_sign_in_nor_downloads_and_is_counted() {
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("tcp://{}", unused.local_addr().unwrap());
    drop(unused); // nothing listens there now
    let app = broker_with_syslog(&address).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    let (status, _, bytes) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(registervakt::extract::format::CSV_BOM));
    let mut dropped = 0.0;
    for _ in 0..100 {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap();
        let text = text.text().await.unwrap();
        dropped = text
            .lines()
            .find_map(|l| l.strip_prefix("registervakt_syslog_dropped_total "))
            .map(|v| v.trim().parse::<f64>().unwrap())
            .unwrap_or(0.0);
        if dropped > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped > 0.0, "drops are counted");
    let stopping = tokio::time::timeout(Duration::from_secs(20), app.stop()).await;
    assert!(stopping.is_ok(), "a dead syslog does not hold up shutdown");
}
