//! A finished file waiting to be sent. `deliver` writes a CSV into it while it opens the
//! extract's chunks, each exactly once, and sends it only after the last chunk has been
//! authenticated: a damaged extract never yields a partial file, and nothing is decrypted twice.
//!
//! Guarantees:
//! - Memory is bounded: at most [`MEMORY_PER_SPOOL`] bytes of one file are held in memory, and
//!   at most [`MEMORY_ALL_SPOOLS`] across every spool of the process ([`Budget`]), plus the piece
//!   being filled (about [`PIECE`] bytes); the rest of a file goes to disk. A file expected to be
//!   larger than [`MEMORY_PER_SPOOL`] ([`Spool::expect`]) goes to disk almost whole: memory would
//!   hold only a small share of it, at the cost of that much more memory on top of the build's.
//! - No plaintext member data on disk: what goes to disk is sealed piece by piece (AES-256-GCM
//!   through `crypto::DataKey`) under a key made for this spool alone, which lives only in this
//!   process's memory, into an unnamed file in the store's data directory
//!   (`tempfile::tempfile_in`: `O_TMPFILE`, or a random name removed at once). When the spool is
//!   dropped — sent, abandoned by a client, or the process killed — the file and its key are gone
//!   with it; nothing is left to clean up and nothing left could be opened.
//! - Pieces come back in the order they were written, each authenticated with its position (its
//!   AAD): a piece altered, moved or cut short on disk breaks the stream off with an error instead
//!   of sending other bytes.
//! - A piece never reallocates while it is filled (a writer asks for room for its upper bound
//!   first), and plaintext pieces are wiped when dropped, so no freed copy of member data is left
//!   unwiped by the spool; a piece handed to the stream belongs to the HTTP body from then on.
//!
//! Must never: write an unsealed byte to its file, or give pieces back out of order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt as _;
use futures::stream::{self, BoxStream};
use zeroize::Zeroizing;

use super::Error;
use crate::crypto::DataKey;

/// Most bytes of one file held in memory; the rest is sealed to disk.
pub const MEMORY_PER_SPOOL: usize = 16 << 20;
/// Most bytes held in memory by all spools of the process together: parallel downloads of large
/// extracts go to disk sooner rather than add up.
pub const MEMORY_ALL_SPOOLS: usize = 64 << 20;
/// The size pieces grow to (the first is [`FIRST_PIECE`], each next one twice the last): one
/// seal, one write, one read and one piece of the HTTP body each.
pub const PIECE: usize = 1 << 20;
/// A small extract does not take a whole [`PIECE`].
const FIRST_PIECE: usize = 64 << 10;

/// Memory shared by the spools of a process.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub const fn new(max: usize) -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes `bytes` if they fit under the maximum.
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes taken now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// What one spool has taken from its [`Budget`]; given back as pieces leave and when dropped.
struct Held {
    budget: &'static Budget,
    bytes: usize,
}

impl Held {
    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.give_back(bytes);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

/// A file being written: pieces in memory up to the limits, then sealed to disk.
pub struct Spool {
    dir: PathBuf,
    limit: usize,
    held: Held,
    /// Finished pieces in memory, in order. Every one comes before every piece on disk.
    memory: VecDeque<Zeroizing<Vec<u8>>>,
    disk: Option<Disk>,
    /// The piece being filled.
    open: Zeroizing<Vec<u8>>,
    next_size: usize,
}

impl Spool {
    /// An empty spool that keeps up to `limit` bytes in memory, as far as `budget` allows, and
    /// the rest in an unnamed file in `dir`, created only when needed.
    pub fn new(dir: &Path, limit: usize, budget: &'static Budget) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
            limit,
            held: Held { budget, bytes: 0 },
            memory: VecDeque::new(),
            disk: None,
            open: Zeroizing::new(Vec::new()),
            next_size: FIRST_PIECE,
        }
    }

    /// Tells the spool how large the whole file is likely to be. If larger than its memory limit,
    /// the pieces from now on go to disk: keeping the first few megabytes of a large file in
    /// memory saves a little time and costs as much memory as a small file's whole.
    pub fn expect(&mut self, total: u64) {
        if total > self.limit as u64 {
            self.limit = self.held.bytes;
        }
    }

    /// The piece being filled, with room for at least `bound` more bytes: write at most that
    /// many, and it does not reallocate (a copy left behind would not be wiped).
    pub fn room(&mut self, bound: usize) -> Result<&mut Vec<u8>, Error> {
        if self.open.capacity() - self.open.len() < bound {
            self.finish_piece()?;
            if self.open.capacity() < bound {
                let size = self.next_size.max(bound);
                self.next_size = self.next_size.saturating_mul(2).min(PIECE);
                self.open = Zeroizing::new(Vec::with_capacity(size));
            }
        }
        Ok(&mut self.open)
    }

