//! A `Grant` or a `Permit` cannot be made or changed outside `policy` (STYLE #5, SECURITY_BAR
//! C1): code that names every field with a value of its type is refused for the private
//! fields alone (E0451), reading any one field is refused as private (E0616), and the same
//! code through the public readers compiles — so a test fails when any field turns public,
//! and not because a snippet is broken in some other way.
//!
//! Each snippet is compiled by the `rustc` that built this test, against the library this
//! test binary links (its `.rlib` beside the binary), with the same dependency directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

const FORGED_GRANT: &str = r#"
use registervakt::nouns::{ConsentFlag, DistrictCode, Field};
use registervakt::policy::{Format, Grant, PurposeId};
pub fn forge(purpose: PurposeId, district: DistrictCode, fields: Vec<Field>) -> Grant {
    Grant {
        user_id: String::new(),
        purpose,
        district,
        fields,
        lifetime_minutes: 60,
        max_rows: 10,
        required_consents: Vec::<ConsentFlag>::new(),
        formats: Vec::<Format>::new(),
        request_hash: String::new(),
        approved_by: Vec::new(),
    }
}
"#;

const FORGED_PERMIT: &str = r#"
use registervakt::policy::{Action, Permit, Reach};
pub fn forge(reach: Reach) -> Permit {
    Permit { user_id: String::new(), action: Action::AuditView, reach }
}
"#;

const READ_ONLY: &str = r#"
use registervakt::policy::{Grant, Permit};
pub fn read(grant: &Grant, permit: &Permit) -> usize {
    grant.user_id().len() + grant.district().as_str().len() + permit.user_id().len()
}
"#;

/// The directory of this test binary (`target/<profile>/deps`), where cargo put the library.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// The library this binary was linked with: the newest `libregistervakt-*.rlib` beside it.
fn library(deps: &Path) -> PathBuf {
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libregistervakt-") && n.ends_with(".rlib"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the library's .rlib beside the test binary")
}

/// Compiles `code` as a library crate using registervakt; the error codes rustc gave, or
/// `Ok(())` when it compiled.
fn compile(name: &str, code: &str) -> Result<(), Vec<String>> {
    let deps = deps_dir();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.rs"));
    std::fs::write(&file, code).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--error-format",
            "short",
        ])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("registervakt={}", library(&deps).display()))
        .arg("--out-dir")
        .arg(dir.path())
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut codes: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.split("error[").nth(1))
        .filter_map(|rest| rest.split(']').next())
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    assert!(
        !codes.is_empty(),
        "rustc failed without an error code:\n{stderr}"
    );
    Err(codes)
}

#[test]
fn the_public_readers_of_a_grant_and_a_permit_compile_against_the_library() {
    assert_eq!(compile("read_only", READ_ONLY), Ok(()));
}

#[test]
fn a_grant_built_outside_policy_is_refused_for_its_private_fields_alone() {
    assert_eq!(
        compile("forged_grant", FORGED_GRANT),
        Err(vec!["E0451".to_owned()])
    );
}

const GRANT_FIELDS: &[&str] = &[
    "user_id",
    "purpose",
    "district",
    "fields",
    "lifetime_minutes",
    "max_rows",
    "required_consents",
    "formats",
    "request_hash",
    "approved_by",
];
const PERMIT_FIELDS: &[&str] = &["user_id", "action", "reach"];

/// The error codes of reading each field of `ty` from outside; one entry per field.
fn peeks(ty: &str, fields: &[&str]) -> Vec<(String, Result<(), Vec<String>>)> {
    fields
        .iter()
        .map(|field| {
            let code =
                format!("pub fn peek(x: &registervakt::policy::{ty}) {{ let _ = &x.{field}; }}\n");
            (field.to_string(), compile(&format!("peek_{field}"), &code))
        })
        .collect()
}

#[test]
fn no_field_of_a_grant_or_a_permit_can_be_read_or_changed_from_outside() {
    for (ty, fields) in [("Grant", GRANT_FIELDS), ("Permit", PERMIT_FIELDS)] {
        for (field, result) in peeks(ty, fields) {
            assert_eq!(result, Err(vec!["E0616".to_owned()]), "{ty}.{field}");
        }
    }
}

#[test]
fn a_permit_built_outside_policy_is_refused_for_its_private_fields_alone() {
    assert_eq!(
        compile("forged_permit", FORGED_PERMIT),
        Err(vec!["E0451".to_owned()])
    );
}
