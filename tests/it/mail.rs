//! E-mail notifications (src/notify/mail.rs) against a real SMTP server on loopback
//! (tests/smtp/sink.py on aiosmtpd; the ignored tests need it:
//! `pip install -r tests/smtp/requirements.txt`, then `cargo test -- --include-ignored`),
//! plus the checks that need no server: settings, redaction, timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::smtp_support;

use std::time::{Duration, Instant};

use registervakt::notify::mail::{Error, Mailer, SmtpConfig, SmtpTls};
use secrecy::SecretString;
use smtp_support::{SmtpSink, body_text, free_port, header_values, headers};

const FROM: &str = "Registervakt <noreply@party.se>";
const PASSWORD: &str = "hemligt-lösen-7Q!x";
const WAIT: Duration = Duration::from_secs(5);

fn loopback(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        from: FROM.to_owned(),
        username: None,
        password: None,
        tls: SmtpTls::None,
        timeout_secs: 5,
    }
}

fn with_password(mut cfg: SmtpConfig, password: &str) -> SmtpConfig {
    cfg.username = Some("registervakt".to_owned());
    cfg.password = Some(SecretString::from(password));
    cfg
}

fn assert_no_secret(err: &Error, secret: &str) {
    let shown = format!("{err} {err:?} {err:#?}");
    assert!(
        !shown.contains(secret),
        "the error shows the password: {shown}"
    );
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn message_arrives_with_headers_and_utf8_body() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&loopback(sink.port)).unwrap();
    let subject = "Ny begäran väntar på ditt godkännande";
    let body = "Hej!\n\nÅÄÖ åäö: en begäran om medlemslista väntar.\nLogga in för att se den.\n";

    mailer
        .send("Kassör Åsa <asa@party.se>", subject, body)
        .await
        .unwrap();

    sink.wait_for(1, WAIT).await;
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let msg = &received[0];
    assert_eq!(msg.mail_from, "noreply@party.se");
    assert_eq!(msg.rcpt_to, ["asa@party.se"]);
    let raw = &msg.data;
    assert_eq!(
        header_values(raw, "From"),
        ["Registervakt <noreply@party.se>"]
    );
    assert_eq!(header_values(raw, "To"), ["Kassör Åsa <asa@party.se>"]);
    assert_eq!(header_values(raw, "Subject"), [subject]);
    assert_eq!(
        header_values(raw, "Content-Type"),
        ["text/plain; charset=utf-8"]
    );
    let message_id = header_values(raw, "Message-ID");
    assert_eq!(message_id.len(), 1);
    assert!(message_id[0].ends_with("@party.se>"), "{message_id:?}");
    assert_eq!(header_values(raw, "Date").len(), 1);
    assert_eq!(body_text(raw), body.replace('\n', "\r\n"));
    // Every byte on the wire is 7-bit: no relay has to support 8BITMIME or SMTPUTF8.
    assert!(raw.is_ascii(), "the message is not 7-bit clean:\n{raw}");
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn crlf_in_subject_or_recipient_creates_no_header() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&loopback(sink.port)).unwrap();

    mailer
        .send("asa@party.se", "Hej\r\nBcc: x@y", "Inget att se här.\n")
        .await
        .unwrap();
    let refused = mailer
        .send("asa@party.se\r\nBcc: x@y", "Hej", "Inget att se här.\n")
        .await;
    assert_eq!(refused, Err(Error::InvalidRecipient));

    sink.wait_for(1, WAIT).await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "only the first message may arrive");
    let msg = &received[0];
    assert_eq!(
        msg.rcpt_to,
        ["asa@party.se"],
        "x@y must not become a recipient"
    );
    let raw = &msg.data;
    let names: Vec<String> = headers(raw).into_iter().map(|(n, _)| n).collect();
    assert!(
        !names.iter().any(|n| n.eq_ignore_ascii_case("bcc")),
        "a Bcc header was injected: {names:?}\n{raw}"
    );
    let subjects = header_values(raw, "Subject");
    assert_eq!(subjects.len(), 1, "{raw}");
    assert!(subjects[0].starts_with("Hej") && subjects[0].ends_with("Bcc: x@y"));
    assert!(!subjects[0].contains(['\r', '\n']));
    assert_eq!(header_values(raw, "To"), ["asa@party.se"]);
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn credentials_are_sent_and_a_wrong_password_is_not_shown() {
    let sink = SmtpSink::start_with_auth("registervakt", PASSWORD).await;

    let good = Mailer::new(&with_password(loopback(sink.port), PASSWORD)).unwrap();
    good.send("asa@party.se", "Med inloggning", "Hej.\n")
        .await
        .unwrap();
    sink.wait_for(1, WAIT).await;

    let wrong = "fel-lösen-Zz9";
    let bad = Mailer::new(&with_password(loopback(sink.port), wrong)).unwrap();
    let err = bad
        .send("asa@party.se", "Fel lösen", "Hej.\n")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Permanent {
            code: "535".to_owned()
        }
    );
    assert_no_secret(&err, wrong);

    let anonymous = Mailer::new(&loopback(sink.port)).unwrap();
    let err = anonymous
        .send("asa@party.se", "Utan inloggning", "Hej.\n")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Permanent { .. }), "{err:?}");

    assert_eq!(
        sink.messages().len(),
        1,
        "only the authenticated message arrives"
    );
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn starttls_never_falls_back_to_plain_text() {
    // The sink offers no STARTTLS: a mailer that requires it must give up before MAIL FROM.
    let sink = SmtpSink::start_with_auth("registervakt", PASSWORD).await;
    let mut cfg = with_password(loopback(sink.port), PASSWORD);
    cfg.tls = SmtpTls::Starttls;
    let mailer = Mailer::new(&cfg).unwrap();

    let err = mailer
        .send("asa@party.se", "Hej", "Hej.\n")
        .await
        .unwrap_err();

    assert_eq!(err, Error::Unsupported);
    assert_no_secret(&err, PASSWORD);
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn closed_port_fails_within_the_timeout_without_showing_the_password() {
    let port = free_port(); // bound and released: nothing listens there now
    let mut cfg = with_password(loopback(port), PASSWORD);
    cfg.timeout_secs = 2;
    let mailer = Mailer::new(&cfg).unwrap();

    let started = Instant::now();
    let err = mailer
        .send("asa@party.se", "Hej", "Hej.\n")
        .await
        .unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err,
        Error::Connect {
            host: "127.0.0.1".to_owned(),
            port
        }
    );
    assert_no_secret(&err, PASSWORD);
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts connections but never greets: only the timeout can end the send.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut cfg = with_password(loopback(port), PASSWORD);
    cfg.timeout_secs = 1;
    let mailer = Mailer::new(&cfg).unwrap();

    let started = Instant::now();
    let err = mailer
        .send("asa@party.se", "Hej", "Hej.\n")
        .await
        .unwrap_err();

    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(err, Error::Timeout { secs: 1 });
    assert_no_secret(&err, PASSWORD);
    holder.abort();
}

