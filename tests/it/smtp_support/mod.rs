//! Test harness: a real SMTP server on loopback (tests/smtp/sink.py, on Python's aiosmtpd)
//! that keeps every message it receives, plus small readers for what arrived (headers,
//! RFC 2047 encoded words, quoted-printable and base64 bodies).
//!
//! Needs `python3` (or the interpreter named in REGISTERVAKT_TEST_PYTHON) with aiosmtpd:
//! `pip install -r tests/smtp/requirements.txt`. Without them, [`SmtpSink::start`] fails
//! the test with a message that says so. The server listens on 127.0.0.1 only and is
//! killed when the [`SmtpSink`] is dropped (it also exits when its stdin closes, so it
//! never outlives the test process).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStdout, Command};

/// Names the Python interpreter to use instead of `python3`, e.g. a virtualenv's.
pub const PYTHON_ENV: &str = "REGISTERVAKT_TEST_PYTHON";
const INSTALL_HINT: &str = "pip install -r tests/smtp/requirements.txt";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py");
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const TRIES: usize = 3;

/// A running sink; dropping it kills the server and deletes what it received.
pub struct SmtpSink {
    pub port: u16,
    dir: TempDir,
    /// Held for its kill-on-drop: the server lives as long as the sink.
    _child: Child,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Envelope sender (MAIL FROM), without the angle brackets.
    pub mail_from: String,
    /// Envelope recipients (RCPT TO), without the angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message data after DATA: headers, empty line, body; CRLF line ends.
    pub data: String,
}

impl SmtpSink {
    /// Starts a sink that accepts any message without authentication.
    pub async fn start() -> SmtpSink {
        Self::launch(None, false).await
    }

    /// Starts a sink that does not offer SMTPUTF8, so it cannot take a non-ASCII address.
    pub async fn start_without_smtputf8() -> SmtpSink {
        Self::launch(None, true).await
    }

    /// Starts a sink that requires AUTH (PLAIN or LOGIN, over plain text on loopback) with
    /// exactly these credentials.
    pub async fn start_with_auth(user: &str, password: &str) -> SmtpSink {
        Self::launch(Some(format!("{user}:{password}")), false).await
    }

    async fn launch(auth: Option<String>, no_smtputf8: bool) -> SmtpSink {
        let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned());
        let mut last_stderr = String::new();
        for _ in 0..TRIES {
            let dir = tempfile::tempdir().expect("a temporary directory for the SMTP sink");
            let port = free_port();
            let stderr_path = dir.path().join("sink.stderr");
            let stderr =
                std::fs::File::create(&stderr_path).expect("a stderr file for the SMTP sink");
            let mut cmd = Command::new(&python);
            cmd.arg(SCRIPT)
                .arg("--port")
                .arg(port.to_string())
                .arg("--dir")
                .arg(dir.path().join("inbox"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(stderr))
                .kill_on_drop(true);
            if let Some(auth) = &auth {
                cmd.arg("--auth").arg(auth);
            }
            if no_smtputf8 {
                cmd.arg("--no-smtputf8");
            }
            let mut child = match cmd.spawn() {
                Ok(child) => child,
                Err(err) if err.kind() == ErrorKind::NotFound => panic!(
                    "the SMTP tests need Python 3 with aiosmtpd, but `{python}` was not found \
                     ({err}): install Python 3, then {INSTALL_HINT} (or set {PYTHON_ENV})"
                ),
                Err(err) => panic!("could not start `{python}` for the SMTP sink: {err}"),
            };
            let stdout = child.stdout.take().expect("the sink's stdout is piped");
            let ready = tokio::time::timeout(READY_TIMEOUT, says_ready(stdout)).await;
            match ready {
                Ok(Ok(true)) => {
                    return SmtpSink {
                        port,
                        dir,
                        _child: child,
                    };
                }
                Err(_) => {
                    let _ = child.start_kill();
                    panic!(
                        "the SMTP sink did not print \"ready\" within {READY_TIMEOUT:?}; its stderr:\n{}",
                        read_lossy(&stderr_path)
                    );
                }
                Ok(_) => {
                    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                    let stderr_text = read_lossy(&stderr_path);
                    match status.ok().and_then(Result::ok).and_then(|s| s.code()) {
                        // Someone took the port between free_port() and the bind: try another.
                        Some(4) => last_stderr = stderr_text,
                        Some(3) => panic!(
                            "aiosmtpd is not installed for `{python}`: {INSTALL_HINT}\n{stderr_text}"
                        ),
                        code => panic!(
                            "the SMTP sink exited before it was ready (exit code {code:?}); \
                             is aiosmtpd installed ({INSTALL_HINT})? Its stderr:\n{stderr_text}"
                        ),
                    }
                }
            }
        }
        panic!(
            "the SMTP sink could not bind a free port in {TRIES} tries; last stderr:\n{last_stderr}"
        );
    }

    /// Every message received so far, in arrival order, with its envelope.
    pub fn received(&self) -> Vec<Received> {
        let inbox = self.dir.path().join("inbox");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&inbox) {
            Ok(entries) => entries
                .map(|entry| entry.expect("a directory entry of the inbox").path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                .collect(),
            Err(err) if err.kind() == ErrorKind::NotFound => Vec::new(),
            Err(err) => panic!("cannot read the SMTP sink's inbox: {err}"),
        };
        files.sort();
        files
            .iter()
            .map(|path| parse_file(&std::fs::read(path).expect("a message file")))
            .collect()
    }

