//! Reading CSV as it arrives: the same records [`read_csv`](super::read_csv) gives, from text fed
//! in pieces of any size, holding only the record being read.
//!
//! Guarantees: feeding a text in one piece or split anywhere gives the same records and the same
//! errors ([`read_csv`](super::read_csv) is this reader fed once; optional UTF-8 BOM; separator
//! detected from the first line among `;`, `,`, TAB; RFC 4180 quotes; CRLF, LF or a lone CR end a
//! record). Memory is one record plus the piece fed: a record longer than [`MAX_RECORD_BYTES`] is
//! refused, never cut. Each byte is looked at a bounded number of times, so the work is linear in
//! the input however it is cut.
//!
//! The fields are split and unquoted by `csv_core` (the `csv` crate's incremental parser, which
//! allocates nothing and keeps its state between pieces). Around it, this module does what
//! `csv_core` does not, because a leak trace needs it:
//! - it detects the separator (a spreadsheet re-saves with its locale's);
//! - it keeps an empty line as a row of one empty cell, where `csv_core` skips it: our own
//!   one-column files have such rows, and read back they must count;
//! - it refuses what `csv_core` "prefers a parse" of: an unterminated quote (which would swallow
//!   the rest of the file into one cell, and every member in it out of the trace) and text after
//!   a closing quote, which no spreadsheet writes. A quoted field is well-formed exactly when its
//!   raw text is its value quoted back (RFC 4180 §2.7), so that is the check: no second parser.
//!
//! Errors name the line their record starts on (every CRLF, LF or lone CR counts, inside quotes
//! too), never content.

use csv_core::{ReadFieldResult, Reader, ReaderBuilder, Terminator};

use super::{CSV_BOM, CSV_SEPARATOR, Error};

/// The longest record (the text of its cells, quotes undone) the reader holds.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// A CSV reader fed text in pieces ([`CsvStream::feed`]) that hands back whole records.
#[derive(Debug)]
pub struct CsvStream {
    /// The text before the separator is known (the first line); empty after.
    head: Vec<u8>,
    /// Whether the start (and its BOM) has been looked at.
    started: bool,
    detect: Detect,
    /// Made once the separator is known.
    reader: Option<Box<Reader>>,
    /// Whether `reader` has been given a byte (see [`CsvStream::parse`] on the BOM).
    fed: bool,
    /// Between records: the next line ending starts an empty row.
    at_record_start: bool,
    /// The last byte counted was CR (so an LF after it ends no second line).
    after_cr: bool,
    /// 1-based line of the next byte.
    line: usize,
    /// Line where the record being read starts.
    record_line: usize,
    /// Cells of the record being read, and their total length.
    row: Vec<String>,
    row_bytes: usize,
    /// The field being read: its value so far (`out[..out_len]`) and, if quoted, its raw text.
    out: Vec<u8>,
    out_len: usize,
    field: Field,
}

/// What is known of the field being read from its first byte.
#[derive(Debug, PartialEq)]
enum Field {
    /// Nothing of it read yet.
    NotStarted,
    Plain,
    /// Opened with `"`: its raw text so far, for the check when it ends.
    Quoted(Vec<u8>),
}

impl Default for CsvStream {
    fn default() -> CsvStream {
        CsvStream::new()
    }
}

impl CsvStream {
    pub fn new() -> CsvStream {
        CsvStream {
            head: Vec::new(),
            started: false,
            detect: Detect::default(),
            reader: None,
            fed: false,
            at_record_start: true,
            after_cr: false,
            line: 1,
            record_line: 1,
            row: Vec::new(),
            row_bytes: 0,
            out: Vec::new(),
            out_len: 0,
            field: Field::NotStarted,
        }
    }

    /// Feeds the next piece of text; the records it completed, in file order.
    pub fn feed(&mut self, text: &[u8]) -> Result<Vec<Vec<String>>, Error> {
        self.take(text, false)
    }

    /// The records left once the whole text has been fed.
    pub fn finish(mut self) -> Result<Vec<Vec<String>>, Error> {
        self.take(&[], true)
    }

