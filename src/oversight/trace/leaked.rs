//! Reading a leaked file as it arrives, piece by piece, into one ledger key per row.
//!
//! Guarantees: memory is the keys (20 bytes a row) and one record, never the file: a CSV of any
//! size up to [`MAX_TRACE_BYTES`](super::MAX_TRACE_BYTES) is read as it streams in. The
//! encoding is recognised as before: UTF-16 by its BOM, else UTF-8, else Windows-1252 — decided
//! at the first byte outside ASCII (the text before it reads the same in both), and a file that
//! turns out to mix the two is refused rather than half misread. An XLSX file (a ZIP) is read
//! whole, up to [`MAX_XLSX_BYTES`]. Cells are read, keyed and dropped: none is kept or logged.

use sha2::{Digest as _, Sha256};

use super::{HEADER_SEARCH_ROWS, KeyKind, MAX_TRACE_ROWS, header_field};
use crate::crypto::PseudonymKey;
use crate::extract::Error;
use crate::extract::fingerprint::{TagColumns, normalise_member_id};
use crate::extract::format::{self, CsvStream};
use crate::nouns::Field;

/// The largest XLSX file the trace reads (a ZIP is read whole, not as it streams).
pub const MAX_XLSX_BYTES: usize = 32 * 1024 * 1024;

/// A ledger key: a member pseudonym (16 bytes), or a row tag (8 bytes, then zeros).
pub type Key = [u8; 16];

/// The key of ledger bytes as the store holds them.
pub fn key_of(bytes: &[u8]) -> Key {
    let mut key = [0u8; 16];
    for (k, b) in key.iter_mut().zip(bytes) {
        *k = *b;
    }
    key
}

/// The file's rows, keyed for the ledger.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub columns: Vec<Field>,
    pub kind: KeyKind,
    /// `(key, data row)`, sorted: a row is its place among the data rows, in file order.
    pub by_key: Vec<(Key, u32)>,
    /// Data rows read (below the header, empty rows skipped).
    pub rows: usize,
}

/// A leaked file once read: its keys, its SHA-256 (hex) and size.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub keyed: Keyed,
    pub sha256: String,
    pub bytes: u64,
}

/// A leaked file being read: [`LeakedFile::feed`] each piece as it comes, then
/// [`LeakedFile::finish`].
pub struct LeakedFile {
    sha: Sha256,
    bytes: u64,
    input: Input,
    rows: Rows,
}

enum Input {
    /// The first bytes, until there are enough to tell the format.
    Start(Vec<u8>),
    Xlsx(Vec<u8>),
    Text(Decoding, CsvStream),
}

enum Decoding {
    Utf16(Box<encoding_rs::Decoder>),
    /// Only ASCII so far; `Vec` holds an unfinished sequence at the end of the last piece.
    Ascii(Vec<u8>),
    Utf8(Vec<u8>),
    Cp1252,
}

impl Default for LeakedFile {
    fn default() -> Self {
        LeakedFile::new()
    }
}

impl LeakedFile {
    pub fn new() -> LeakedFile {
        LeakedFile {
            sha: Sha256::new(),
            bytes: 0,
            input: Input::Start(Vec::new()),
            rows: Rows {
                max_rows: MAX_TRACE_ROWS,
                ..Rows::default()
            },
        }
    }

