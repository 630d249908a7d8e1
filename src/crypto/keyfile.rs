//! The key file: creating, loading and rotating the key-encryption keys on disk.
//!
//! Guarantees: a key file is created with `O_EXCL` and mode 0600 from the first byte,
//! written completely and fsync-ed (file and directory) before success is reported;
//! rotation replaces it atomically (temp file in the same directory, fsync, rename), so
//! a crash leaves either the old or the new file, never a half-written one. Loading
//! refuses files that group or others can access (ASVS V13.3.1 / SECURITY_BAR D:
//! "start-up fails if it is missing or readable by others").
//! Must never: overwrite an existing key file, echo a line of the file in an error
//! (it may hold a key), or leave a copy of the file's bytes in unwiped memory.
//! Two rotations of one file must not run at the same time: the later rename wins.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::envelope::{KEY_LEN, SecretKey};
use super::keyring::{Kek, Keyring};
use super::{Error, KeyId, random_id128};

/// The first line of every key file; the `v1` is the file format version.
const HEADER_LINE: &str = "# registervakt key-encryption keys v1 (mode 0600; first key is active)";
const HEADER_PREFIX: &str = "# registervakt key-encryption keys v1";
/// Standard base64 of 32 bytes, with one `=` of padding.
const KEY_B64_LEN: usize = 44;
/// `kek ` + 16 hex + space + 44 base64 + newline.
const LINE_LEN: usize = 4 + 16 + 1 + KEY_B64_LEN + 1;
/// A real key file is a few hundred bytes; refusing big ones bounds the read buffer so it
/// never reallocates (which would leave key bytes in freed memory).
const MAX_FILE_LEN: usize = 64 * 1024;
/// Owner read and write only.
const FILE_MODE: u32 = 0o600;

impl Keyring {
    /// Creates a new key file holding one fresh 256-bit key with a random id, and returns
    /// that id. Refuses to overwrite anything that already exists at `path`.
    pub fn generate_file(path: &Path) -> Result<KeyId, Error> {
        let kek = Kek::random();
        let text = render(path, std::slice::from_ref(&kek))?;
        write_new(path, text.as_bytes()).map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => Error::KeyFileExists {
                path: path.to_path_buf(),
            },
            _ => io_error(path, source),
        })?;
        Ok(kek.id)
    }

    /// Loads the key file: the first key is active, the rest are kept for decryption.
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let mut keks = read_keks(path)?.into_iter();
        let active = keks
            .next()
            .ok_or_else(|| malformed(path, "no `kek` line: the file holds no key".into()))?;
        Ok(Keyring::from_keks(active, keks.collect()))
    }

    /// Puts a fresh key in front of the existing ones (it becomes active; the old ones stay
    /// to open older values) and returns its id. The file must pass the same checks as
    /// [`Keyring::load`]. A symlinked key file is rotated at its target.
    pub fn rotate_file(path: &Path) -> Result<KeyId, Error> {
        let old = read_keks(path)?;
        let target = fs::canonicalize(path).map_err(|source| io_error(path, source))?;
        let fresh = Kek::random();
        let id = fresh.id;
        let mut keks = Vec::with_capacity(old.len() + 1);
        keks.push(fresh);
        keks.extend(old);
        let text = render(path, &keks)?;

        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let temp = parent_dir(&target).join(format!(".{name}.{}.tmp", random_id128()));
        write_new(&temp, text.as_bytes()).map_err(|source| io_error(&temp, source))?;
        if let Err(source) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            return Err(io_error(path, source));
        }
        sync_dir(parent_dir(&target)).map_err(|source| io_error(path, source))?;
        Ok(id)
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn malformed(path: &Path, reason: String) -> Error {
    Error::KeyFileMalformed {
        path: path.to_path_buf(),
        reason,
    }
}