    fn take(&mut self, text: &[u8], eof: bool) -> Result<Vec<Vec<String>>, Error> {
        if self.reader.is_some() {
            return self.parse(text, eof);
        }
        self.head.extend_from_slice(text);
        if !self.started {
            if self.head.len() < CSV_BOM.len() && !eof && CSV_BOM.starts_with(&self.head) {
                return Ok(Vec::new());
            }
            if self.head.starts_with(CSV_BOM) {
                self.head.drain(..CSV_BOM.len());
            }
            self.started = true;
        }
        let Some(separator) = self.detect.separator(&self.head, eof) else {
            if self.head.len() > MAX_RECORD_BYTES {
                return Err(too_long(self.line));
            }
            return Ok(Vec::new());
        };
        let reader = ReaderBuilder::new()
            .delimiter(separator)
            .terminator(Terminator::CRLF)
            .quote(b'"')
            .double_quote(true)
            .escape(None)
            .comment(None)
            .build();
        self.reader = Some(Box::new(reader));
        let head = std::mem::take(&mut self.head);
        self.parse(&head, eof)
    }

    /// Reads `input` into records; at `eof`, ends the last one.
    fn parse(&mut self, mut input: &[u8], eof: bool) -> Result<Vec<Vec<String>>, Error> {
        let mut rows = Vec::new();
        loop {
            if self.at_record_start {
                input = self.empty_lines(input, &mut rows);
                if input.is_empty() {
                    // Nothing of a next record yet (at `eof`: there is none).
                    return Ok(rows);
                }
                self.at_record_start = false;
                self.record_line = self.line;
            }
            if input.is_empty() && !eof {
                return Ok(rows);
            }
            if self.out_len == self.out.len() {
                let grown = (self.out.len() * 2).max(4096);
                self.out.resize(grown, 0);
            }
            let Some(reader) = self.reader.as_deref_mut() else {
                return Ok(rows);
            };
            // `csv_core` drops a BOM at the head of the first input it is given, if that input
            // holds all three bytes: one BOM is ours to drop, and a second is text. The first
            // call gets one byte, so whether it is dropped never depends on how the text is cut.
            let piece = if self.fed {
                input
            } else {
                input.get(..1).unwrap_or(input)
            };
            let (result, nin, nout) =
                reader.read_field(piece, self.out.get_mut(self.out_len..).unwrap_or_default());
            self.fed |= !piece.is_empty();
            let consumed = piece.get(..nin).unwrap_or_default();
            input = input.get(nin..).unwrap_or_default();
            self.consumed(consumed);
            self.out_len += nout;
            if self.row_bytes + self.out_len > MAX_RECORD_BYTES {
                return Err(too_long(self.record_line));
            }
            match result {
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull if !piece.is_empty() => {}
                ReadFieldResult::Field { record_end } => {
                    self.end_field(!piece.is_empty())?;
                    if record_end {
                        rows.push(std::mem::take(&mut self.row));
                        self.row_bytes = 0;
                        self.at_record_start = true;
                    }
                }
                // `End`, or (which `csv_core` never does) no progress on the final call.
                _ => return Ok(rows),
            }
        }
    }

