//! The operator at the command line (issue 20, item 8): a config file that is not there is
//! named as not found by every command that reads one, and the audit log names the operator
//! by the process's real uid and its passwd entry, never by `$USER`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory;

fn registervakt_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every command that reads the broker's config, with the other arguments it requires.
/// `--config FILE` is added to each.
const WITH_CONFIG: &[&[&str]] = &[
    &["serve"],
    &["init"],
    &["register", "check"],
    &["user", "add", "--username", "anna", "--name", "Anna"],
    &["user", "list"],
    &["user", "disable", "anna"],
    &["user", "set-email", "anna", "--clear"],
    &["user", "enable", "anna"],
    &["user", "grant", "anna", "--role", "staff:Uppsala"],
    &["user", "revoke", "anna", "--role", "staff:Uppsala"],
    &[
        "user",
        "link-oidc",
        "anna",
        "--issuer",
        "https://idp.example",
        "--subject",
        "s",
    ],
    &["user", "reset-2fa", "anna"],
    &["policy", "export", "--out", "exported-policy"],
    &["policy", "diff", "--against-history", "30"],
    &["policy", "import", "--dir", "policies", "--comment", "why"],
    &[
        "policy",
        "explain",
        "--user",
        "anna",
        "--purpose",
        "p",
        "--district",
        "Uppsala",
    ],
    &[
        "report",
        "activity",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-02-01T00:00:00Z",
    ],
    &["report", "article30"],
    &["audit", "verify"],
    &["audit", "trace", "leak.csv"],
    &["audit", "scope", "--file", "leak.csv"],
    &["audit", "export", "--format", "jsonl"],
];

/// The subcommand paths (`user add`) that take `--config`, from the clap definitions.
fn commands_taking_config(cmd: &clap::Command, path: &mut Vec<String>, out: &mut BTreeSet<String>) {
    if cmd.get_arguments().any(|a| a.get_id() == "config") {
        out.insert(path.join(" "));
    }
    for sub in cmd.get_subcommands() {
        path.push(sub.get_name().to_owned());
        commands_taking_config(sub, path, out);
        path.pop();
    }
}

#[test]
fn the_list_below_holds_every_command_that_takes_a_config() {
    let mut found = BTreeSet::new();
    commands_taking_config(
        &registervakt::cli::Cli::command(),
        &mut Vec::new(),
        &mut found,
    );
    let listed: BTreeSet<String> = WITH_CONFIG
        .iter()
        .map(|args| {
            args.iter()
                .take_while(|a| !a.starts_with("--") && **a != "anna" && **a != "leak.csv")
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(found, listed, "add the new command to WITH_CONFIG");
}

/// Issue 20: without a config file the broker said "`store` is missing". Each command now names
/// the file it did not find, in one sentence, and exits 1.
#[test]
fn every_command_says_file_not_found_with_the_path_for_a_config_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leak.csv"), "a;b\n1;2\n").unwrap();
    let missing = dir.path().join("etc").join("registervakt.toml");
    let missing = missing.to_str().unwrap();
    for args in WITH_CONFIG {
        let mut argv = args.to_vec();
        argv.extend(["--config", missing]);
        let out = registervakt_in(dir.path(), &argv);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{argv:?}: {err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "registervakt: configuration file not found: {missing} (pass --config with the path to registervakt.toml)"
            ),
            "{argv:?}"
        );
    }
}

/// Without `--config` the file is `./registervakt.toml`; when it is not there, that is said.
#[test]
fn serve_and_init_without_a_config_in_the_directory_say_which_file_was_not_found() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "init"] {
        let out = registervakt_in(dir.path(), &[command]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(
            err.contains("configuration file not found: registervakt.toml"),
            "{command}: {err}"
        );
        assert!(!err.contains("is missing"), "{command}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
    }
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `$USER` is the caller's to set: an operator could record any name. The actor is the real
/// uid and its passwd name, as `id` reports them.
#[tokio::test]
async fn the_cli_records_the_real_uid_and_its_name_whatever_user_says() {
    let t = common::prepare(20).await;
    let config = t.config_path.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(args)
            .env("USER", "mallory")
            .env("LOGNAME", "mallory")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let init = run(&["init", "--config", config]);
    assert!(init.status.success(), "{}", stderr(&init));
    let export = run(&["audit", "export", "--config", config, "--format", "jsonl"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let want = format!("cli:{}({})", id("-un"), id("-u"));
    let actors: Vec<(String, String)> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["action"].as_str().unwrap().to_owned(),
                v["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let by_cli: Vec<&(String, String)> = actors
        .iter()
        .filter(|(_, a)| a.starts_with("cli:"))
        .collect();
    assert!(
        by_cli.iter().any(|(action, _)| action == "store.init")
            && by_cli.iter().any(|(action, _)| action == "audit.export"),
        "{actors:?}"
    );
    for (action, actor) in by_cli {
        assert_eq!(actor, &want, "{action}");
        assert!(!actor.contains("mallory"), "{action}: {actor}");
    }
}
