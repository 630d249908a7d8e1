//! The Debian package's files (issue 20, item 1), checked without building the package: the
//! man pages and completions in `packaging/` are what the binary makes from its clap
//! definitions; the systemd unit carries its hardening; the unit, the packaged config
//! (`registervakt.example.toml`), the maintainer scripts and `[package.metadata.deb]` agree on
//! every path; the postinst creates the user and overrides only when missing. The built
//! package itself is installed and run by `packaging/check-deb` in `.ci/run`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

#[cfg(not(feature = "bench"))]
fn registervakt(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The unit's `Key=value` lines; a key given twice keeps every value.
fn unit() -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in read("packaging/debian/registervakt.service").lines() {
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            keys.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    keys
}

fn one(unit: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    match unit.get(key).map(Vec::as_slice) {
        Some([v]) => v.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

/// The packaged config, as the broker reads it.
fn packaged_config() -> registervakt::config::Config {
    registervakt::config::Config::load(Some(&repo().join("registervakt.example.toml"))).unwrap()
}

/// Where `[package.metadata.deb] assets` puts `source`.
fn asset_dest(source: &str) -> Vec<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a[0].as_str() == Some(source))
        .map(|a| a[1].as_str().unwrap().to_owned())
        .collect()
}

/// Built without the `bench` feature, as the package is (`bench` adds a command).
#[cfg(not(feature = "bench"))]
#[test]
fn the_packaged_man_pages_and_completions_are_what_the_binary_makes() {
    const FIX: &str = "run packaging/generate after building, and commit packaging/";
    let made = tempfile::tempdir().unwrap();
    registervakt(&["manpage", "--out-dir", made.path().to_str().unwrap()]);
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".1"))
            .collect();
        names.sort();
        names
    };
    let packaged = repo().join("packaging/man");
    assert_eq!(names(made.path()), names(&packaged), "{FIX}");
    for name in names(made.path()) {
        assert!(
            std::fs::read(made.path().join(&name)).unwrap()
                == std::fs::read(packaged.join(&name)).unwrap(),
            "packaging/man/{name} is stale: {FIX}"
        );
    }
    for (shell, file) in [
        ("bash", "registervakt.bash"),
        ("zsh", "_registervakt"),
        ("fish", "registervakt.fish"),
    ] {
        let packaged = std::fs::read(repo().join("packaging/completions").join(file)).unwrap();
        assert!(
            registervakt(&["completions", shell]) == packaged,
            "packaging/completions/{file} is stale: {FIX}"
        );
    }
}

#[test]
fn the_packaged_manual_names_every_command_and_the_signals() {
    use clap::CommandFactory as _;
    let page = read("packaging/man/registervakt.1");
    for command in registervakt::cli::Cli::command().get_subcommands() {
        let name = command.get_name();
        if cfg!(feature = "bench") && name == "bench" {
            continue;
        }
        assert!(
            page.contains(&format!("registervakt\\-{name}(1)")),
            "{name} is not in registervakt(1)"
        );
        assert!(
            repo()
                .join(format!("packaging/man/registervakt-{name}.1"))
                .is_file(),
            "no page for {name}"
        );
    }
    for signal in ["SIGHUP", "SIGTERM"] {
        assert!(page.contains(signal), "{signal}");
    }
}