    /// A reader that refuses a file of more than `max_rows` data rows.
    #[cfg(test)]
    pub fn with_max_rows(max_rows: usize) -> LeakedFile {
        let mut leaked = LeakedFile::new();
        leaked.rows.max_rows = max_rows;
        leaked
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads the next piece of the file.
    pub fn feed(&mut self, key: &PseudonymKey, piece: &[u8]) -> Result<(), Error> {
        self.sha.update(piece);
        self.bytes += piece.len() as u64;
        self.take(key, piece, false)
    }

    /// The file's keys, once every piece has been fed.
    pub fn finish(mut self, key: &PseudonymKey) -> Result<ReadFile, Error> {
        self.take(key, &[], true)?;
        let sha256 = hex::encode(self.sha.finalize());
        Ok(ReadFile {
            keyed: self.rows.finish()?,
            sha256,
            bytes: self.bytes,
        })
    }

    fn take(&mut self, key: &PseudonymKey, piece: &[u8], last: bool) -> Result<(), Error> {
        if let Input::Start(head) = &mut self.input {
            head.extend_from_slice(piece);
            if head.len() < 4 && !last {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.input = if head.starts_with(b"PK\x03\x04") {
                Input::Xlsx(Vec::new())
            } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
                let decoder = encoding_rs::UTF_16LE.new_decoder();
                Input::Text(Decoding::Utf16(Box::new(decoder)), CsvStream::new())
            } else {
                Input::Text(Decoding::Ascii(Vec::new()), CsvStream::new())
            };
            return self.take(key, &head, last);
        }
        match &mut self.input {
            Input::Start(_) => Ok(()),
            Input::Xlsx(file) => {
                if file.len() + piece.len() > MAX_XLSX_BYTES {
                    return Err(Error::BadInput(format!(
                        "the XLSX file is larger than {} MiB; save it as CSV, which the trace \
                         reads up to {} MiB",
                        MAX_XLSX_BYTES / (1024 * 1024),
                        super::MAX_TRACE_BYTES / (1024 * 1024)
                    )));
                }
                file.extend_from_slice(piece);
                if last {
                    let table = format::read_xlsx(file).map_err(unreadable)?;
                    for row in table {
                        self.rows.push(key, row)?;
                    }
                }
                Ok(())
            }
            Input::Text(decoding, csv) => {
                let text = decoding.decode(piece, last)?;
                for row in csv.feed(&text).map_err(unreadable)? {
                    self.rows.push(key, row)?;
                }
                if last {
                    let csv = std::mem::take(csv);
                    for row in csv.finish().map_err(unreadable)? {
                        self.rows.push(key, row)?;
                    }
                }
                Ok(())
            }
        }
    }
}

fn unreadable(e: format::Error) -> Error {
    Error::BadInput(format!("the file cannot be read: {e}"))
}

impl Decoding {
    /// The next piece as UTF-8 text.
    fn decode(&mut self, piece: &[u8], last: bool) -> Result<Vec<u8>, Error> {
        match self {
            Decoding::Utf16(decoder) => {
                let mut out = String::with_capacity(
                    decoder
                        .max_utf8_buffer_length(piece.len())
                        .unwrap_or(piece.len() * 3),
                );
                let (_, _, _) = decoder.decode_to_string(piece, &mut out, last);
                Ok(out.into_bytes())
            }
            Decoding::Cp1252 => {
                let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(piece);
                Ok(text.into_owned().into_bytes())
            }
            Decoding::Ascii(held) | Decoding::Utf8(held) => {
                let mut bytes = std::mem::take(held);
                bytes.extend_from_slice(piece);
                let ascii_so_far = matches!(self, Decoding::Ascii(_));
                match std::str::from_utf8(&bytes) {
                    Ok(text) => {
                        if ascii_so_far && !text.is_ascii() {
                            *self = Decoding::Utf8(Vec::new());
                        }
                        Ok(bytes)
                    }
                    Err(e) if e.error_len().is_none() && !last => {
                        // A sequence cut at the end of the piece: keep it for the next one.
                        let cut = bytes.split_off(e.valid_up_to());
                        let seen_non_ascii = !bytes.is_ascii();
                        *self = if ascii_so_far && !seen_non_ascii {
                            Decoding::Ascii(cut)
                        } else {
                            Decoding::Utf8(cut)
                        };
                        Ok(bytes)
                    }
                    Err(e) => {
                        let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                        if ascii_so_far && valid.is_ascii() {
                            // Not UTF-8, and everything before read the same in Windows-1252.
                            *self = Decoding::Cp1252;
                            return self.decode(&bytes, last);
                        }
                        Err(Error::BadInput(
                            "the file mixes text encodings (UTF-8 and another); save it again \
                             as CSV in UTF-8"
                                .to_owned(),
                        ))
                    }
                }
            }
        }
    }
}

/// Where the header is, which columns the trace recognised, how rows are keyed.
struct Header {
    columns: Vec<Field>,
    at: Vec<usize>,
    member_column: Option<usize>,
    tags: TagColumns,
}

/// The rows read so far: until the header is found, the first rows; then one key per row.
#[derive(Default)]
struct Rows {
    header: Option<Header>,
    seen_before_header: usize,
    by_key: Vec<(Key, u32)>,
    max_rows: usize,
}

impl Rows {
    fn push(&mut self, key: &PseudonymKey, row: Vec<String>) -> Result<(), Error> {
        let Some(header) = &self.header else {
            return self.look_for_header(row);
        };
        if !row.iter().any(|c| !c.trim().is_empty()) {
            return Ok(());
        }
        if self.by_key.len() >= self.max_rows {
            let max = self.max_rows;
            return Err(Error::BadInput(format!(
                "the file has more than {max} rows; the trace reads at most {max} (split the file)"
            )));
        }
        let cells: Vec<Option<&str>> = header
            .at
            .iter()
            .map(|&i| row.get(i).map(String::as_str))
            .collect();
        let ledger_key = match header.member_column {
            Some(m) => {
                let id = normalise_member_id(cells.get(m).copied().flatten().unwrap_or(""));
                *key.member_ref(&id).as_bytes()
            }
            None => key_of(header.tags.row_ref(key, &cells).as_bytes()),
        };
        let at = u32::try_from(self.by_key.len()).unwrap_or(u32::MAX);
        self.by_key.push((ledger_key, at));
        Ok(())
    }

