//! The second chunk layout: a chunk's rows as the very CSV lines a download sends, so that a
//! CSV download only decrypts and appends (nothing is formatted on the way out), with what the
//! lines cannot say kept beside them, so every other reader (view pages, call lists, XLSX, a
//! list's hand-over) still gets each cell exactly as the register gave it.
//!
//! Layout: `0x02` (a chunk of the first layout starts with `0x00` or `0x01`, or is empty); the
//! number of rows and the length of the lines (u32, big-endian, each); the lines, exactly as
//! `format::csv_row` writes them (CRLF after each, no BOM, no header); then, for each cell the
//! lines cannot say, in row and column order: its row and column (u32 each), its length (u32)
//! and its UTF-8. Those are a cell of empty text (its field is empty, like no value) and a
//! cell holding NUL (the CSV drops NUL).
//!
//! The decoder is strict: it accepts exactly what [`Lines`] makes. Each field must be the
//! one `format::csv_field` writes for the cell read from it, and an exception must be needed
//! and in order, so a chunk that decodes encodes back to the same bytes. Like the first
//! layout it is bounded, never allocates more than the chunk holds, and never panics.

use zeroize::Zeroizing;

use super::super::{Error, format};

/// The first byte of a chunk in this layout.
pub const MARKER: u8 = 2;
/// Marker, rows, length of the lines.
const HEADER: usize = 9;

const TRUNCATED: Error = Error::Damaged("a chunk ends inside a row");
const NOT_AS_WRITTEN: Error = Error::Damaged("a chunk holds a line that is not as it was written");

/// A chunk being made, row by row.
pub struct Lines {
    out: Zeroizing<Vec<u8>>,
    exceptions: Zeroizing<Vec<u8>>,
    rows: u32,
}

impl Default for Lines {
    fn default() -> Self {
        Lines::with_capacity(0)
    }
}

impl Lines {
    /// A chunk whose lines are expected to take about `bytes` (so that the buffer, which holds
    /// member data, is not copied while it grows).
    pub fn with_capacity(bytes: usize) -> Lines {
        let mut out = Zeroizing::new(Vec::with_capacity(HEADER.saturating_add(bytes)));
        // The header is filled in by `finish`.
        out.extend_from_slice(&[0; HEADER]);
        Lines {
            out,
            exceptions: Zeroizing::new(Vec::new()),
            rows: 0,
        }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[Option<String>]) {
        format::csv_row(row, &mut self.out);
        for (column, cell) in row.iter().enumerate() {
            if let Some(cell) = cell.as_deref().filter(|c| needs_exception(c)) {
                for number in [self.rows as usize, column, cell.len()] {
                    // A chunk holds CHUNK_ROWS rows of a register's text columns: none of these
                    // reaches 4 Gi. Saturated rather than wrapped, the decoder would refuse it.
                    let number = u32::try_from(number).unwrap_or(u32::MAX);
                    self.exceptions.extend_from_slice(&number.to_be_bytes());
                }
                self.exceptions.extend_from_slice(cell.as_bytes());
            }
        }
        self.rows = self.rows.saturating_add(1);
    }

    /// The lines' length so far.
    pub fn lines_len(&self) -> usize {
        self.out.len() - HEADER
    }

    /// The finished chunk.
    pub fn finish(mut self) -> Zeroizing<Vec<u8>> {
        let len = u32::try_from(self.lines_len()).unwrap_or(u32::MAX);
        let mut header = [0u8; HEADER];
        header[0] = MARKER;
        header[1..5].copy_from_slice(&self.rows.to_be_bytes());
        header[5..].copy_from_slice(&len.to_be_bytes());
        if let Some(start) = self.out.get_mut(..HEADER) {
            start.copy_from_slice(&header);
        }
        self.out.extend_from_slice(&self.exceptions);
        self.out
    }
}

/// A cell the lines cannot say: empty text (its field reads as no value) or text with NUL.
fn needs_exception(cell: &str) -> bool {
    cell.is_empty() || cell.contains('\0')
}