    /// Moves the piece being filled to memory if the limits allow, else seals it to disk; once
    /// one piece is on disk, every later one goes there too, so the order holds.
    fn finish_piece(&mut self) -> Result<(), Error> {
        if self.open.is_empty() {
            return Ok(());
        }
        let bytes = self.open.capacity();
        let fits = self.disk.is_none()
            && self.held.bytes.saturating_add(bytes) <= self.limit
            && self.held.budget.take(bytes);
        if fits {
            self.held.bytes += bytes;
            self.memory.push_back(std::mem::take(&mut self.open));
            return Ok(());
        }
        let disk = match &mut self.disk {
            Some(disk) => disk,
            None => self.disk.insert(Disk::create(&self.dir)?),
        };
        disk.append(&self.open)?;
        // Kept for the next piece; wiped when the spool is dropped.
        self.open.clear();
        Ok(())
    }

    /// The whole file, ready to stream.
    pub fn finish(mut self) -> Result<Ready, Error> {
        self.finish_piece()?;
        let Spool {
            memory,
            held,
            mut disk,
            ..
        } = self;
        if let Some(disk) = &mut disk {
            disk.file.rewind().map_err(|e| disk.failed("rewind", &e))?;
        }
        Ok(Ready { memory, held, disk })
    }
}

/// The sealed part of a spool: an unnamed file and the key only this process holds.
struct Disk {
    dir: PathBuf,
    file: File,
    key: DataKey,
    /// The length of each sealed piece, in file order.
    sealed: Vec<usize>,
    /// The next piece to read back.
    next: usize,
}

impl Disk {
    fn create(dir: &Path) -> Result<Disk, Error> {
        let file = tempfile::tempfile_in(dir).map_err(|e| failed(dir, "create", &e))?;
        Ok(Disk {
            dir: dir.to_path_buf(),
            file,
            key: DataKey::generate(),
            sealed: Vec::new(),
            next: 0,
        })
    }

    fn append(&mut self, plain: &[u8]) -> Result<(), Error> {
        let sealed = self.key.seal(plain, &aad(self.sealed.len()))?;
        self.file
            .write_all(&sealed)
            .map_err(|e| self.failed("write", &e))?;
        self.sealed.push(sealed.len());
        Ok(())
    }

    /// The next piece, authenticated at its position; `None` after the last.
    fn read_next(&mut self) -> Option<Result<Zeroizing<Vec<u8>>, Error>> {
        let len = *self.sealed.get(self.next)?;
        let mut sealed = vec![0; len];
        if let Err(e) = self.file.read_exact(&mut sealed) {
            return Some(Err(self.failed("read", &e)));
        }
        let plain = self
            .key
            .open(&sealed, &aad(self.next))
            .map_err(|_| Error::Spool("a piece of the spool failed authentication".into()));
        self.next += 1;
        Some(plain)
    }

    fn failed(&self, what: &str, e: &std::io::Error) -> Error {
        failed(&self.dir, what, e)
    }
}

/// An I/O error of the spool, naming the directory and the step (never file content).
fn failed(dir: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::Spool(format!(
        "could not {what} the sealed spool in {}: {e}",
        dir.display()
    ))
}

/// Binds a sealed piece to its place in the file.
fn aad(index: usize) -> Vec<u8> {
    format!("registervakt/spool:piece:{index}").into_bytes()
}

/// A finished file: its pieces in memory first, then those on disk.
pub struct Ready {
    memory: VecDeque<Zeroizing<Vec<u8>>>,
    held: Held,
    disk: Option<Disk>,
}