/// systemd.exec(5) and Debian's guidance for daemons: what the unit must keep.
#[test]
fn the_unit_is_hardened() {
    let unit = unit();
    for (key, value) in [
        ("Type", "notify"),
        ("User", "registervakt"),
        ("Group", "registervakt"),
        ("StateDirectory", "registervakt"),
        ("StateDirectoryMode", "0700"),
        ("LogsDirectory", "registervakt"),
        ("UMask", "0077"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallArchitectures", "native"),
        ("WatchdogSec", "30"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(one(&unit, key), value, "{key}");
    }
    assert_eq!(
        unit["SystemCallFilter"],
        ["@system-service", "~@privileged"]
    );
    assert!(
        !unit.contains_key("ReadWritePaths"),
        "only the state and log directories are writable"
    );
}

#[test]
fn the_unit_the_packaged_config_and_the_postinst_agree_on_every_path() {
    let unit = unit();
    let config = packaged_config();
    let exec = one(&unit, "ExecStart");
    let args: Vec<&str> = exec.split(' ').collect();
    assert_eq!(args[..3], ["/usr/bin/registervakt", "serve", "--config"]);
    assert_eq!(
        asset_dest("registervakt.example.toml")[0],
        "etc/registervakt/registervakt.toml"
    );
    assert_eq!(args[3], "/etc/registervakt/registervakt.toml");
    assert_eq!(
        config.store.data_dir,
        Path::new("/var/lib").join(one(&unit, "StateDirectory"))
    );
    let checkpoints = config.audit.checkpoint_file.clone().unwrap();
    assert_eq!(
        checkpoints.parent().unwrap(),
        Path::new("/var/log").join(one(&unit, "LogsDirectory"))
    );
    assert_eq!(
        config.keys.kek_file.parent().unwrap(),
        Path::new("/etc/registervakt/keys")
    );
    // No capabilities: the port must not need CAP_NET_BIND_SERVICE.
    assert!(config.listen_addr().unwrap().port() >= 1024);
    let postinst = read("packaging/debian/postinst");
    for line in [
        "private_dir 0700 /etc/registervakt/keys",
        "private_dir 0700 /var/lib/registervakt",
        "private_dir 0750 /var/log/registervakt",
        "override root registervakt 0640 /etc/registervakt/registervakt.toml",
    ] {
        assert!(postinst.contains(line), "postinst lacks {line}");
    }
}

/// Runs the postinst with `configure` against stand-ins for adduser, getent, install and
/// dpkg-statoverride that log their arguments; `installed` says whether the user and the
/// overrides exist already. Returns the log.
fn run_postinst(installed: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let exists = if installed { "exit 0" } else { "exit 1" };
    for (name, body) in [
        ("adduser", "echo adduser \"$@\" >> \"$LOG\""),
        ("install", "echo install \"$@\" >> \"$LOG\""),
        ("getent", exists),
        (
            "dpkg-statoverride",
            &format!(
                "echo dpkg-statoverride \"$@\" >> \"$LOG\"; [ \"$1\" = --list ] && {exists}; exit 0"
            ),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let script = read("packaging/debian/postinst")
        .replace("#DEBHELPER#", "echo \"debhelper sees $1\" >> \"$LOG\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .args(["postinst", "configure", ""])
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env("LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn the_postinst_creates_the_user_and_overrides_once_and_never_replaces_them() {
    let first = run_postinst(false);
    assert!(first.contains("adduser --system --group"), "{first}");
    assert!(
        first.contains("dpkg-statoverride --update --add root registervakt 0640 /etc/registervakt/registervakt.toml"),
        "{first}"
    );
    assert!(first.contains("debhelper sees configure"), "{first}");

    let again = run_postinst(true);
    assert!(!again.contains("adduser"), "{again}");
    assert!(
        !again.contains("--add"),
        "an operator's override is kept: {again}"
    );
    assert!(again.contains("debhelper sees configure"), "{again}");
    for script in ["postinst", "postrm"] {
        let text = read(&format!("packaging/debian/{script}"));
        assert!(text.contains("#DEBHELPER#"), "{script}");
        let commands: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        assert!(
            !commands.contains("kek") && !commands.contains("registervakt keys"),
            "{script} never makes or touches a key file"
        );
    }
}

#[test]
#[ignore = "needs systemd-analyze (Debian's systemd package)"]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("registervakt.service");
    // The unit as installed, but starting the binary just built (verify checks it exists).
    let text = read("packaging/debian/registervakt.service")
        .replace("/usr/bin/registervakt", env!("CARGO_BIN_EXE_registervakt"));
    std::fs::write(&unit, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // verify exits 0 on a directive it ignores; every line it writes is a problem.
    assert!(err.trim().is_empty(), "{err}");
}
