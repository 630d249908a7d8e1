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
pub fn decode_rows(mut bytes: &[u8], columns: usize) -> Result<Vec<Row>, Error> {
    if columns == 0 {
        return Err(Error::Damaged("a chunk must have at least one column"));
    }
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let mut row = Vec::with_capacity(columns);
        for _ in 0..columns {
            let (cell, rest) = decode_cell(bytes)?;
            row.push(cell);
            bytes = rest;
        }
        rows.push(row);
    }
    Ok(rows)
}

fn decode_cell(bytes: &[u8]) -> Result<(Option<String>, &[u8]), Error> {
    const TRUNCATED: Error = Error::Damaged("a chunk ends inside a row");
    let (&tag, rest) = bytes.split_first().ok_or(TRUNCATED)?;
    match tag {
        EMPTY => Ok((None, rest)),
        TEXT => {
            let (len, rest) = rest.split_first_chunk::<4>().ok_or(TRUNCATED)?;
            let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| TRUNCATED)?;
            if rest.len() < len {
                return Err(TRUNCATED);
            }
            let (text, rest) = rest.split_at(len);
            let text = std::str::from_utf8(text)
                .map_err(|_| Error::Damaged("a chunk holds text that is not UTF-8"))?;
            Ok((Some(text.to_owned()), rest))
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