#[tokio::test]
async fn a_bad_recipient_is_refused_before_connecting() {
    // Port 9 (discard) on loopback: were a connection tried, the error would be Connect.
    let mailer = Mailer::new(&loopback(9)).unwrap();
    for to in [
        "asa@party.se\r\nBcc: x@y",
        "asa@party.se\nBcc: x@y",
        "inte en adress",
        "",
    ] {
        let err = mailer.send(to, "Hej", "Hej.\n").await.unwrap_err();
        assert_eq!(err, Error::InvalidRecipient, "{to:?}");
    }
}

#[test]
fn debug_never_shows_the_password() {
    let mut cfg = with_password(loopback(587), PASSWORD);
    cfg.host = "localhost".to_owned();
    for shown in [format!("{cfg:?}"), format!("{cfg:#?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("localhost"), "{shown}");
    }
    let mailer = Mailer::new(&cfg).unwrap();
    for shown in [
        format!("{mailer:?}"),
        format!("{mailer:#?}"),
        format!("{:?}", mailer.clone()),
    ] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(
            shown.contains("localhost") && shown.contains("noreply@party.se"),
            "{shown}"
        );
    }
}

#[test]
fn plain_text_is_refused_for_a_host_off_this_machine() {
    for host in [
        "smtp.party.se",
        "192.0.2.10",
        "2001:db8::1",
        "localhost.party.se",
    ] {
        let mut cfg = loopback(25);
        cfg.host = host.to_owned();
        let (key, problem, _fix) = cfg.validate().unwrap_err();
        assert_eq!(key, "smtp.tls", "{host}: {problem}");
        assert!(matches!(
            Mailer::new(&cfg),
            Err(Error::Config {
                key: "smtp.tls",
                ..
            })
        ));
        cfg.tls = SmtpTls::Starttls;
        cfg.validate().unwrap();
        cfg.tls = SmtpTls::Tls;
        cfg.validate().unwrap();
    }
    for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1"] {
        let mut cfg = loopback(25);
        cfg.host = host.to_owned();
        cfg.validate().unwrap();
    }
}