    /// The raw messages (data after DATA) received so far, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.data).collect()
    }

    /// The messages to `to` so far, waiting until there are at least `n` of them (or failing
    /// the test after about ten seconds).
    pub async fn wait_for_mails_to(&self, to: &str, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let all = self.wait_for(1, Duration::from_secs(10)).await;
            let mine: Vec<String> = all
                .into_iter()
                .filter(|m| header_values(m, "To") == [to])
                .collect();
            if mine.len() >= n {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {n} mails reached {to}");
    }

    /// Waits until at least `n` messages have arrived and returns all of them; fails the
    /// test if they have not arrived within `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {n} message(s) within {timeout:?}, but the SMTP sink has {}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads `stdout` until a line "ready" (true) or its end (false). Written on `AsyncRead`
/// alone, so the harness needs no tokio feature beyond `process`.
async fn says_ready(mut stdout: ChildStdout) -> std::io::Result<bool> {
    let mut seen: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let n = std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut chunk);
            Pin::new(&mut stdout)
                .poll_read(cx, &mut buf)
                .map_ok(|()| buf.filled().len())
        })
        .await?;
        if n == 0 {
            return Ok(false);
        }
        seen.extend_from_slice(&chunk[..n]);
        let complete = seen.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if seen[..complete]
            .split(|&b| b == b'\n')
            .any(|line| line.trim_ascii() == b"ready")
        {
            return Ok(true);
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("a local address").port()
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn parse_file(bytes: &[u8]) -> Received {
    let text = String::from_utf8_lossy(bytes);
    let (envelope, data) = text
        .split_once("\n\n")
        .expect("a message file has an envelope, an empty line, then the data");
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    for line in envelope.lines() {
        if let Some(addr) = line.strip_prefix("MAIL FROM:") {
            mail_from = strip_angles(addr);
        } else if let Some(addr) = line.strip_prefix("RCPT TO:") {
            rcpt_to.push(strip_angles(addr));
        } else {
            panic!("unexpected envelope line in a message file: {line:?}");
        }
    }
    Received {
        mail_from,
        rcpt_to,
        data: data.to_owned(),
    }
}

fn strip_angles(addr: &str) -> String {
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// The header section of a raw message, unfolded: (name, raw value) per header, in order.
pub fn headers(raw: &str) -> Vec<(String, String)> {
    let head = raw.split_once("\r\n\r\n").map_or(raw, |(head, _)| head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = out
                .last_mut()
                .expect("a continuation line follows a header");
            last.1.push_str(line);
        } else {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("a header line without a colon: {line:?}"));
            out.push((name.to_owned(), value.trim_start().to_owned()));
        }
    }
    out
}

/// The decoded values of every header called `name` (case-insensitive).
pub fn header_values(raw: &str, name: &str) -> Vec<String> {
    headers(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| decode_words(&v))
        .collect()
}

/// The body of a raw message as text, after undoing its Content-Transfer-Encoding.
pub fn body_text(raw: &str) -> String {
    let (_, body) = raw
        .split_once("\r\n\r\n")
        .expect("a message has a header section and a body");
    let encoding = header_values(raw, "Content-Transfer-Encoding")
        .first()
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "7bit".to_owned());
    let bytes = match encoding.as_str() {
        "7bit" | "8bit" | "binary" => body.as_bytes().to_vec(),
        "quoted-printable" => decode_qp(body, false),
        "base64" => decode_base64(body),
        other => panic!("unknown Content-Transfer-Encoding {other:?}"),
    };
    String::from_utf8(bytes).expect("the body is UTF-8")
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) in a header value.
/// White space between two encoded words is dropped, as the RFC says.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut gap = String::new();
    let mut rest = value;
    while !rest.is_empty() {
        if let Some((bytes, after)) = encoded_word(rest) {
            gap.clear();
            pending.extend(bytes);
            rest = after;
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        if c.is_whitespace() && !pending.is_empty() {
            gap.push(c);
        } else {
            if !pending.is_empty() {
                out.push_str(&String::from_utf8(std::mem::take(&mut pending)).expect("UTF-8"));
                out.push_str(&std::mem::take(&mut gap));
            }
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&String::from_utf8(pending).expect("UTF-8"));
    out.push_str(&gap);
    out
}

/// One encoded word at the start of `s`: its bytes and what follows it.
fn encoded_word(s: &str) -> Option<(Vec<u8>, &str)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let (text, after) = inner.split_once("?=")?;
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        panic!("unexpected charset {charset:?} in an encoded word");
    }
    let bytes = match encoding {
        "b" | "B" => decode_base64(text),
        "q" | "Q" => decode_qp(text, true),
        _ => return None,
    };
    Some((bytes, after))
}

/// Quoted-printable (RFC 2045 §6.7); `q_word` also maps `_` to a space (RFC 2047 "Q").
fn decode_qp(s: &str, q_word: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if b[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex digits after =");
                out.push(u8::from_str_radix(hex, 16).expect("hex digits after ="));
                i += 3;
            }
            b'_' if q_word => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn decode_base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            break;
        }
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("{:?} is not base64", c as char));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