/// The rows and the CSV lines of a chunk in this layout (`None` for the first layout), for a
/// download that sends the lines as they are. The lines are not checked here: the chunk was
/// authenticated, so they are what [`Lines`] wrote.
pub fn csv_lines(bytes: &[u8]) -> Result<Option<(usize, &[u8])>, Error> {
    if bytes.first() != Some(&MARKER) {
        return Ok(None);
    }
    let (rows, lines, _) = split(bytes)?;
    Ok(Some((rows, lines)))
}

/// Rows, lines and exceptions of a chunk in this layout.
fn split(bytes: &[u8]) -> Result<(usize, &[u8], &[u8]), Error> {
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(TRUNCATED);
    };
    let rows = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if len > rest.len() {
        return Err(TRUNCATED);
    }
    let (lines, exceptions) = rest.split_at(len);
    Ok((rows, lines, exceptions))
}

/// A cell of one row as it is read, before the row is handed out.
enum Cell<'a> {
    Empty,
    /// Text that lies in the chunk: a field's (its text mark left out) or an exception's.
    Text(&'a str),
    /// Text whose doubled quotes were undone: an index into the row's copies, and how many
    /// bytes at its start are the text mark.
    Copied(usize, usize),
}

/// Calls `each` with every row of a chunk in this layout, in order; see the module's checks.
pub(super) fn for_each_row(
    bytes: &[u8],
    columns: usize,
    mut each: impl FnMut(&[Option<&str>]) -> Result<(), Error>,
) -> Result<usize, Error> {
    let (rows, lines, exceptions) = split(bytes)?;
    let Ok(lines) = std::str::from_utf8(lines) else {
        return Err(Error::Damaged("a chunk holds text that is not UTF-8"));
    };
    let mut exceptions = Exceptions {
        bytes: exceptions,
        last: None,
    };
    let mut pending = exceptions.next(rows, columns)?;
    let mut cells = Vec::with_capacity(columns.min(lines.len().saturating_add(1)));
    let mut copies: Vec<Zeroizing<String>> = Vec::new();
    let mut again = Zeroizing::new(Vec::new());
    let mut at = 0;
    for row in 0..rows {
        cells.clear();
        copies.clear();
        for column in 0..columns {
            let field = next_field(lines, at, column + 1 == columns)?;
            let cell = match (pending, field.text) {
                (Some((r, c, text)), _) if (r, c) == (row, column) => {
                    pending = exceptions.next(rows, columns)?;
                    Cell::Text(text)
                }
                (_, Text::At(start, end)) if start == end && field.end == start => Cell::Empty,
                (_, Text::At(start, end)) => {
                    let text = lines.get(start..end).ok_or(TRUNCATED)?;
                    Cell::Text(format::unneutralise(text))
                }
                (_, Text::Undone(text)) => {
                    let mark = text.len() - format::unneutralise(&text).len();
                    copies.push(text);
                    Cell::Copied(copies.len() - 1, mark)
                }
            };
            // Strict: the field must be what the writer makes of the cell read from it.
            again.clear();
            if let Some(text) = cell_text(&cell, &copies)? {
                format::csv_field(text, &mut again);
            }
            if lines.as_bytes().get(at..field.end) != Some(again.as_slice()) {
                return Err(NOT_AS_WRITTEN);
            }
            cells.push(cell);
            at = field.next;
        }
        let row: Vec<Option<&str>> = cells
            .iter()
            .map(|cell| cell_text(cell, &copies))
            .collect::<Result<_, _>>()?;
        each(&row)?;
    }
    if at != lines.len() {
        return Err(Error::Damaged("a chunk holds more lines than rows"));
    }
    if pending.is_some() {
        return Err(NOT_AS_WRITTEN);
    }
    Ok(rows)
}

