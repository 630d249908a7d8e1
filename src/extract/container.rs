//! The plaintext layout of one extract chunk, before it is sealed and after it is opened.
//!
//! A chunk is a run of rows; a row is one cell per approved field; a cell is `0x00` (empty) or
//! `0x01`, a 4-byte big-endian length and that many bytes of UTF-8. The decoder is bounded: it
//! never reads past the buffer, never allocates more than the buffer holds, and refuses a chunk
//! whose rows do not have exactly the expected number of cells or whose text is not UTF-8.
//!
//! Must never: panic on any input (a fuzz target feeds it arbitrary bytes).

use super::Error;
use crate::register::Row;

const EMPTY: u8 = 0;
const TEXT: u8 = 1;

/// Appends one row to a chunk under construction.
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

/// Calls `each` with every row of a chunk in order, its cells borrowed from `bytes` — no copy
/// and no allocation per cell, which is what a download formats. The same checks as
/// [`decode_rows`]; on a bad cell, or when `each` fails, it stops and returns the error (rows
/// before it have been seen: callers discard what they made of them). Returns the rows.
pub fn for_each_row<'a>(
    mut bytes: &'a [u8],
    columns: usize,
    mut each: impl FnMut(&[Option<&'a str>]) -> Result<(), Error>,
) -> Result<usize, Error> {
    if columns == 0 {
        return Err(Error::Damaged("a chunk must have at least one column"));
    }
    let mut row = Vec::with_capacity(columns);
    let mut rows = 0;
    while !bytes.is_empty() {
        row.clear();
        for _ in 0..columns {
            let (cell, rest) = decode_cell(bytes)?;
            row.push(cell);
            bytes = rest;
        }
        each(&row)?;
        rows += 1;
    }
    Ok(rows)
}

fn decode_cell(bytes: &[u8]) -> Result<(Option<&str>, &[u8]), Error> {
    const TRUNCATED: Error = Error::Damaged("a chunk ends inside a row");
    // `let … else`, not `ok_or(TRUNCATED)`: that builds (and drops) an error for every cell.
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(TRUNCATED);
    };
    match tag {
        EMPTY => Ok((None, rest)),
        TEXT => {
            let Some((len, rest)) = rest.split_first_chunk::<4>() else {
                return Err(TRUNCATED);
            };
            let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| TRUNCATED)?;
            if rest.len() < len {
                return Err(TRUNCATED);
            }
            let (text, rest) = rest.split_at(len);
            let text = std::str::from_utf8(text)
                .map_err(|_| Error::Damaged("a chunk holds text that is not UTF-8"))?;
            Ok((Some(text), rest))
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

    #[test]
    fn a_row_cut_short_is_refused() {
        let mut chunk = Vec::new();
        encode_row(&[Some("Anna".into()), None], &mut chunk);
        assert!(decode_rows(&chunk[..chunk.len() - 1], 2).is_err());
        assert!(decode_rows(&chunk, 3).is_err());
    }
}