    /// Between records: each line ending is an empty line, a row with one empty cell (the LF of
    /// a CRLF whose CR ended the record before is not). The rest of `input`, from the first
    /// other byte.
    fn empty_lines<'a>(&mut self, input: &'a [u8], rows: &mut Vec<Vec<String>>) -> &'a [u8] {
        let ends = input
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(input.len());
        let (line_ends, rest) = input.split_at(ends);
        for &byte in line_ends {
            if !(byte == b'\n' && self.after_cr) {
                rows.push(vec![String::new()]);
            }
            self.count(byte);
        }
        rest
    }

    /// Notes the bytes `csv_core` read: the line count, and the field's raw text if quoted.
    fn consumed(&mut self, bytes: &[u8]) {
        if let (Field::NotStarted, Some(&first)) = (&self.field, bytes.first()) {
            self.field = if first == b'"' {
                Field::Quoted(Vec::new())
            } else {
                Field::Plain
            };
        }
        if let Field::Quoted(raw) = &mut self.field {
            raw.extend_from_slice(bytes);
        }
        for &byte in bytes {
            self.count(byte);
        }
    }

    fn count(&mut self, byte: u8) {
        if byte == b'\r' || (byte == b'\n' && !self.after_cr) {
            self.line += 1;
        }
        self.after_cr = byte == b'\r';
    }

    /// The field `csv_core` ended: checked, then pushed to the row. `ended_by_byte`: a separator
    /// or line ending ended it (the last byte of its raw text), not the end of the text.
    fn end_field(&mut self, ended_by_byte: bool) -> Result<(), Error> {
        let value = self.out.get(..self.out_len).unwrap_or_default();
        if let Field::Quoted(raw) = &self.field {
            let raw = match raw.split_last() {
                Some((_, without_end)) if ended_by_byte => without_end,
                _ => raw.as_slice(),
            };
            let inner = raw.get(1..).unwrap_or_default();
            let closed = inner
                .split_last()
                .is_some_and(|(&last, body)| last == b'"' && quoted_back(body, value));
            if !closed {
                let reason = if !ended_by_byte && quoted_back(inner, value) {
                    "unterminated quote"
                } else {
                    "text after a closing quote"
                };
                return Err(Error::Malformed {
                    line: self.record_line,
                    reason,
                });
            }
        }
        let text = std::str::from_utf8(value).map_err(|_| Error::NotUtf8 {
            line: self.record_line,
        })?;
        self.row_bytes += text.len();
        self.row.push(text.to_owned());
        self.out_len = 0;
        self.field = Field::NotStarted;
        Ok(())
    }
}

/// Whether `raw` is `value` with each `"` doubled (RFC 4180 §2.7).
fn quoted_back(raw: &[u8], value: &[u8]) -> bool {
    let mut raw = raw.iter();
    value
        .iter()
        .all(|&byte| raw.next() == Some(&byte) && (byte != b'"' || raw.next() == Some(&b'"')))
        && raw.next().is_none()
}

fn too_long(line: usize) -> Error {
    Error::Malformed {
        line,
        reason: "a record longer than 4 MiB (an unterminated quote?)",
    }
}

/// The separator, from the first line: the candidate that occurs most often outside quotes;
/// ties go to the earlier candidate, no candidate at all means one column and our own `;`.
/// Reads each byte of the first line once, however it arrives.
#[derive(Debug, Default)]
struct Detect {
    counts: [usize; 3],
    in_quotes: bool,
    /// Bytes of the head already counted.
    scanned: usize,
}

impl Detect {
    const CANDIDATES: [u8; 3] = [CSV_SEPARATOR, b',', b'\t'];