#[test]
fn validate_names_the_key_and_the_fix() {
    let check = |edit: &dyn Fn(&mut SmtpConfig), want: &str| {
        let mut cfg = loopback(587);
        edit(&mut cfg);
        let (key, problem, fix) = cfg.validate().unwrap_err();
        assert_eq!(key, want, "{problem}");
        assert!(!problem.is_empty() && !fix.is_empty());
        let err = Mailer::new(&cfg).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    };
    check(&|c| c.from = "Registervakt".to_owned(), "smtp.from");
    check(&|c| c.from = "a@b.se\r\nBcc: x@y".to_owned(), "smtp.from");
    check(&|c| c.host = String::new(), "smtp.host");
    check(&|c| c.host = "smtp.party.se:587".to_owned(), "smtp.host");
    check(&|c| c.host = "smtp://smtp.party.se".to_owned(), "smtp.host");
    check(&|c| c.port = 0, "smtp.port");
    check(&|c| c.timeout_secs = 0, "smtp.timeout_secs");
    check(&|c| c.timeout_secs = 3600, "smtp.timeout_secs");
    check(
        &|c| c.username = Some("registervakt".to_owned()),
        "smtp.password",
    );
    check(
        &|c| c.password = Some(SecretString::from(PASSWORD)),
        "smtp.password",
    );
    check(
        &|c| {
            c.username = Some("registervakt".to_owned());
            c.password = Some(SecretString::from(""));
        },
        "smtp.password",
    );

    let (key, problem, fix) = {
        let mut cfg = loopback(587);
        cfg.from = "noreply".to_owned();
        cfg.validate().unwrap_err()
    };
    assert_eq!(
        (key, problem.as_str(), fix),
        (
            "smtp.from",
            "is not an e-mail address",
            "write it as Name <addr@example.org>"
        )
    );
}

#[test]
fn smtp_section_parses_with_defaults() {
    #[derive(serde::Deserialize)]
    struct File {
        smtp: Option<SmtpConfig>,
    }
    let cfg = toml::from_str::<File>(
        r#"
        [smtp]
        host = "smtp.party.se"
        from = "Registervakt <noreply@party.se>"
        "#,
    )
    .unwrap()
    .smtp
    .unwrap();
    assert_eq!(cfg.port, 587);
    assert_eq!(cfg.tls, SmtpTls::Starttls);
    assert_eq!(cfg.timeout_secs, 10);
    assert!(cfg.username.is_none() && cfg.password.is_none());
    cfg.validate().unwrap();

    let cfg: SmtpConfig = toml::from_str(&format!(
        r#"
        host = "smtp.party.se"
        port = 465
        from = "noreply@party.se"
        username = "registervakt"
        password = "{PASSWORD}"
        tls = "tls"
        timeout_secs = 30
        "#
    ))
    .unwrap();
    assert_eq!(
        (cfg.port, cfg.tls, cfg.timeout_secs),
        (465, SmtpTls::Tls, 30)
    );
    assert!(!format!("{cfg:?}").contains(PASSWORD));
    Mailer::new(&cfg).unwrap();

    assert!(toml::from_str::<File>("").unwrap().smtp.is_none());
    let none: SmtpConfig =
        toml::from_str("host = \"localhost\"\nport = 25\nfrom = \"a@b.se\"\ntls = \"none\"")
            .unwrap();
    assert_eq!(none.tls, SmtpTls::None);
    for bad in [
        "host = \"h\"\nfrom = \"a@b.se\"\ntls = \"STARTTLS\"",
        "host = \"h\"\nfrom = \"a@b.se\"\ntls = \"ssl\"",
        "host = \"h\"\nfrom = \"a@b.se\"\npasword = \"typo\"",
        "from = \"a@b.se\"",
    ] {
        assert!(toml::from_str::<SmtpConfig>(bad).is_err(), "{bad}");
    }
}