fn cell_text<'a>(
    cell: &Cell<'a>,
    copies: &'a [Zeroizing<String>],
) -> Result<Option<&'a str>, Error> {
    Ok(match *cell {
        Cell::Empty => None,
        Cell::Text(text) => Some(text),
        Cell::Copied(index, mark) => {
            let copy = copies.get(index).ok_or(TRUNCATED)?;
            Some(copy.get(mark..).ok_or(TRUNCATED)?)
        }
    })
}

/// One field of a line.
struct Field {
    text: Text,
    /// Where the field's bytes end in the lines (before its separator), and where the next
    /// field starts.
    end: usize,
    next: usize,
}

/// Where a field's text is.
enum Text {
    /// In the lines (start, end): an unquoted field, or a quoted one without doubled quotes.
    At(usize, usize),
    /// A quoted field with doubled quotes, undone (member data: wiped when dropped).
    Undone(Zeroizing<String>),
}

/// The field starting at `at`. Fields end at `;`, the last of a row at CRLF; a field that
/// starts with `"` runs to the next `"` that is not doubled.
fn next_field(lines: &str, at: usize, last: bool) -> Result<Field, Error> {
    let rest = lines.get(at..).ok_or(TRUNCATED)?;
    let separator = if last { "\r\n" } else { ";" };
    let Some(quoted) = rest.strip_prefix('"') else {
        let len = rest.find(separator).ok_or(TRUNCATED)?;
        return Ok(Field {
            text: Text::At(at, at + len),
            end: at + len,
            next: at + len + separator.len(),
        });
    };
    let mut from = 0;
    let close = loop {
        let found = quoted
            .get(from..)
            .and_then(|q| q.find('"'))
            .ok_or(TRUNCATED)?;
        let quote = from + found;
        if quoted.get(quote + 1..quote + 2) == Some("\"") {
            from = quote + 2;
        } else {
            break quote;
        }
    };
    let inner = quoted.get(..close).ok_or(TRUNCATED)?;
    // The opening quote, the text, the closing quote.
    let end = at + 1 + close + 1;
    if !lines
        .get(end..)
        .is_some_and(|after| after.starts_with(separator))
    {
        return Err(NOT_AS_WRITTEN);
    }
    let text = if inner.contains("\"\"") {
        Text::Undone(Zeroizing::new(inner.replace("\"\"", "\"")))
    } else {
        Text::At(at + 1, at + 1 + close)
    };
    Ok(Field {
        text,
        end,
        next: end + separator.len(),
    })
}

/// The exceptions of a chunk, read one at a time and checked: in order, inside the chunk's
/// rows and columns, UTF-8, and needed.
struct Exceptions<'a> {
    /// The exceptions not read yet.
    bytes: &'a [u8],
    last: Option<(usize, usize)>,
}

