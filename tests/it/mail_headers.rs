//! What every mail says about itself, and a refused address said plainly (issue 20, item 8),
//! against the real aiosmtpd (tests/smtp/sink.py; `pip install -r tests/smtp/requirements.txt`).
//! Every mail the broker sends goes through `notify::mail::Mailer::send`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::smtp_support;

use std::time::Duration;

use registervakt::notify::mail::{Error, Mailer, SmtpConfig, SmtpTls};
use smtp_support::{SmtpSink, header_values};

fn loopback(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        from: "Registervakt <noreply@party.se>".to_owned(),
        username: None,
        password: None,
        tls: SmtpTls::None,
        timeout_secs: 5,
    }
}

/// RFC 3834 §5: a vacation responder or list manager must not answer a message marked as
/// made by a program.
#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn every_mail_arrives_marked_auto_submitted_auto_generated() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&loopback(sink.port)).unwrap();
    mailer
        .send("asa@party.se", "Ny begäran", "Logga in för att se den.\n")
        .await
        .unwrap();
    let messages = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        header_values(&messages[0], "Auto-Submitted"),
        ["auto-generated"],
        "{}",
        messages[0]
    );
}

/// A server that does not offer SMTPUTF8 cannot take a UTF-8 local part. The error says the
/// address was refused, not that STARTTLS or AUTH is missing, and nothing arrives; an ASCII
/// address to the same server still goes through, and a server with SMTPUTF8 takes both.
#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn a_utf8_address_the_server_cannot_take_is_reported_as_refused() {
    let sink = SmtpSink::start_without_smtputf8().await;
    let mailer = Mailer::new(&loopback(sink.port)).unwrap();
    let err = mailer
        .send("åsa.öberg@party.se", "Ny begäran", "Logga in.\n")
        .await
        .unwrap_err();
    assert_eq!(err, Error::AddressRefused);
    let text = err.to_string();
    assert!(text.contains("refused the address"), "{text}");
    assert!(
        !text.contains("STARTTLS") && !text.contains("AUTH"),
        "{text}"
    );
    assert!(!text.contains("åsa"), "no recipient in the message: {text}");
    assert!(!err.may_work_later());
    mailer
        .send("asa@party.se", "Ny begäran", "Logga in.\n")
        .await
        .unwrap();
    let messages = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1, "only the ASCII address got a mail");

    let with_utf8 = SmtpSink::start().await;
    let mailer = Mailer::new(&loopback(with_utf8.port)).unwrap();
    mailer
        .send("åsa.öberg@party.se", "Ny begäran", "Logga in.\n")
        .await
        .unwrap();
    let received = with_utf8.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["åsa.öberg@party.se"]);
}
