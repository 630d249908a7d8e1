//! The extract container's chunk decoder over arbitrary bytes (first byte: the column count),
//! both layouts. Must never panic or over-allocate; what decodes must encode back, in the
//! layout it came in, to the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registervakt::extract::container::{Lines, csv_lines, decode_rows, encode_row};

fuzz_target!(|data: &[u8]| {
    let Some((&columns, chunk)) = data.split_first() else {
        return;
    };
    if let Ok(rows) = decode_rows(chunk, usize::from(columns % 16)) {
        let again = if matches!(csv_lines(chunk), Ok(Some(_))) {
            let mut lines = Lines::default();
            for row in &rows {
                lines.push(row);
            }
            lines.finish().to_vec()
        } else {
            let mut again = Vec::with_capacity(chunk.len());
            for row in &rows {
                encode_row(row, &mut again);
            }
            again
        };
        assert_eq!(again, chunk, "a decoded chunk must encode to the same bytes");
    }
});
