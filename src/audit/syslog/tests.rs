#![allow(clippy::unwrap_used)]
use super::*;
use crate::crypto::{KeyId, Keyring};

fn row(details: &str, target: &str, outcome: &str) -> AuditRow {
    AuditRow {
        seq: 42,
        occurred_at: 1_767_225_600_123, // 2026-01-01T00:00:00.123Z
        actor: "user:u1".into(),
        action: "extract.download".into(),
        target: target.into(),
        outcome: outcome.into(),
        details: details.into(),
        prev_hash: "00".repeat(32),
        entry_hash: "ab".repeat(32),
    }
}

fn origin() -> Origin {
    Origin::new(Facility::Authpriv, "broker-1", 4711)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_entry_is_an_rfc5424_line_with_the_event_code_as_msgid_and_the_chain_in_sd() {
    let line = text(
        Message::entry(&row(r#"{"format":"csv"}"#, "extract:x1", "success"))
            .format(&origin(), 2048),
    );
    let expected = format!(
        "<86>1 2026-01-01T00:00:00.123Z broker-1 registervakt 4711 extract.download \
         [registervakt@32473 seq=\"42\" hash=\"{}\" actor=\"user:u1\" action=\"extract.download\" \
         target=\"extract:x1\" outcome=\"success\"] \u{feff}{{\"format\":\"csv\"}}",
        "ab".repeat(32)
    );
    assert_eq!(line, expected);
}

#[test]
fn severity_follows_the_outcome_and_the_facility_is_configurable() {
    let denied = text(Message::entry(&row("{}", "t", "denied")).format(&origin(), 2048));
    assert!(denied.starts_with("<84>1 "), "authpriv.warning: {denied}");
    let auth = Origin::new(Facility::Auth, "h", 1);
    let failed = text(Message::entry(&row("{}", "t", "failure")).format(&auth, 2048));
    assert!(failed.starts_with("<36>1 "), "auth.warning: {failed}");
    let local7 = Origin::new(Facility::Local7, "h", 1);
    let ok = text(Message::entry(&row("{}", "t", "success")).format(&local7, 2048));
    assert!(ok.starts_with("<190>1 "), "local7.info: {ok}");
}

#[test]
fn quotes_backslashes_and_brackets_in_sd_values_are_escaped() {
    let line = text(Message::entry(&row("{}", r#"a"b\c]d"#, "success")).format(&origin(), 2048));
    assert!(line.contains(r#"target="a\"b\\c\]d""#), "{line}");
    // The SD element still ends at the first unescaped `]`, right before MSG.
    assert!(line.contains(r#"outcome="success"] "#), "{line}");
}

#[test]
fn cr_and_lf_in_values_or_details_cannot_split_a_message() {
    let forged =
        "x\r\n<86>1 2026-01-01T00:00:00Z evil registervakt 1 system.start [registervakt@32473]";
    let line = text(Message::entry(&row(forged, forged, "success")).format(&origin(), 2048));
    assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert_eq!(line.lines().count(), 1, "{line}");
    // The forged `]` is escaped, so the one SD element still ends after `outcome`.
    assert!(
        line.contains("[registervakt@32473\\]\" outcome=\"success\"] \u{feff}x"),
        "{line}"
    );
    assert!(line.contains("\\\\u{d}\\\\u{a}"), "encoded in SD: {line}");
}

#[test]
fn a_long_message_is_cut_in_msg_only_and_marked() {
    let details = format!("{{\"note\":\"{}\"}}", "å".repeat(3000));
    let line =
        text(Message::entry(&row(&details, "extract:x1", "success")).format(&origin(), 2048));
    assert!(line.len() <= 2048, "{}", line.len());
    assert!(line.ends_with(TRUNCATION_MARK), "{line}");
    let sd = format!(
        "outcome=\"success\" truncated=\"{}\"] \u{feff}{{\"note\":\"åå",
        details.len()
    );
    assert!(line.contains(&sd), "{line}");
    assert!(line.contains(&format!("hash=\"{}\"", "ab".repeat(32))));
    let short = text(Message::entry(&row("{}", "t", "success")).format(&origin(), 2048));
    assert!(!short.contains("truncated"), "{short}");
}

#[test]
fn structured_data_longer_than_the_limit_is_sent_whole_without_msg() {
    let target = "t".repeat(3000);
    let line = text(Message::entry(&row("{\"a\":1}", &target, "success")).format(&origin(), 2048));
    assert!(line.contains(&target));
    assert!(
        line.ends_with(&format!("truncated=\"{}\"]", "{\"a\":1}".len())),
        "{line}"
    );
}

#[test]
fn a_checkpoint_is_a_notice_with_its_file_line_as_msg() {
    let ring = Keyring::from_keys_for_tests(vec![(KeyId::from_bytes([3; 8]), [9u8; 32])]);
    let key = ring.checkpoint_key();
    let c = Checkpoint {
        at_ms: 1_767_225_600_000,
        entries: 7,
        head_hash: "cd".repeat(32),
        key_id: key.key_id(),
        signature: [1; 64],
    };
    let line = text(Message::checkpoint(&c).format(&origin(), 2048));
    let expected = format!(
        "<85>1 2026-01-01T00:00:00.000Z broker-1 registervakt 4711 checkpoint \
         [registervakt@32473 entries=\"7\" head=\"{}\" key=\"{}\"] \u{feff}{}",
        "cd".repeat(32),
        key.key_id(),
        c.line().trim_end()
    );
    assert_eq!(line, expected);
}

#[test]
fn header_fields_hold_printable_ascii_only() {
    let o = Origin::new(Facility::Authpriv, "my host\n", 1);
    let line = text(Message::entry(&row("{}", "t", "success")).format(&o, 2048));
    assert!(
        line.starts_with("<86>1 2026-01-01T00:00:00.123Z my_host_ registervakt 1 "),
        "{line}"
    );
    let nameless = Origin::new(Facility::Authpriv, "", 1);
    let line = text(Message::entry(&row("{}", "t", "success")).format(&nameless, 2048));
    assert!(
        line.contains("Z - registervakt 1 extract.download "),
        "{line}"
    );
}
