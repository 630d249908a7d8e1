//! Opening an extract's chunks for a download: each chunk read, authenticated and decrypted
//! exactly once, its rows handed to a file being made ([`Rows`]: the CSV spool or the XLSX
//! workbook), and the file given back only when every chunk has been opened.
//!
//! Guarantees:
//! - The file comes back only if every chunk from 0 to `chunk_count − 1` is present, in order,
//!   authenticates under its AAD (`extract:<id>:chunk:<n>`, the last one marked) and decodes
//!   (for a chunk of CSV lines going into a CSV, its header: the lines are what the build wrote,
//!   as the authentication shows); otherwise the error, and what was made so far is dropped
//!   (and wiped) unsent (D2).
//! - Memory is a window: at most [`BATCHES_AHEAD`] + 1 batches of [`CHUNKS_PER_FETCH`] sealed
//!   chunks wait for the opener, and at most [`OPENED_AHEAD`] + 2 batches of decrypted chunks
//!   (wiped when dropped) are being opened, waiting or being written.
//! - Three stages overlap: the store reads the next batches, the opener authenticates and
//!   decrypts each batch on two threads (half of it on a helper), another writes the rows into
//!   the file; no async worker is held for long. A chunk built as CSV lines goes into a CSV
//!   whole: a CSV download decrypts and appends, and formats nothing.
//!   When a stage fails, the error of the earliest stage is the one returned (a read's before an
//!   opener's before a writer's): a later stage only sees its input end too soon.
//!
//! Must never: hand a row of a chunk that failed to open to the file, or name member data in an
//! error.

use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::spool::{Ready, Spool};
use super::{CHUNK_ROWS, Error, ExtractId, container, format};
use crate::crypto::DataKey;
use crate::store::Store;

/// Chunks fetched from the store per query.
pub const CHUNKS_PER_FETCH: i64 = 16;
/// Batches read ahead of the one being opened.
const BATCHES_AHEAD: usize = 2;
/// Batches of decrypted chunks opened ahead of the one being written.
const OPENED_AHEAD: usize = 1;

/// A batch of sealed chunks with their sequence numbers, as the store gives them.
type Sealed = Vec<(i64, Vec<u8>)>;
/// A batch of opened chunks, in order (wiped when dropped).
type Opened = Vec<Zeroizing<Vec<u8>>>;

/// A file being made from the rows of an extract, in order.
pub trait Rows: Send + 'static {
    /// The finished file.
    type File: Send + 'static;
    fn row(&mut self, cells: &[Option<&str>]) -> Result<(), Error>;
    /// The rows of one opened chunk of `columns` cells each: each row in turn, unless the file
    /// can take the chunk whole.
    fn chunk(&mut self, plain: &[u8], columns: usize) -> Result<(), Error> {
        container::for_each_row(plain, columns, |cells| self.row(cells)).map(drop)
    }
    /// Called once every chunk has been opened.
    fn finish(self) -> Result<Self::File, Error>;
}

/// Where a download's chunks come from.
pub struct Source<'a> {
    pub store: &'a Store,
    pub id: &'a ExtractId,
    pub key: DataKey,
    pub chunk_count: i64,
    pub columns: usize,
}

/// Opens every chunk once, in order, into `rows`, and returns the finished file; see the
/// module's guarantees.
pub async fn open_all<R: Rows>(source: Source<'_>, rows: R) -> Result<R::File, Error> {
    let Source {
        store,
        id,
        key,
        chunk_count,
        columns,
    } = source;
    let (sealed, to_open) = mpsc::channel(BATCHES_AHEAD);
    let (opened, to_write) = mpsc::channel(OPENED_AHEAD);
    let opener = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || open_batches(to_open, &key, &id, chunk_count, &opened))
    };
    let writer =
        tokio::task::spawn_blocking(move || write_rows(to_write, chunk_count, columns, rows));
    let read = read_batches(store, id, chunk_count, &sealed).await;
    // The opener ends when the batches do, the writer when the opener does.
    drop(sealed);
    let stopped = |e: tokio::task::JoinError| {
        Error::Spool(format!("a worker opening the chunks stopped: {e}"))
    };
    let opened = opener.await.map_err(stopped);
    let written = writer.await.map_err(stopped);
    // A failed stage stops the ones after it early: the earliest error is the cause.
    read?;
    opened??;
    written?
}

