//! Tests of the key file: creation, permission checks, parsing and rotation.
//! They write real files in a fresh temporary directory each.

use super::*;
use crate::crypto::DataKey;

const KEY_B64: &str = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="; // 32 × 0x5a

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_with_mode(path: &Path, text: &[u8], mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
}

fn malformed_reason(text: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    write_with_mode(&path, text, 0o600);
    match Keyring::load(&path) {
        Err(Error::KeyFileMalformed { reason, .. }) => reason,
        other => panic!("expected KeyFileMalformed, got {other:?}"),
    }
}

#[test]
fn generate_file_creates_a_0600_file_whose_key_loads_as_active() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let id = Keyring::generate_file(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    let ring = Keyring::load(&path).unwrap();
    assert_eq!(ring.active_key_id(), id);
    assert_eq!(ring.key_ids(), vec![id]);

    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], HEADER_LINE);
    assert!(lines[1].starts_with(&format!("kek {id} ")));
    assert_eq!(lines[1].len(), LINE_LEN - 1);
}

#[test]
fn generate_file_refuses_to_overwrite_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    Keyring::generate_file(&path).unwrap();
    let before = fs::read(&path).unwrap();
    let error = Keyring::generate_file(&path).unwrap_err();
    assert!(matches!(error, Error::KeyFileExists { .. }), "{error:?}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn generate_file_reports_io_error_for_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("keys");
    assert!(matches!(
        Keyring::generate_file(&path),
        Err(Error::Io { .. })
    ));
}

#[test]
fn load_refuses_a_missing_file_and_says_how_to_generate_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let error = Keyring::load(&path).unwrap_err();
    assert!(matches!(error, Error::KeyFileMissing { .. }), "{error:?}");
    assert!(error.to_string().contains("keys generate"), "{error}");
}

#[test]
fn load_refuses_a_key_file_that_group_or_others_can_access() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    Keyring::generate_file(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o601, 0o610] {
        fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        let error = Keyring::load(&path).unwrap_err();
        assert!(
            matches!(error, Error::KeyFileTooOpen { mode: m, .. } if m == mode),
            "{mode:o}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&format!("{mode:04o}")), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
}

#[test]
fn load_accepts_an_owner_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let id = Keyring::generate_file(&path).unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o400)).unwrap();
    assert_eq!(Keyring::load(&path).unwrap().active_key_id(), id);
}

#[test]
fn load_refuses_a_directory_as_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).unwrap();
    let error = Keyring::load(dir.path()).unwrap_err();
    assert!(matches!(error, Error::KeyFileMalformed { .. }), "{error:?}");
}

#[test]
fn a_malformed_key_file_names_the_line_and_never_echoes_key_material() {
    let header = HEADER_LINE;
    let good = format!("kek 0123456789abcdef {KEY_B64}");
    let cases: Vec<(String, &str)> = vec![
        (format!("not the header\n{good}\n"), "line 1"),
        (
            format!("# registervakt key-encryption keys v10\n{good}\n"),
            "line 1",
        ),
        (
            format!("{header}\n{good}\nkek 0123456789abcdeX {KEY_B64}\n"),
            "line 3",
        ),
        (
            format!("{header}\n\n# old key:\nkey 1111111111111111 {KEY_B64}\n"),
            "line 4",
        ),
        (format!("{header}\n{good} extra\n"), "line 2"),
        (
            format!("{header}\nkek 1111111111111111 {}\n", &KEY_B64[..40]),
            "line 2",
        ),
        (
            format!("{header}\nkek 1111111111111111 {}!\n", &KEY_B64[..43]),
            "line 2",
        ),
        (format!("{header}\n{good}\n{good}\n"), "line 3"),
        (format!("{header}\n# no keys here\n"), "holds no key"),
        (String::new(), "line 1"),
    ];
    for (text, expected) in cases {
        let reason = malformed_reason(text.as_bytes());
        assert!(reason.contains(expected), "{text:?} gave {reason:?}");
        assert!(!reason.contains(&KEY_B64[..20]), "{reason}");
    }
}

#[test]
fn a_key_file_that_is_not_utf8_names_the_line() {
    let mut text = format!("{HEADER_LINE}\nkek 0123456789abcdef {KEY_B64}\n").into_bytes();
    text.extend_from_slice(b"kek \xff\xfe\n");
    assert!(malformed_reason(&text).contains("line 3"));
}

#[test]
fn load_accepts_comments_blank_lines_and_crlf_and_keeps_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let text = format!(
        "{HEADER_LINE}\r\n\r\n# active\r\nkek 00000000000000aa {KEY_B64}\r\n  kek 00000000000000bb {KEY_B64}  \r\n"
    );
    write_with_mode(&path, text.as_bytes(), 0o600);
    let ring = Keyring::load(&path).unwrap();
    let ids: Vec<String> = ring.key_ids().iter().map(ToString::to_string).collect();
    assert_eq!(ids, ["00000000000000aa", "00000000000000bb"]);
}

#[test]
fn a_key_file_larger_than_64_kib_is_refused() {
    let mut text = format!("{HEADER_LINE}\nkek 0123456789abcdef {KEY_B64}\n").into_bytes();
    text.resize(MAX_FILE_LEN + 10, b'\n');
    assert!(malformed_reason(&text).contains("64 KiB"));
}

#[test]
fn rotation_keeps_old_values_openable_and_seals_new_ones_with_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let old_id = Keyring::generate_file(&path).unwrap();
    let old = Keyring::load(&path).unwrap();
    let sealed = old.seal(b"Anna Andersson", b"member:1").unwrap();
    let data_key = DataKey::generate();
    let wrapped = old.wrap(&data_key, b"extract:e1").unwrap();

    let new_id = Keyring::rotate_file(&path).unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(mode_of(&path), 0o600);
    let new = Keyring::load(&path).unwrap();
    assert_eq!(new.active_key_id(), new_id);
    assert_eq!(new.key_ids(), vec![new_id, old_id]);
    assert_eq!(
        &new.open(&sealed, b"member:1").unwrap()[..],
        b"Anna Andersson"
    );
    assert_eq!(
        new.unwrap(&wrapped, b"extract:e1").unwrap().id(),
        data_key.id()
    );
    assert_eq!(&new.seal(b"x", b"o").unwrap()[1..9], new_id.as_bytes());
    assert_eq!(&new.wrap(&data_key, b"o").unwrap()[1..9], new_id.as_bytes());

    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["keys"], "no temporary file is left behind");
}

#[test]
fn rotation_applies_the_same_checks_as_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    assert!(matches!(
        Keyring::rotate_file(&path),
        Err(Error::KeyFileMissing { .. })
    ));
    Keyring::generate_file(&path).unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        Keyring::rotate_file(&path),
        Err(Error::KeyFileTooOpen { .. })
    ));
    fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
    assert_eq!(Keyring::load(&path).unwrap().key_ids().len(), 1);
}

#[test]
fn rotating_through_a_symlink_rewrites_the_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real-keys");
    let link = dir.path().join("keys");
    let old_id = Keyring::generate_file(&target).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let new_id = Keyring::rotate_file(&link).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        Keyring::load(&target).unwrap().key_ids(),
        vec![new_id, old_id]
    );
}
