//! `GET /api/v1/audit/export` and `registervakt audit export`: JSON lines a SIEM can re-verify
//! (the chain recomputes from them), CSV that opens with the reader spreadsheets' files go
//! through, the same scope as the timeline, and the export itself an audit event recorded
//! before the first byte (so the export holds its own entry as its last line).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;

use common::extracts::{body, live_extract};
use common::spawn_app;
use registervakt::audit::chain;
use registervakt::extract::format::read_csv;
use registervakt::oversight::export::COLUMNS;
use registervakt::store::audit::AuditRow;
use serde_json::Value;

const INVITE: &str = "district-assembly-invitation";

fn parse_jsonl(bytes: &[u8]) -> Vec<AuditRow> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.ends_with('\n'), "every line ends with a newline");
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            AuditRow {
                seq: v["seq"].as_i64().unwrap(),
                occurred_at: v["occurred_at"].as_i64().unwrap(),
                actor: s("actor"),
                action: s("action"),
                target: s("target"),
                outcome: s("outcome"),
                details: s("details"),
                prev_hash: s("prev_hash"),
                entry_hash: s("entry_hash"),
            }
        })
        .collect()
}

/// Recomputes every hash and link from the genesis hash, as a SIEM would.
fn assert_chain_verifies(rows: &[AuditRow]) {
    let mut prev = chain::GENESIS.to_owned();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1, "no gaps");
        assert_eq!(
            row.prev_hash, prev,
            "entry {} links to the one before",
            row.seq
        );
        assert_eq!(chain::entry_hash(row), row.entry_hash, "entry {}", row.seq);
        prev = row.entry_hash.clone();
    }
}

#[tokio::test]
async fn a_party_wide_jsonl_export_parses_and_its_chain_verifies_ending_with_its_own_event() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app
        .get_with("/api/v1/audit/export?format=jsonl", Some(&farid_c))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rows = parse_jsonl(&res.bytes().await.unwrap());
    assert!(rows.len() > 5, "{}", rows.len());
    assert_chain_verifies(&rows);
    let last = rows.last().unwrap();
    assert_eq!(
        last.action, "audit.export",
        "recorded before the first byte"
    );
    let details: Value = serde_json::from_str(&last.details).unwrap();
    assert_eq!(details["format"], "jsonl");
    assert_eq!(details["scope"], serde_json::json!(["*"]));
    // The store agrees with the file entry for entry.
    let store = app.store().await;
    let mut stored = store.list_recent_audit_events(10_000).await.unwrap();
    store.close().await;
    stored.reverse();
    assert_eq!(&stored[..rows.len()], &rows[..]);
    app.stop().await;
}

#[tokio::test]
async fn a_csv_export_opens_with_read_csv_and_a_district_auditor_gets_only_their_district() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let sven = app.user("sven", &["auditor:Skåne"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let uppsala = live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane = live_extract(&app, &cecilia_c, body(INVITE, "Skåne", &["first_name"], 60)).await;
    let sven_c = app.sign_in(&sven, "sven").await;

    let res = app
        .get_with("/api/v1/audit/export?format=csv", Some(&sven_c))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = res.bytes().await.unwrap();
    let table = read_csv(&bytes).unwrap();
    assert_eq!(table[0], COLUMNS);
    let data: Vec<&Vec<String>> = table[1..].iter().filter(|r| r.len() > 1).collect();
    assert!(!data.is_empty());
    let target = COLUMNS.iter().position(|c| *c == "target").unwrap();
    assert!(
        data.iter().all(|r| r[target] == format!("extract:{skane}")),
        "only the Skåne extract"
    );
    assert!(!String::from_utf8_lossy(&bytes).contains(&uppsala));

    // The export was audited under Sven, before the body was sent.
    let store = app.store().await;
    let recent = store.list_recent_audit_events(1).await.unwrap();
    store.close().await;
    assert_eq!(recent[0].action, "audit.export");
    let details: Value = serde_json::from_str(&recent[0].details).unwrap();
    assert_eq!(details["format"], "csv");
    assert_eq!(details["scope"], serde_json::json!(["Skåne"]));

    // A window in the past selects nothing but the header.
    let res = app
        .get_with(
            "/api/v1/audit/export?format=csv&to=2000-01-01T00:00:00Z",
            Some(&sven_c),
        )
        .await;
    let table = read_csv(&res.bytes().await.unwrap()).unwrap();
    assert!(table[1..].iter().all(|r| r.len() <= 1), "{table:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_format_is_422_and_a_non_auditor_is_refused_without_an_export_event() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    for query in ["", "?format=xlsx", "?format=jsonl&from=soon"] {
        let res = app
            .get_with(&format!("/api/v1/audit/export{query}"), Some(&farid_c))
            .await;
        assert_eq!(res.status(), 422, "{query}");
    }
    let anna_c = app.sign_in(&anna, "anna").await;
    let res = app
        .get_with("/api/v1/audit/export?format=jsonl", Some(&anna_c))
        .await;
    assert_eq!(res.status(), 403);
    let store = app.store().await;
    let all = store.list_recent_audit_events(10_000).await.unwrap();
    store.close().await;
    assert!(all.iter().all(|r| r.action != "audit.export"));
    app.stop().await;
}

#[tokio::test]
async fn the_cli_exports_the_whole_log_to_a_new_private_file_and_records_it() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    app.sign_in(&anna, "anna").await;
    let dir = app.stop().await;
    let out = dir.path().join("audit.jsonl");
    let run = |format: &str, out: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(["audit", "export", "--config"])
            .arg(&dir.config_path)
            .args(["--format", format, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let done = run("jsonl", &out);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let rows = parse_jsonl(&std::fs::read(&out).unwrap());
    assert_chain_verifies(&rows);
    let last = rows.last().unwrap();
    assert_eq!(last.action, "audit.export");
    assert!(last.actor.starts_with("cli:"), "{}", last.actor);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = run("jsonl", &out);
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    let csv_out = dir.path().join("audit.csv");
    let csv = run("csv", &csv_out);
    assert!(csv.status.success());
    let table = read_csv(&std::fs::read(&csv_out).unwrap()).unwrap();
    assert_eq!(table[0], COLUMNS);
    let bad = run("xml", &dir.path().join("audit.xml"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--format"));
}