/// Sends the chunks to the opener in batches, then checks that there is none beyond the last.
async fn read_batches(
    store: &Store,
    id: &ExtractId,
    chunk_count: i64,
    sender: &mpsc::Sender<Sealed>,
) -> Result<(), Error> {
    let mut next = 0;
    while next < chunk_count {
        let batch = store
            .find_chunks(id.as_str(), next, CHUNKS_PER_FETCH)
            .await?;
        let Some(&(last, _)) = batch.last() else {
            return Err(Error::Damaged("a chunk is missing"));
        };
        next = last.saturating_add(1);
        if sender.send(batch).await.is_err() {
            // The opener stopped at a bad chunk; its error says which.
            return Ok(());
        }
    }
    let extra = store.find_chunks(id.as_str(), next, 1).await?;
    if chunk_count <= 0 || !extra.is_empty() {
        return Err(Error::Damaged("the extract has the wrong number of chunks"));
    }
    Ok(())
}

/// The opener: checks each chunk's place as its batch arrives, authenticates and decrypts the
/// batch, half of it on a helper thread (decryption is most of a download's work, and the
/// machine's other core would wait otherwise), and hands the batch's chunks to the writer in
/// order.
fn open_batches(
    mut batches: mpsc::Receiver<Sealed>,
    key: &DataKey,
    id: &ExtractId,
    chunk_count: i64,
    opened: &mpsc::Sender<Opened>,
) -> Result<(), Error> {
    std::thread::scope(|scope| {
        let (to_helper, halves) = std::sync::mpsc::sync_channel::<Sealed>(1);
        let (helped, from_helper) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for half in halves {
                if helped.send(open_each(key, id, chunk_count, &half)).is_err() {
                    return;
                }
            }
        });
        let mut next = 0;
        while let Some(mut batch) = batches.blocking_recv() {
            let (placed, misplaced) = in_place(&batch, next, chunk_count);
            batch.truncate(placed);
            let back = (batch.len() >= 2).then(|| batch.split_off(batch.len() / 2));
            let helping = back.is_some();
            if let Some(back) = back {
                to_helper.send(back).map_err(|_| helper_stopped())?;
            }
            let mut results = open_each(key, id, chunk_count, &batch);
            if helping {
                results.extend(from_helper.recv().map_err(|_| helper_stopped())?);
            }
            // The chunks before the first that failed go on; its error comes after them, as if
            // they were taken one at a time (the rest are dropped, and wiped).
            let mut plains = Vec::with_capacity(results.len());
            let mut failed = None;
            for result in results {
                match result {
                    Ok(plain) => plains.push(plain),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let count = plains.len() as i64;
            if count > 0 && opened.blocking_send(plains).is_err() {
                // The writer stopped; its error says why.
                return Ok(());
            }
            next += count;
            if let Some(e) = failed.or(misplaced) {
                return Err(e);
            }
        }
        if next != chunk_count {
            return Err(Error::Damaged("the extract has the wrong number of chunks"));
        }
        // Returning drops the channels, which ends the helper before the scope waits for it.
        Ok(())
    })
}

/// How many chunks at the start of `batch` are in their places (from `next` on, before
/// `chunk_count`), and the error of the first that is not.
fn in_place(batch: &Sealed, next: i64, chunk_count: i64) -> (usize, Option<Error>) {
    for (placed, (seq, _)) in batch.iter().enumerate() {
        if *seq != next + placed as i64 {
            return (placed, Some(Error::Damaged("a chunk is missing")));
        }
        if *seq >= chunk_count {
            return (
                placed,
                Some(Error::Damaged("the extract has the wrong number of chunks")),
            );
        }
    }
    (batch.len(), None)
}