    /// `None` while the first line has not ended and more text may come.
    fn separator(&mut self, head: &[u8], eof: bool) -> Option<u8> {
        let mut ended = eof;
        for &byte in head.get(self.scanned..).unwrap_or_default() {
            self.scanned += 1;
            match byte {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\r' | b'\n' if !self.in_quotes => {
                    ended = true;
                    break;
                }
                _ if !self.in_quotes => {
                    for (count, &candidate) in self.counts.iter_mut().zip(&Self::CANDIDATES) {
                        if byte == candidate {
                            *count += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        if !ended {
            return None;
        }
        let mut best = CSV_SEPARATOR;
        let mut best_count = 0;
        for (&count, &candidate) in self.counts.iter().zip(&Self::CANDIDATES) {
            if count > best_count {
                best = candidate;
                best_count = count;
            }
        }
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_at_once(text: &[u8]) -> Result<Vec<Vec<String>>, Error> {
        let mut s = CsvStream::new();
        let mut rows = s.feed(text)?;
        rows.extend(s.finish()?);
        Ok(rows)
    }

    fn in_pieces(text: &[u8], size: usize) -> Result<Vec<Vec<String>>, Error> {
        let mut s = CsvStream::new();
        let mut rows = Vec::new();
        for piece in text.chunks(size) {
            rows.extend(s.feed(piece)?);
        }
        rows.extend(s.finish()?);
        Ok(rows)
    }

    #[test]
    fn any_split_gives_the_records_of_one_piece() {
        let texts: &[&[u8]] = &[
            b"\xEF\xBB\xBFmember_id;first_name\r\n1;\"Anna \"\"A\"\"\"\r\n2;Bo\r\n",
            b"a,b,c\n1,\"x\ny\",3\n\n4,5,6",
            b"a\tb\r1\t2\r3\t4\r",
            b"one column only\nsecond",
            b"a;b\n1;\"unterminated\n",
            b"a;b\n1;\"x\"y\n",
            b"\"quoted, header\";b\r\n1;2",
            b"",
            b"\xEF\xBB",
            b"a\n\n\r\n\rb\r\r\n",
            b"\n",
            b"\xEF\xBB\xBF\xEF\xBB\xBFa;b\n",
            b"\"a\"\"\"\"\n\"x\"\r\n\"y\"",
            b"a;\"b\"\r",
            b"\"ab\"\"",
            b"\"x\"y\"z",
            b"a;b\n\"x\"\"y\";\"\"\r\n;\n",
        ];
        for text in texts {
            let whole = all_at_once(text).map_err(|e| e.to_string());
            for size in 1..8 {
                assert_eq!(
                    in_pieces(text, size).map_err(|e| e.to_string()),
                    whole,
                    "pieces of {size} of {:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn a_record_past_the_limit_is_refused_not_cut() {
        let mut s = CsvStream::new();
        s.feed(b"a;b\n1;\"").unwrap();
        let piece = vec![b'x'; 1024 * 1024];
        let refused = (0..8).find_map(|_| s.feed(&piece).err());
        assert!(matches!(refused, Some(Error::Malformed { line: 2, .. })));
    }

    #[test]
    fn an_empty_line_is_a_row_of_one_empty_cell_and_crlf_ends_one_line() {
        assert_eq!(
            all_at_once(b"a;b\r\n\r\n\n\r1;2").unwrap(),
            vec![
                vec!["a".to_owned(), "b".to_owned()],
                vec![String::new()],
                vec![String::new()],
                vec![String::new()],
                vec!["1".to_owned(), "2".to_owned()],
            ]
        );
    }

    #[test]
    fn a_second_bom_is_text_however_the_text_is_cut() {
        let text = b"\xEF\xBB\xBF\xEF\xBB\xBFa;b\n";
        let whole = all_at_once(text).unwrap();
        assert_eq!(whole, vec![vec!["\u{feff}a".to_owned(), "b".to_owned()]]);
        for size in 1..8 {
            assert_eq!(in_pieces(text, size).unwrap(), whole);
        }
    }

    #[test]
    fn unquoted_bare_quotes_are_text_and_malformed_quotes_name_their_line() {
        assert_eq!(
            all_at_once(b"a;b\n1 \"x\";y\"z\n").unwrap()[1],
            vec!["1 \"x\"".to_owned(), "y\"z".to_owned()]
        );
        let unterminated = all_at_once(b"a;b\n1;\"x\"\"\n\n").unwrap_err();
        assert_eq!(
            unterminated.to_string(),
            "malformed CSV at line 2: unterminated quote"
        );
        let after = all_at_once(b"a;b\n1;\"x\"y\"z\n").unwrap_err();
        assert_eq!(
            after.to_string(),
            "malformed CSV at line 2: text after a closing quote"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_cut_of_csv_like_bytes_gives_the_same_answer(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"a;,\t\"\r\n\xEF\xBB\xBF".to_vec()), 0..64),
            size in 1usize..9,
        ) {
            let whole = all_at_once(&bytes).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(in_pieces(&bytes, size).map_err(|e| e.to_string()), whole);
        }
    }
}