impl Ready {
    /// The pieces in order. Reading and opening a piece on disk runs on a blocking thread; after
    /// an error the stream ends.
    pub fn into_stream(self) -> BoxStream<'static, Result<Vec<u8>, Error>> {
        stream::unfold(Some(self), |ready| async move {
            let mut ready = ready?;
            match ready.next_piece().await? {
                Ok(piece) => Some((Ok(piece), Some(ready))),
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed()
    }

    async fn next_piece(&mut self) -> Option<Result<Vec<u8>, Error>> {
        if let Some(mut piece) = self.memory.pop_front() {
            self.held.release(piece.capacity());
            return Some(Ok(std::mem::take(&mut *piece)));
        }
        let mut disk = self.disk.take()?;
        let (disk, piece) = match tokio::task::spawn_blocking(move || {
            let piece = disk.read_next();
            (disk, piece)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => {
                return Some(Err(Error::Spool(format!(
                    "the spool's reader stopped: {e}"
                ))));
            }
        };
        self.disk = Some(disk);
        Some(piece?.map(|mut plain| std::mem::take(&mut *plain)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    async fn collect(ready: Ready) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut pieces = ready.into_stream();
        while let Some(piece) = pieces.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    /// Writes `rows` lines of `width` bytes, each through `room`.
    fn fill(spool: &mut Spool, rows: usize, width: usize) -> Vec<u8> {
        let mut expected = Vec::new();
        for i in 0..rows {
            let line: Vec<u8> = (0..width).map(|j| b'a' + ((i + j) % 26) as u8).collect();
            let out = spool.room(line.len()).unwrap();
            let capacity = out.capacity();
            out.extend_from_slice(&line);
            assert_eq!(out.capacity(), capacity, "a piece reallocated");
            expected.extend_from_slice(&line);
        }
        expected
    }

    #[tokio::test]
    async fn a_small_file_stays_in_memory_and_comes_back_whole() {
        static BUDGET: Budget = Budget::new(MEMORY_ALL_SPOOLS);
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), MEMORY_PER_SPOOL, &BUDGET);
        let expected = fill(&mut spool, 1000, 90);
        let ready = spool.finish().unwrap();
        assert!(ready.disk.is_none());
        assert!(BUDGET.used() > 0);
        assert_eq!(collect(ready).await.unwrap(), expected);
        assert_eq!(BUDGET.used(), 0, "the memory was given back");
    }

    #[tokio::test]
    async fn beyond_the_limit_pieces_are_sealed_to_an_unnamed_file_and_come_back_in_order() {
        static BUDGET: Budget = Budget::new(MEMORY_ALL_SPOOLS);
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 256 << 10, &BUDGET);
        // Long enough that several pieces go to disk, with a row longer than a piece among them.
        let mut expected = fill(&mut spool, 40_000, 97);
        expected.extend(fill(&mut spool, 1, 3 * PIECE));
        expected.extend(fill(&mut spool, 1000, 13));
        let ready = spool.finish().unwrap();
        let disk = ready.disk.as_ref().unwrap();
        assert!(
            disk.sealed.len() >= 3,
            "{} pieces on disk",
            disk.sealed.len()
        );
        assert!(ready.held.bytes <= 256 << 10);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the file has no name"
        );
        // What is on disk is sealed: no line of the file is in it.
        let mut file = disk.file.try_clone().unwrap();
        let mut stored = Vec::new();
        file.read_to_end(&mut stored).unwrap();
        file.rewind().unwrap();
        let last_line = &expected[expected.len() - 13..];
        assert!(!stored.windows(13).any(|w| w == last_line));
        assert_eq!(collect(ready).await.unwrap(), expected);
        assert_eq!(BUDGET.used(), 0);
    }

    #[tokio::test]
    async fn a_file_expected_to_be_larger_than_the_limit_goes_to_disk_from_then_on() {
        static BUDGET: Budget = Budget::new(MEMORY_ALL_SPOOLS);
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), MEMORY_PER_SPOOL, &BUDGET);
        let mut expected = fill(&mut spool, 1000, 90);
        spool.expect(MEMORY_PER_SPOOL as u64 + 1);
        expected.extend(fill(&mut spool, 10_000, 90));
        let ready = spool.finish().unwrap();
        assert!(
            ready.held.bytes <= FIRST_PIECE,
            "{} bytes in memory",
            ready.held.bytes
        );
        assert!(ready.disk.is_some());
        assert_eq!(collect(ready).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn spools_together_stay_within_their_shared_budget() {
        static BUDGET: Budget = Budget::new(PIECE);
        let dir = tempfile::tempdir().unwrap();
        let mut first = Spool::new(dir.path(), MEMORY_PER_SPOOL, &BUDGET);
        let mut second = Spool::new(dir.path(), MEMORY_PER_SPOOL, &BUDGET);
        let a = fill(&mut first, 20_000, 100);
        let b = fill(&mut second, 20_000, 100);
        let (first, second) = (first.finish().unwrap(), second.finish().unwrap());
        assert!(BUDGET.used() <= PIECE);
        assert!(first.disk.is_some() && second.disk.is_some());
        assert_eq!(collect(first).await.unwrap(), a);
        assert_eq!(collect(second).await.unwrap(), b);
        assert_eq!(BUDGET.used(), 0);
    }

    #[tokio::test]
    async fn a_piece_altered_on_disk_breaks_the_stream_off() {
        static BUDGET: Budget = Budget::new(0);
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 0, &BUDGET);
        let expected = fill(&mut spool, 30_000, 100);
        let ready = spool.finish().unwrap();
        let disk = ready.disk.as_ref().unwrap();
        // Flip one byte of the second piece.
        let at = disk.sealed[0] as u64 + 40;
        let mut file = disk.file.try_clone().unwrap();
        file.seek(std::io::SeekFrom::Start(at)).unwrap();
        let mut byte = [0u8];
        file.read_exact(&mut byte).unwrap();
        file.seek(std::io::SeekFrom::Start(at)).unwrap();
        file.write_all(&[byte[0] ^ 1]).unwrap();
        file.rewind().unwrap();
        let mut got = Vec::new();
        let mut pieces = ready.into_stream();
        let mut failed = false;
        while let Some(piece) = pieces.next().await {
            match piece {
                Ok(piece) => got.extend_from_slice(&piece),
                Err(Error::Spool(_)) => failed = true,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(failed, "the altered piece was not refused");
        assert!(got.len() < expected.len() && expected.starts_with(&got));
    }
}