impl<'a> Exceptions<'a> {
    /// The next exception's row, column and text.
    fn next(
        &mut self,
        rows: usize,
        columns: usize,
    ) -> Result<Option<(usize, usize, &'a str)>, Error> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let Some((head, after)) = self.bytes.split_first_chunk::<12>() else {
            return Err(TRUNCATED);
        };
        let row = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let column = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let len = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
        if len > after.len() {
            return Err(TRUNCATED);
        }
        let (text, rest) = after.split_at(len);
        let in_order = self.last.is_none_or(|last| (row, column) > last);
        if row >= rows || column >= columns || !in_order {
            return Err(NOT_AS_WRITTEN);
        }
        let Ok(text) = std::str::from_utf8(text) else {
            return Err(Error::Damaged("a chunk holds text that is not UTF-8"));
        };
        if !needs_exception(text) {
            return Err(NOT_AS_WRITTEN);
        }
        self.last = Some((row, column));
        self.bytes = rest;
        Ok(Some((row, column, text)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::decode_rows;
    use super::*;
    use proptest::prelude::*;

    /// Cells a register may hold, and the ones CSV has to work around: empty text, NUL, quotes,
    /// separators, line breaks, spaces at either end, text marks and formula or number starts.
    fn cell() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            "[a-zåäö ]{0,12}",
            "[\"';,\\t\\r\\n =+@0-9a\\u{0}\\u{a0}é ]{0,12}",
            ".{0,8}",
        ])
    }

    fn chunk(rows: &[Vec<Option<String>>]) -> Zeroizing<Vec<u8>> {
        let mut lines = Lines::default();
        for row in rows {
            lines.push(row);
        }
        lines.finish()
    }

    proptest! {
        /// Every cell comes back exactly (empty text apart from no value, NUL kept), and the
        /// lines a download sends are byte for byte the CSV that formatting each row makes.
        #[test]
        fn rows_come_back_exactly_and_the_lines_are_the_csv(
            rows in proptest::collection::vec(proptest::collection::vec(cell(), 3), 0..12)
        ) {
            let chunk = chunk(&rows);
            prop_assert_eq!(decode_rows(&chunk, 3).unwrap(), rows.clone());
            let mut csv = Vec::new();
            for row in &rows {
                format::csv_row(row, &mut csv);
            }
            let (count, lines) = csv_lines(&chunk).unwrap().unwrap();
            prop_assert_eq!(count, rows.len());
            prop_assert_eq!(lines, csv.as_slice());
        }

        /// A chunk with bytes changed anywhere decodes to an error, or to rows that encode back
        /// to the very same bytes (the decoder takes only what the writer makes); never a panic.
        #[test]
        fn a_changed_chunk_is_refused_or_is_what_its_rows_make(
            rows in proptest::collection::vec(proptest::collection::vec(cell(), 2), 0..6),
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = chunk(&rows).to_vec();
            for (at, byte) in changes {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            if let Ok(decoded) = decode_rows(&bytes, 2) {
                let again = chunk(&decoded);
                prop_assert_eq!(again.as_slice(), bytes.as_slice());
            }
        }

        #[test]
        fn any_bytes_after_the_marker_decode_or_fail_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            columns in 1usize..4,
        ) {
            let mut chunk = vec![MARKER];
            chunk.extend(bytes);
            let _ = decode_rows(&chunk, columns);
            let _ = csv_lines(&chunk);
        }
    }

    /// The layout, byte by byte (`fuzz/seeds/container/lines-two-rows` is this chunk).
    #[test]
    fn empty_text_and_nul_are_kept_beside_the_lines() {
        let rows = vec![
            vec![Some("Anna".to_owned()), None, Some(String::new())],
            vec![
                Some("a\0b".to_owned()),
                Some("\"x\"".to_owned()),
                Some("0701".to_owned()),
            ],
        ];
        let chunk = chunk(&rows);
        let lines: &[u8] = b"Anna;;\r\nab;\"\"\"x\"\"\";'0701\r\n";
        let mut expected = vec![MARKER, 0, 0, 0, 2, 0, 0, 0, lines.len() as u8];
        expected.extend_from_slice(lines);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
        expected.extend_from_slice(b"a\0b");
        assert_eq!(chunk.as_slice(), expected.as_slice());
        assert_eq!(csv_lines(&chunk).unwrap(), Some((2, lines)));
        assert_eq!(decode_rows(&chunk, 3).unwrap(), rows);
    }

    #[test]
    fn a_chunk_cut_short_or_with_a_row_too_many_is_refused() {
        let rows = vec![vec![Some("Anna".to_owned())], vec![Some("Bo".to_owned())]];
        let whole = chunk(&rows);
        // (Nothing at all is an empty chunk of the first layout.)
        for len in 1..whole.len() {
            assert!(decode_rows(&whole[..len], 1).is_err(), "cut at {len}");
        }
        // One row more in the lines than the count says.
        let mut more = whole.to_vec();
        more[4] = 1;
        assert!(decode_rows(&more, 1).is_err());
        assert!(
            decode_rows(&whole, 2).is_err(),
            "the wrong number of columns"
        );
    }
}
