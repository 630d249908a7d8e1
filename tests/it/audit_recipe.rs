//! The audit chain's recipe as docs/operations.md gives it, run by the script beside it
//! (docs/verify-chain.py, Python's standard library only) on a real `registervakt audit
//! export`: it recomputes the chain, and names the entry when one was edited or removed
//! (issue 20, item 8).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::spawn_app;
use registervakt::audit::chain;
use registervakt::store::audit::AuditRow;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verify-chain.py");

fn verify(file: &Path) -> Output {
    Command::new("python3")
        .arg(SCRIPT)
        .arg(file)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
#[ignore = "needs python3"]
async fn the_documented_script_recomputes_a_real_export_and_names_an_edited_or_removed_entry() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    app.sign_in(&anna, "anna").await;
    let dir = app.stop().await;
    let config = dir.config_path.to_str().unwrap();
    // Text outside ASCII in a hashed field: lengths are counted in UTF-8 bytes.
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let add = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["policy", "import", "--dir", policies])
        .args(["--comment", "Ändrad inför årsmötet", "--config", config])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", text(&add.stderr));
    let export = dir.path().join("audit.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "audit", "export", "--config", config, "--format", "jsonl", "--out",
        ])
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 5, "{}", lines.len());
    assert!(lines.iter().any(|l| l.contains("årsmötet")), "{lines:?}");
    let head =
        serde_json::from_str::<serde_json::Value>(lines.last().unwrap()).unwrap()["entry_hash"]
            .as_str()
            .unwrap()
            .to_owned();

    let ok = verify(&export);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains(&format!("chain intact: {} entries", lines.len()))
            && text(&ok.stdout).contains(&head),
        "{}",
        text(&ok.stdout)
    );

    let write = |name: &str, lines: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    // An actor rewritten in entry 3, its hashes left as they were.
    let mut edited = lines.clone();
    let mut entry: serde_json::Value = serde_json::from_str(&edited[2]).unwrap();
    entry["actor"] = "cli:someone-else".into();
    edited[2] = entry.to_string();
    let bad = verify(&write("edited.jsonl", &edited));
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stdout));
    assert!(
        text(&bad.stderr).contains("entry 3 was changed"),
        "{}",
        text(&bad.stderr)
    );

    // Entry 4 taken out.
    let mut removed = lines.clone();
    removed.remove(3);
    let bad = verify(&write("removed.jsonl", &removed));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("entry 4 is missing"),
        "{}",
        text(&bad.stderr)
    );

    // One letter of a UTF-8 comment changed (å to ä, as long in bytes): still caught.
    let renamed: Vec<String> = lines
        .iter()
        .map(|l| l.replace("årsmötet", "ärsmötet"))
        .collect();
    assert_ne!(renamed, lines);
    let bad = verify(&write("renamed.jsonl", &renamed));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("was changed"),
        "{}",
        text(&bad.stderr)
    );
}

/// The recipe docs/operations.md gives names the encoding's constants, and its worked example
/// is what the broker computes.
#[test]
fn the_documented_recipe_and_its_worked_example_match_the_code() {
    let doc = include_str!("../../docs/operations.md");
    let from = doc.find("## The audit chain's recipe").unwrap();
    let section = &doc[from..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    assert!(section.contains("`registervakt/audit/v1` followed by one zero byte"));
    assert!(section.contains("docs/verify-chain.py"));
    let row = AuditRow {
        seq: 1,
        occurred_at: 1_700_000_000_000,
        actor: "system".into(),
        action: "system.start".into(),
        target: "broker".into(),
        outcome: "success".into(),
        details: "{}".into(),
        prev_hash: chain::GENESIS.into(),
        entry_hash: String::new(),
    };
    assert_eq!(
        chain::GENESIS,
        "0".repeat(64),
        "64 zeros, as the recipe says"
    );
    assert!(section.contains(&chain::entry_hash(&row)), "{section}");
    let script = include_str!("../../docs/verify-chain.py");
    assert!(script.contains(r#"DOMAIN = b"registervakt/audit/v1\0""#));
}
