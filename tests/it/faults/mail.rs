//! The mail server (aiosmtpd, `tests/smtp/`) hung or down: requests go on at once, every
//! notice stays in the app, and once the server answers again each notice is mailed, once
//! (`notify`'s promise). Needs `pip install -r tests/smtp/requirements.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::RECRUIT;
use super::common::extracts::{body, request};
use super::common::fault_proxy::{FaultProxy, Mode};
use super::common::{self, TestApp};
use super::smtp_support::{SmtpSink, body_text, header_values};
use super::support::Logs;

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn with_the_mail_server_hung_or_down_requests_go_on_and_each_notice_is_mailed_once_it_is_back()
 {
    let logs = Logs::capture();
    let sink = SmtpSink::start().await;
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], sink.port))).await;
    let app = broker_mailing_through(proxy.port()).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let store = app.store().await;
    let (cli, now) = (
        registervakt::audit::Actor::cli(),
        time::OffsetDateTime::now_utc(),
    );
    registervakt::auth::accounts::set_email(&store, cli, "bertil", Some("bertil@example.org"), now)
        .await
        .unwrap();
    store.close().await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let mut asked = Vec::new();
    for mode in [Mode::Blackhole, Mode::Down] {
        proxy.set(mode);
        let started = Instant::now();
        let (status, created) = request(
            &app,
            &anna_c,
            body(RECRUIT, "Uppsala", &["first_name", "phone"], 60),
        )
        .await;
        assert_eq!(status, 201, "{mode:?}: {created}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{mode:?}: mail held the request"
        );
        asked.push(created["id"].as_str().unwrap().to_owned());
        // A sweep a second kicks the mail pump: a few sends fail meanwhile.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let notices = app.get_json_with("/api/v1/notices", &bertil_c).await;
    for id in &asked {
        let kept = notices["notices"].as_array().unwrap().iter();
        let kept = kept.filter(|n| n["extract_id"] == id.as_str()).count();
        assert_eq!(kept, 1, "the notice for {id} is in the app: {notices}");
    }
    assert!(
        sink.messages().is_empty(),
        "nothing reached the mail server"
    );

    proxy.set(Mode::Pass);
    sink.wait_for(2, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // a few more sweeps: no second copy
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "one mail per notice");
    for id in &asked {
        let link = format!("/extracts/{id}");
        let copies = mails
            .iter()
            .filter(|m| body_text(m).contains(&link))
            .count();
        assert_eq!(
            copies, 1,
            "the notice for {id} is mailed once the server is back"
        );
    }
    assert!(
        mails
            .iter()
            .all(|m| header_values(m, "To") == ["bertil@example.org"])
    );
    logs.expect("the mail server cannot take notices now");
    app.stop().await;
}

/// A broker that mails notices through `port` (plain SMTP on loopback, 2 s per send) and
/// sweeps every second.
async fn broker_mailing_through(port: u16) -> TestApp {
    let dir = common::prepare(100).await;
    let text = format!(
        "{}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\n\
         from = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\ntimeout_secs = 2\n\n\
         [extracts]\nsweep_interval_secs = 1\n",
        dir.config_text(),
    );
    std::fs::write(&dir.config_path, text).unwrap();
    common::spawn_app_in(dir).await
}