    fn look_for_header(&mut self, row: Vec<String>) -> Result<(), Error> {
        if row.iter().filter_map(|c| header_field(c)).count() >= 2 {
            let mut columns = Vec::new();
            let mut at = Vec::new();
            for (i, cell) in row.iter().enumerate() {
                if let Some(field) = header_field(cell).filter(|f| !columns.contains(f)) {
                    columns.push(field);
                    at.push(i);
                }
            }
            self.header = Some(Header {
                member_column: columns.iter().position(|f| *f == Field::MemberId),
                tags: TagColumns::for_fields(&columns),
                columns,
                at,
            });
            return Ok(());
        }
        self.seen_before_header += 1;
        if self.seen_before_header >= HEADER_SEARCH_ROWS {
            return Err(no_header());
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Keyed, Error> {
        let header = self.header.ok_or_else(no_header)?;
        self.by_key.sort_unstable();
        Ok(Keyed {
            kind: if header.member_column.is_some() {
                KeyKind::MemberId
            } else {
                KeyKind::RowTag
            },
            columns: header.columns,
            rows: self.by_key.len(),
            by_key: self.by_key,
        })
    }
}

fn no_header() -> Error {
    Error::BadInput(
        "the file has no header row naming at least two of the register's fields \
         (member_id or Medlemsnummer, first_name or Förnamn, …); the trace needs the \
         column names"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// What a read gives, comparable: the keys, rows and digest (`None`: refused).
    type Outcome = Option<(Vec<(Key, u32)>, usize, String)>;

    fn outcome(read: Result<ReadFile, Error>) -> Outcome {
        read.ok().map(|f| (f.keyed.by_key, f.keyed.rows, f.sha256))
    }

    proptest! {
        /// The `trace_table` fuzz target's property, in the plain test suite: however an upload
        /// is cut into pieces, the file reads the same, or is refused either way.
        #[test]
        fn the_pieces_never_change_the_reading(
            text in "(\u{feff})?(Medlemsnummer|first_name|Förnamn)[;,\t](last_name|Efternamn)\r?\n([0-9A-Za-zÅÄÖåäö \"';,\t\r\n=+-]{0,12}\r?\n){0,8}",
            noise in proptest::collection::vec(any::<u8>(), 0..8),
            size in 1usize..16,
        ) {
            let key = PseudonymKey::from_slice(&[5u8; 32]).unwrap();
            let mut file = text.into_bytes();
            file.extend_from_slice(&noise);
            let mut whole = LeakedFile::new();
            let whole = whole.feed(&key, &file).and_then(|()| whole.finish(&key));
            let mut cut = LeakedFile::new();
            let cut = file
                .chunks(size)
                .try_for_each(|piece| cut.feed(&key, piece))
                .and_then(|()| cut.finish(&key));
            prop_assert_eq!(outcome(whole), outcome(cut));
        }
    }
}