/// Opens each of `chunks`, in order.
fn open_each(
    key: &DataKey,
    id: &ExtractId,
    chunk_count: i64,
    chunks: &[(i64, Vec<u8>)],
) -> Vec<Result<Zeroizing<Vec<u8>>, Error>> {
    chunks
        .iter()
        .map(|(seq, sealed)| open_chunk(key, id, *seq, chunk_count, sealed))
        .collect()
}

fn helper_stopped() -> Error {
    Error::Spool("a worker opening the chunks stopped".to_owned())
}

/// The writer: writes the rows of each opened chunk, in order, and finishes the file once all
/// `chunk_count` have come (fewer means the opener stopped, and its error is the cause).
fn write_rows<R: Rows>(
    mut opened: mpsc::Receiver<Opened>,
    chunk_count: i64,
    columns: usize,
    mut rows: R,
) -> Result<R::File, Error> {
    let mut written = 0;
    while let Some(batch) = opened.blocking_recv() {
        for plain in &batch {
            rows.chunk(plain, columns)?;
            written += 1;
        }
    }
    if written != chunk_count {
        return Err(Error::Damaged("the extract has the wrong number of chunks"));
    }
    rows.finish()
}

/// Authenticates and decrypts chunk `seq` of `count`, bound to its place in the extract.
pub fn open_chunk(
    key: &DataKey,
    id: &ExtractId,
    seq: i64,
    count: i64,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    key.open(sealed, &id.chunk_aad(seq, seq + 1 == count))
        .map_err(|_| Error::Damaged("a chunk failed authentication"))
}

/// The CSV: the header, then a line per row, written into a spool.
pub struct CsvRows {
    spool: Spool,
    /// Rows the extract holds, and rows and bytes written so far: after a chunk's worth of rows
    /// the spool is told how large the file will be, about ([`Spool::expect`]).
    rows_expected: u64,
    rows: u64,
    bytes: u64,
}

impl CsvRows {
    /// A CSV of about `rows_expected` rows headed by `names` (with the BOM).
    pub fn new(mut spool: Spool, names: &[&str], rows_expected: u64) -> Result<CsvRows, Error> {
        let bound = format::CSV_BOM
            .len()
            .saturating_add(csv_bound(names.iter().map(|n| Some(*n))));
        let out = spool.room(bound)?;
        let before = out.len();
        format::csv_header(names, out);
        let bytes = (out.len() - before) as u64;
        Ok(CsvRows {
            spool,
            rows_expected,
            rows: 0,
            bytes,
        })
    }
}

impl Rows for CsvRows {
    type File = Ready;

    fn row(&mut self, cells: &[Option<&str>]) -> Result<(), Error> {
        let bound = csv_bound(cells.iter().copied());
        let out = self.spool.room(bound)?;
        let before = out.len();
        format::csv_cells(cells, out);
        let written = out.len() - before;
        self.written(1, written);
        Ok(())
    }

    /// A chunk built as CSV lines (every build since issue 19) goes in as it is: the download
    /// only decrypts and appends. One of the first layout is formatted row by row.
    fn chunk(&mut self, plain: &[u8], columns: usize) -> Result<(), Error> {
        let Some((rows, lines)) = container::csv_lines(plain)? else {
            return container::for_each_row(plain, columns, |cells| self.row(cells)).map(drop);
        };
        self.spool.room(lines.len())?.extend_from_slice(lines);
        self.written(rows, lines.len());
        Ok(())
    }

    fn finish(self) -> Result<Ready, Error> {
        self.spool.finish()
    }
}

