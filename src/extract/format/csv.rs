//! CSV: writing the `;`-separated, BOM-prefixed file Swedish Excel opens (RFC 4180 quoting,
//! NUL dropped and every cell neutralised), and reading back what a spreadsheet re-saved.
//!
//! The reader is [`CsvStream`](super::CsvStream), fields split by `csv_core`. The writer stays
//! our own: the `csv` crate's writer (quote style "necessary") quotes a field for the separator,
//! `"`, CR and LF only, where ours also quotes `,`, TAB and leading or trailing spaces (so that a
//! reader guessing the separator, or a spreadsheet trimming spaces, reads the cell back as it
//! was), drops NUL and neutralises formulas first, without a copy of the cell. What is left
//! for a library to do is the doubling of `"`, a line of code.

use super::*;

// ---------------------------------------------------------------------------
// CSV writing (RFC 4180, `;`-separated)
// ---------------------------------------------------------------------------

/// Appends the BOM and the header line (column names) to `out`. Line ending
/// CRLF (RFC 4180 §2.1). Column names are neutralised and quoted like cells.
pub fn csv_header(columns: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(CSV_BOM);
    csv_line(columns.iter().map(|name| Some(*name)), out);
}

/// Appends one data line. `;` separated (so Swedish Excel splits columns),
/// RFC 4180 quoting (quote a cell containing `;` `"` CR LF or leading/trailing
/// space; double inner quotes), every cell without its NULs ([`csv_text`]) and
/// neutralised first. `,` and TAB are quoted too, so that a re-reader that
/// guesses the separator (ours, Excel's import) cannot mistake them for one.
///
/// Writes straight into `out` without an intermediate copy of the cell (a cell
/// holding NUL is copied without it, and the copy wiped). `out` may reallocate
/// as it grows: reserve it up front if the caller wipes it.
pub fn csv_row(cells: &[Option<String>], out: &mut Vec<u8>) {
    csv_line(cells.iter().map(Option::as_deref), out);
}

/// [`csv_row`] for cells borrowed from an opened chunk (`container::for_each_row`).
pub fn csv_cells(cells: &[Option<&str>], out: &mut Vec<u8>) {
    csv_line(cells.iter().copied(), out);
}

fn csv_line<'a>(cells: impl Iterator<Item = Option<&'a str>>, out: &mut Vec<u8>) {
    for (index, cell) in cells.enumerate() {
        if index > 0 {
            out.push(CSV_SEPARATOR);
        }
        if let Some(cell) = cell {
            csv_field(cell, out);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// What of a cell goes into a CSV: the cell without NUL (SECURITY_BAR F4).
/// CSV has no way to escape NUL, and readers do not agree on it: LibreOffice
/// drops it on import, which turned `\0=1+2*3` into a live formula (issue 15);
/// C-string tools end the cell there. Dropping it before the cell is
/// neutralised means the prefix is decided on exactly the text a reader sees,
/// and `unneutralise` gives back this text. `extract::fingerprint` makes the
/// same cut, so a traced CSV still matches its extract's row tags.
pub fn csv_text(cell: &str) -> Cow<'_, str> {
    if cell.contains('\0') {
        // Sized up front, so no smaller buffer with member data is freed unwiped.
        let mut text = String::with_capacity(cell.len());
        text.extend(cell.chars().filter(|&c| c != '\0'));
        Cow::Owned(text)
    } else {
        Cow::Borrowed(cell)
    }
}

/// One field of a line, as [`csv_row`] writes it: NUL dropped, neutralised, quoted when it
/// must be (RFC 4180 §2.7); nothing for an empty cell.
pub fn csv_field(cell: &str, out: &mut Vec<u8>) {
    let found = scan(cell);
    if found & HOLDS_NUL == 0 {
        // Every cell of a register but a hostile one: no copy.
        write_field(cell, found, out);
        return;
    }
    let mut text = csv_text(cell);
    write_field(&text, scan(&text), out);
    // The copy without NUL is member data: wipe it.
    if let Cow::Owned(copy) = &mut text {
        copy.zeroize();
    }
}

/// [`scan`]: a byte that makes a cell quoted (RFC 4180 §2.6: `;` `"` CR LF; and `,` TAB, see
/// [`csv_row`]).
const NEEDS_QUOTES: u8 = 1;
/// [`scan`]: NUL, which [`csv_text`] drops.
const HOLDS_NUL: u8 = 2;

/// What each byte tells the writer, looked up rather than compared six times.
const BYTE_CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    class[b';' as usize] = NEEDS_QUOTES;
    class[b'"' as usize] = NEEDS_QUOTES;
    class[b'\r' as usize] = NEEDS_QUOTES;
    class[b'\n' as usize] = NEEDS_QUOTES;
    class[b',' as usize] = NEEDS_QUOTES;
    class[b'\t' as usize] = NEEDS_QUOTES;
    class[0] = HOLDS_NUL;
    class
};

/// One pass over a cell's bytes: [`NEEDS_QUOTES`] and [`HOLDS_NUL`], or'ed.
fn scan(cell: &str) -> u8 {
    cell.bytes()
        .fold(0, |found, byte| found | BYTE_CLASS[usize::from(byte)])
}

/// Writes `cell` (without NUL), whose bytes [`scan`] found to be `found`.
fn write_field(cell: &str, found: u8, out: &mut Vec<u8>) {
    let prefixed = needs_prefix(cell);
    // Leading/trailing space too: spreadsheets trim unquoted spaces. A prefixed cell starts
    // with `'`, so its leading space can't matter.
    let quoted =
        found & NEEDS_QUOTES != 0 || (!prefixed && cell.starts_with(' ')) || cell.ends_with(' ');
    if !quoted {
        // No `"` in it (that would need quotes): copied whole.
        if prefixed {
            out.push(b'\'');
        }
        out.extend_from_slice(cell.as_bytes());
        return;
    }
    out.push(b'"');
    if prefixed {
        out.push(b'\'');
    }
    // Split at `"` byte-wise, which is safe: `"` is ASCII and never part of a multi-byte UTF-8
    // char.
    let mut parts = cell.as_bytes().split(|&byte| byte == b'"');
    if let Some(first) = parts.next() {
        out.extend_from_slice(first);
    }
    for part in parts {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(part);
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// CSV reading
// ---------------------------------------------------------------------------

/// Reads a CSV file as rows of cells, header row included, in file order.
/// Optional UTF-8 BOM; separator auto-detected from the first line among `;`,
/// `,`, TAB (spreadsheets re-save with their locale's separator); RFC 4180
/// quotes; CRLF, LF or a lone CR end a record. Every line ending ends a record,
/// so an empty line is a row with one empty cell and a final line ending adds
/// no row. A bare `"` inside an unquoted field is kept as text (as spreadsheets
/// do); an unterminated quote or text after a closing quote is
/// `Error::Malformed` naming the line its record starts on. One pass, no
/// recursion, output linear in input.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, Error> {
    let mut reader = super::CsvStream::new();
    let mut rows = reader.feed(bytes)?;
    rows.extend(reader.finish()?);
    Ok(rows)
}
