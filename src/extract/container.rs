//! The plaintext layout of one extract chunk, before it is sealed and after it is opened.
//!
//! A chunk is a run of rows; a row is one cell per approved field. Two layouts, told apart by
//! the first byte:
//! - the CSV lines a download sends, with the cells they cannot say beside them ([`Lines`],
//!   first byte `0x02`; see `lines`), which every build writes since issue 19;
//! - cells one after another, each `0x00` (empty) or `0x01`, a 4-byte big-endian length and
//!   that many bytes of UTF-8 ([`encode_row`]): what extracts built before are kept in, and
//!   still read.
//!
//! The decoder is bounded: it never reads past the buffer, never allocates more than the
//! buffer holds, and refuses a chunk whose rows do not have exactly the expected number of
//! cells or whose text is not UTF-8.
//!
//! Must never: panic on any input (a fuzz target feeds it arbitrary bytes).

use super::Error;
use crate::register::Row;

mod lines;
pub use lines::{Lines, csv_lines};

const EMPTY: u8 = 0;
const TEXT: u8 = 1;

/// Appends one row to a chunk of the first layout (builds write [`Lines`]).
pub fn encode_row(row: &[Option<String>], out: &mut Vec<u8>) {
    for cell in row {
        match cell {
            None => out.push(EMPTY),
            Some(text) => {
                out.push(TEXT);
                // A register value longer than 4 GiB cannot reach here (the register connector
                // reads text columns); saturate rather than wrap, and the decoder refuses it.
                let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

/// Splits a chunk back into rows of `columns` cells each.
pub fn decode_rows(bytes: &[u8], columns: usize) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for_each_row(bytes, columns, |cells| {
        rows.push(cells.iter().map(|c| c.map(str::to_owned)).collect());
        Ok(())
    })?;
    Ok(rows)
}

/// Calls `each` with every row of a chunk in order, its cells borrowed from `bytes` where they
/// lie there (no copy per cell). The same checks as [`decode_rows`]; on a bad cell, or when
/// `each` fails, it stops and returns the error (rows before it have been seen: callers discard
/// what they made of them). Returns the rows.
pub fn for_each_row(
    bytes: &[u8],
    columns: usize,
    each: impl FnMut(&[Option<&str>]) -> Result<(), Error>,
) -> Result<usize, Error> {
    if columns == 0 {
        return Err(Error::Damaged("a chunk must have at least one column"));
    }
    if bytes.first() == Some(&lines::MARKER) {
        lines::for_each_row(bytes, columns, each)
    } else {
        cells_for_each_row(bytes, columns, each)
    }
}

/// [`for_each_row`] over a chunk of the first layout.
fn cells_for_each_row<'a>(
    bytes: &'a [u8],
    columns: usize,
    mut each: impl FnMut(&[Option<&'a str>]) -> Result<(), Error>,
) -> Result<usize, Error> {
    // One UTF-8 check of the whole chunk instead of one per cell (most of a download's time
    // went to those): it passes unless a cell is invalid or 128 bytes or longer (its length
    // bytes are then not UTF-8). When it passes, a cell's bytes are UTF-8 exactly when they
    // start and end on character boundaries of the whole, which `str::get` checks; when it
    // fails, each cell is checked on its own, as always.
    let whole = std::str::from_utf8(bytes).ok();
    let text = |start: usize, end: usize| -> Option<&'a str> {
        match whole {
            Some(whole) => whole.get(start..end),
            None => std::str::from_utf8(bytes.get(start..end)?).ok(),
        }
    };
    let mut row = Vec::with_capacity(columns);
    let mut rows = 0;
    let mut at = 0;
    while at < bytes.len() {
        row.clear();
        for _ in 0..columns {
            let (cell, next) = decode_cell(bytes, at, &text)?;
            row.push(cell);
            at = next;
        }
        each(&row)?;
        rows += 1;
    }
    Ok(rows)
}

/// The cell at `at`, and where the next one starts; `text` gives the UTF-8 text of a byte range
/// of `bytes`, or `None` when it is not UTF-8.
fn decode_cell<'a>(
    bytes: &'a [u8],
    at: usize,
    text: &impl Fn(usize, usize) -> Option<&'a str>,
) -> Result<(Option<&'a str>, usize), Error> {
    const TRUNCATED: Error = Error::Damaged("a chunk ends inside a row");
    // `let … else`, not `ok_or(TRUNCATED)`: that builds (and drops) an error for every cell.
    let Some(&tag) = bytes.get(at) else {
        return Err(TRUNCATED);
    };
    match tag {
        EMPTY => Ok((None, at + 1)),
        TEXT => {
            let Some(len) = bytes.get(at + 1..at + 5) else {
                return Err(TRUNCATED);
            };
            let Ok(len) = <[u8; 4]>::try_from(len) else {
                return Err(TRUNCATED);
            };
            let start = at + 5;
            let end = usize::try_from(u32::from_be_bytes(len))
                .ok()
                .and_then(|len| start.checked_add(len));
            let Some(end) = end.filter(|&end| end <= bytes.len()) else {
                return Err(TRUNCATED);
            };
            let Some(cell) = text(start, end) else {
                return Err(Error::Damaged("a chunk holds text that is not UTF-8"));
            };
            Ok((Some(cell), end))
        }
        _ => Err(Error::Damaged("a chunk holds an unknown cell tag")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rows_round_trip_through_a_chunk(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(".*"), 3), 0..20)
        ) {
            let mut chunk = Vec::new();
            for row in &rows {
                encode_row(row, &mut chunk);
            }
            prop_assert_eq!(decode_rows(&chunk, 3).unwrap(), rows);
        }

        #[test]
        fn any_bytes_decode_to_rows_or_an_error_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            columns in 0usize..5,
        ) {
            let _ = decode_rows(&bytes, columns);
        }
    }

    /// The decoder as it was, one UTF-8 check per cell: what [`for_each_row`] must agree with.
    fn per_cell(bytes: &[u8], columns: usize) -> Result<Vec<Row>, String> {
        let mut rows = Vec::new();
        let mut rest = bytes;
        if columns == 0 {
            return Err("no columns".into());
        }
        while !rest.is_empty() {
            let mut row = Vec::new();
            for _ in 0..columns {
                let (&tag, after) = rest.split_first().ok_or("cut")?;
                match tag {
                    EMPTY => {
                        row.push(None);
                        rest = after;
                    }
                    TEXT => {
                        let (len, after) = after.split_first_chunk::<4>().ok_or("cut")?;
                        let len = u32::from_be_bytes(*len) as usize;
                        if after.len() < len {
                            return Err("cut".into());
                        }
                        let (cell, after) = after.split_at(len);
                        let cell = std::str::from_utf8(cell).map_err(|_| "not UTF-8")?;
                        row.push(Some(cell.to_owned()));
                        rest = after;
                    }
                    _ => return Err("tag".into()),
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }

    proptest! {
        /// Chunks of short and long (128 bytes and more) cells, ASCII and not, with bytes
        /// changed anywhere: the whole-chunk check accepts and refuses exactly what one check per
        /// cell does, and gives the same cells.
        #[test]
        fn one_check_of_the_whole_agrees_with_one_per_cell(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(
                    prop_oneof!["[a-zåäö ]{0,20}", "[a-zé😀]{100,200}", ".{0,8}"]), 2), 0..6),
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        ) {
            let mut chunk = Vec::new();
            for row in &rows {
                encode_row(row, &mut chunk);
            }
            for (at, byte) in changes {
                if !chunk.is_empty() {
                    let i = at % chunk.len();
                    chunk[i] = byte;
                }
            }
            let ours = decode_rows(&chunk, 2).map_err(|e| e.to_string());
            let theirs = per_cell(&chunk, 2);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?} vs {:?}", ours, theirs);
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                prop_assert_eq!(ours, theirs);
            }
        }
    }

    /// A cell whose length bytes and text together read as UTF-8, but whose own text starts
    /// inside a character, is refused even though the whole chunk is UTF-8.
    #[test]
    fn a_cell_starting_inside_a_character_is_refused() {
        // Length 0xC3 = 195: the length's last byte and the cell's first byte make "å".
        let mut chunk = vec![TEXT, 0, 0, 0, 0xC3, 0xA5];
        chunk.extend(std::iter::repeat_n(b'a', 194));
        assert!(std::str::from_utf8(&chunk).is_ok(), "the whole is UTF-8");
        let err = decode_rows(&chunk, 1).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        // The same cell without the stray byte is fine.
        let mut fine = vec![TEXT, 0, 0, 0, 0xC3];
        fine.extend(std::iter::repeat_n(b'a', 195));
        assert_eq!(
            decode_rows(&fine, 1).unwrap()[0][0]
                .as_deref()
                .map(str::len),
            Some(195)
        );
    }

    #[test]
    fn a_row_cut_short_is_refused() {
        let mut chunk = Vec::new();
        encode_row(&[Some("Anna".into()), None], &mut chunk);
        assert!(decode_rows(&chunk[..chunk.len() - 1], 2).is_err());
        assert!(decode_rows(&chunk, 3).is_err());
    }
}