impl CsvRows {
    /// Counts `rows` more rows in `bytes` more bytes. Once the first chunk's worth is in, the
    /// spool is told how large the file will be: rows of one register are alike in size, so
    /// that tells it well enough; the guess only chooses memory or disk, the limits hold anyway.
    fn written(&mut self, rows: usize, bytes: usize) {
        let before = self.rows;
        self.rows += rows as u64;
        self.bytes += bytes as u64;
        if before < CHUNK_ROWS as u64 && self.rows >= CHUNK_ROWS as u64 {
            let per_row = self.bytes / self.rows;
            self.spool
                .expect(per_row.saturating_mul(self.rows_expected.max(self.rows)));
        }
    }
}

/// The most bytes `format::csv_cells` writes for a line of `cells`: every byte at most twice (a
/// `"` doubled), a text mark and two quotes per cell, the separators and CRLF. Asking the spool
/// for this much room first means its piece never reallocates (`tests::the_csv_bound_holds`).
fn csv_bound<'a>(cells: impl Iterator<Item = Option<&'a str>>) -> usize {
    cells.fold(2, |total, cell| {
        let len = cell.map_or(0, str::len);
        total
            .saturating_add(len.saturating_mul(2))
            .saturating_add(4)
    })
}

/// The XLSX workbook, built in memory (bounded by `format::XLSX_MAX_ROWS`).
pub struct XlsxRows(pub format::XlsxBuilder);

impl Rows for XlsxRows {
    type File = Zeroizing<Vec<u8>>;

    fn row(&mut self, cells: &[Option<&str>]) -> Result<(), Error> {
        Ok(self.0.push_cells(cells)?)
    }

    fn finish(self) -> Result<Zeroizing<Vec<u8>>, Error> {
        Ok(self.0.finish()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// The CSV of `chunks` (rows of two cells) as a download makes it, through a spool.
    fn csv_of(chunks: &[Zeroizing<Vec<u8>>]) -> Vec<u8> {
        static BUDGET: super::super::spool::Budget = super::super::spool::Budget::new(1 << 24);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 1 << 24, &BUDGET);
        let mut csv = CsvRows::new(spool, &["Förnamn", "Telefon"], 10).unwrap();
        for chunk in chunks {
            csv.chunk(chunk, 2).unwrap();
        }
        let ready = csv.finish().unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let mut out = Vec::new();
                let mut pieces = ready.into_stream();
                while let Some(piece) = futures::StreamExt::next(&mut pieces).await {
                    out.extend(piece.unwrap());
                }
                out
            })
    }

    proptest! {
        /// An extract built before issue 19 (cells one after another) and one built since (CSV
        /// lines, taken whole) download as the same bytes, which are the header and then each
        /// row as `format::csv_row` writes it.
        #[test]
        fn both_chunk_layouts_download_as_the_same_csv(
            chunks in proptest::collection::vec(proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(
                    "[\"';,\\t\\r\\n =+0-9a\\u{0}\\u{a0}é ]{0,12}"), 2), 0..4), 1..4)
        ) {
            let mut cells = Vec::new();
            let mut lines = Vec::new();
            let mut expected = Vec::new();
            format::csv_header(&["Förnamn", "Telefon"], &mut expected);
            for rows in &chunks {
                let mut first = Zeroizing::new(Vec::new());
                let mut second = container::Lines::default();
                for row in rows {
                    container::encode_row(row, &mut first);
                    second.push(row);
                    format::csv_row(row, &mut expected);
                }
                cells.push(first);
                lines.push(second.finish());
            }
            prop_assert_eq!(csv_of(&cells), expected.clone());
            prop_assert_eq!(csv_of(&lines), expected);
        }

        #[test]
        fn the_csv_bound_holds(
            cells in proptest::collection::vec(
                proptest::option::of("[\"';,\\t\\r\\n =+0-9a\\u{0}\\u{a0}é ]{0,12}"), 1..6)
        ) {
            let cells: Vec<Option<&str>> = cells.iter().map(Option::as_deref).collect();
            let mut out = Vec::new();
            format::csv_cells(&cells, &mut out);
            prop_assert!(out.len() <= csv_bound(cells.iter().copied()));
        }
    }
}