fn missing_or_io(path: &Path, source: std::io::Error) -> Error {
    match source.kind() {
        ErrorKind::NotFound => Error::KeyFileMissing {
            path: path.to_path_buf(),
        },
        _ => io_error(path, source),
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a new directory entry durable (a file's own fsync does not cover its name).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `path` exclusively with mode 0600, writes `bytes` and fsyncs file and
/// directory. On a failure after creation the partial file is removed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // O_CREAT|O_EXCL also refuses to follow a symlink planted at `path`.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    // The umask can only clear bits; set 0600 exactly so an odd umask cannot leave the
    // owner without read access.
    let written = file
        .set_permissions(Permissions::from_mode(FILE_MODE))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(error) = written {
        let _ = fs::remove_file(path);
        return Err(error);
    }
    sync_dir(parent_dir(path))
}

/// Regular file, and no permission bit for group or others.
fn check_metadata(path: &Path, meta: &fs::Metadata) -> Result<(), Error> {
    if !meta.is_file() {
        return Err(malformed(path, "not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Checks, opens and reads the key file. The type is checked before opening (so a FIFO
/// cannot block us) and again on the opened handle, which must be the same inode, so
/// the file we read is the file we checked.
fn read_keks(path: &Path) -> Result<Vec<Kek>, Error> {
    let before = fs::metadata(path).map_err(|source| missing_or_io(path, source))?;
    check_metadata(path, &before)?;
    let file = File::open(path).map_err(|source| missing_or_io(path, source))?;
    let opened = file.metadata().map_err(|source| io_error(path, source))?;
    if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
        return Err(malformed(
            path,
            "the file was replaced while opening it".into(),
        ));
    }
    check_metadata(path, &opened)?;

    let mut buffer = Zeroizing::new(Vec::with_capacity(MAX_FILE_LEN + 1));
    file.take(MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut buffer)
        .map_err(|source| io_error(path, source))?;
    if buffer.len() > MAX_FILE_LEN {
        return Err(malformed(path, "larger than 64 KiB".into()));
    }
    let text = std::str::from_utf8(&buffer).map_err(|error| {
        let valid = buffer.get(..error.valid_up_to()).unwrap_or_default();
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        malformed(path, format!("line {line}: not UTF-8 text"))
    })?;
    parse(path, text)
}

/// Parses the key file text. Reasons name a line number and what was expected, never
/// the content of the line.
fn parse(path: &Path, text: &str) -> Result<Vec<Kek>, Error> {
    let mut lines = text.lines();
    let header_ok = lines.next().is_some_and(|first| {
        first
            .strip_prefix(HEADER_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    });
    if !header_ok {
        return Err(malformed(
            path,
            format!("line 1: expected the header `{HEADER_LINE}`"),
        ));
    }
    let mut keks: Vec<Kek> = Vec::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let kek =
            parse_line(line).map_err(|what| malformed(path, format!("line {number}: {what}")))?;
        if keks.iter().any(|known| known.id == kek.id) {
            let reason = format!("line {number}: duplicate key id {}", kek.id);
            return Err(malformed(path, reason));
        }
        keks.push(kek);
    }
    if keks.is_empty() {
        return Err(malformed(
            path,
            "no `kek` line: the file holds no key".into(),
        ));
    }
    Ok(keks)
}

fn parse_line(line: &str) -> Result<Kek, &'static str> {
    let mut fields = line.split_ascii_whitespace();
    let (Some("kek"), Some(id), Some(key), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected `kek <16-hex-id> <base64 key>`");
    };
    let id: KeyId = id
        .parse()
        .map_err(|_| "the key id must be 16 hex characters")?;
    let key =
        decode_key(key).ok_or("the key must be 32 bytes in standard base64 (44 characters)")?;
    Ok(Kek { id, key })
}

fn decode_key(text: &str) -> Option<SecretKey> {
    if text.len() != KEY_B64_LEN {
        return None;
    }
    // `decode_slice` wants room for its length estimate (33 here), hence the slack.
    let mut decoded = Zeroizing::new([0u8; KEY_B64_LEN]);
    let len = STANDARD.decode_slice(text, &mut decoded[..]).ok()?;
    SecretKey::from_slice(decoded.get(..len)?).filter(|_| len == KEY_LEN)
}

/// Renders the key file text into one buffer allocated at its final size and wiped on
/// drop. Base64 goes through a fixed zeroizing buffer, never an encoder's scratch space.
fn render(path: &Path, keks: &[Kek]) -> Result<Zeroizing<String>, Error> {
    let encoding_failed = || malformed(path, "a key could not be encoded".into());
    let mut out = Zeroizing::new(String::with_capacity(
        HEADER_LINE.len() + 1 + keks.len() * LINE_LEN,
    ));
    out.push_str(HEADER_LINE);
    out.push('\n');
    for kek in keks {
        let mut encoded = Zeroizing::new([0u8; KEY_B64_LEN]);
        let len = STANDARD
            .encode_slice(kek.key.bytes(), &mut encoded[..])
            .map_err(|_| encoding_failed())?;
        let encoded = encoded.get(..len).ok_or_else(encoding_failed)?;
        out.push_str("kek ");
        out.push_str(&kek.id.to_string());
        out.push(' ');
        out.push_str(std::str::from_utf8(encoded).map_err(|_| encoding_failed())?);
        out.push('\n');
    }
    Ok(out)
}

// The tests are long enough to get their own file: `keyfile/tests.rs`.
#[cfg(test)]
mod tests;
