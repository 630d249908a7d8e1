//! File formats an extract is delivered in: CSV (for Swedish Excel) and XLSX,
//! plus readers for files that come back (the auditor's leak trace, tests).
//!
//! Responsible for: turning member values into bytes of a CSV or XLSX file and
//! back, and nothing else (which members and columns go into an extract is
//! decided elsewhere; the words of the header row come from the caller, see
//! [`FieldNames`]).
//!
//! Guarantees:
//! - Every cell is neutralised against formula injection before it is written
//!   (OWASP "CSV Injection", <https://owasp.org/www-community/attacks/CSV_Injection>;
//!   SECURITY_BAR F1, F4), in CSV and in XLSX alike: a cell is marked as text
//!   when a trigger (`= + - @` TAB CR, or a lookalike such as full-width `＝`)
//!   comes after nothing but control characters, white space and invisible
//!   characters (NUL, NBSP, U+3000, U+FEFF, U+200B, U+2028 …; see `formula`).
//!   In CSV the mark is a leading `'`, which `unneutralise` reverses exactly; in
//!   XLSX it is the cell format's quote prefix (ECMA-376 Part 1 §18.8.45,
//!   `quotePrefix`) on a string cell, so the value is stored as it is and Excel
//!   shows no apostrophe.
//! - Digits a spreadsheet would turn into another number are marked as text the
//!   same way (issue 18): digits only (split by spaces or NBSPs, if at all)
//!   with a leading zero — phone `0701234567`, postcode `01234`, member number
//!   `000123` — or more than 15 digits (see `digits`). The CSV form is
//!   `'0701234567`: measured with LibreOffice 7.4 under Swedish settings
//!   (language 1053) it stays the text `'0701234567`, where `0701234567`,
//!   `"0701234567"` and even `000 123` (a space is the Swedish digit-group
//!   separator) become numbers without their zeros; in Excel a leading `'` is
//!   the documented way to enter a number as text (Excel was not run). Either
//!   spreadsheet may show the apostrophe; a text with one is never read as a
//!   number, so no zero is dropped. Never a formula (`="0123"` would be one).
//!   docs/files.md has the measurement.
//! - NUL never reaches a CSV: it is dropped from every cell before neutralising
//!   (`csv_text`), so what comes back is the value without its NULs. XLSX keeps
//!   NUL (escaped as `_x0000_` in a string cell).
//! - CSV is RFC 4180 (<https://www.rfc-editor.org/rfc/rfc4180>) with `;` as
//!   separator and a UTF-8 BOM, which is what Swedish Excel opens correctly.
//! - XLSX cells are always *string* cells, never numbers, dates or formulas.
//! - The XLSX file is built in memory only and the finished buffer is wiped
//!   when dropped; the file always names its extract id.
//! - Limits are refused with an error, never by truncating silently.
//! - Readers are bounded and return an error, never panic, on hostile input.
//!   `read_xlsx` gives a string cell's stored text: a cell we marked as text
//!   comes back without an apostrophe (the mark is in its format), a cell of a
//!   file made before the quote prefix (which held `'` + value) with it. The
//!   trace's `fingerprint::normalise` drops every leading `'`, so it reads both
//!   alike.
//!
//! Must never:
//! - write member data to disk (no temporary files: see `finish`);
//! - put a cell value in an error message or a log line (cells are member data);
//! - panic, `unwrap` or `expect`.

use std::borrow::Cow;
use std::io::{self, Cursor, Write};

use calamine::{DataRef, Reader, Xlsx, XlsxError as ReadError};
use rust_xlsxwriter::{DocProperties, Format, Workbook, Worksheet, XlsxError as WriteError};
use zeroize::{Zeroize, Zeroizing};

mod csv;
mod csv_stream;
mod digits;
mod formula;
mod header;
#[cfg(test)]
mod tests;
mod xlsx;

pub use csv::{csv_cells, csv_field, csv_header, csv_row, csv_text, read_csv};
pub use csv_stream::CsvStream;
#[cfg(test)]
use formula::{TRIGGERS, is_skipped, is_trigger};
pub use header::FieldNames;
pub use xlsx::{XlsxBuilder, XlsxInfo, read_xlsx};

/// Cells are member values aligned with columns; None = empty cell.
pub type Cells<'a> = &'a [Option<String>];

/// UTF-8 byte order mark: without it Excel reads a CSV as the locale's ANSI
/// code page and breaks å, ä, ö.
pub const CSV_BOM: &[u8] = b"\xEF\xBB\xBF";
/// `;` because Excel in Swedish locale (decimal comma) splits on `;`, not `,`.
pub const CSV_SEPARATOR: u8 = b';';
/// Most data rows an XLSX extract may hold; more is refused, never truncated.
pub const XLSX_MAX_ROWS: usize = 200_000;

/// Sheet names; the second sheet tells what the file is.
const MEMBERS_SHEET: &str = "Medlemmar";
const ABOUT_SHEET: &str = "Om utdraget";
/// Excel's limits (Microsoft, "Excel specifications and limits"): columns per
/// sheet and UTF-16 code units per cell.
const XLSX_MAX_COLUMNS: usize = 16_384;
const XLSX_MAX_CELL_UTF16: usize = 32_767;
/// Upper bound on the dense grid `read_xlsx` builds (rows × columns of the used
/// range). A hostile file can put one cell in A1 and one in XFD1048576; without
/// this bound that is 17 billion cells. 10 million covers XLSX_MAX_ROWS rows of
/// 50 columns.
const XLSX_READ_MAX_CELLS: usize = 10_000_000;

/// The text mark of a CSV cell: a leading apostrophe makes Excel and
/// LibreOffice take the cell as text (and may show it).
const PREFIX: char = '\'';

/// Everything that can go wrong here. Messages name positions and limits,
/// never a cell value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("extract has more than {max} data rows; refusing to write XLSX")]
    TooManyRows { max: usize },
    #[error("{count} columns is more than an XLSX sheet holds ({max})")]
    TooManyColumns { count: usize, max: usize },
    #[error(
        "cell in row {row}, column {column} (0-based, header is row 0) is longer than an XLSX cell holds"
    )]
    CellTooLong { row: usize, column: usize },
    #[error("XLSX writer failed ({kind})")]
    XlsxWrite { kind: &'static str },
    #[error("malformed CSV at line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("CSV is not UTF-8 (record starting at line {line})")]
    NotUtf8 { line: usize },
    #[error("XLSX file could not be read ({kind})")]
    XlsxRead { kind: &'static str },
    #[error("XLSX file has no worksheet")]
    NoWorksheet,
    #[error("XLSX sheet is larger than {max_cells} cells; refusing to read it")]
    TooLarge { max_cells: usize },
}

// ---------------------------------------------------------------------------
// Neutralisation
// ---------------------------------------------------------------------------

/// Formula-injection neutralisation (OWASP "CSV Injection"; SECURITY_BAR F1,
/// F4) as CSV writes it: a cell that a spreadsheet may read as a formula
/// (`formula::starts_formula`: a trigger `=`, `+`, `-`, `@`, TAB, CR or a
/// lookalike such as `＝`, after any run of control, white-space and invisible
/// characters) or as a number without its zeros (`digits::number_would_change`:
/// `0701234567`) gets a leading `'`. Everything else unchanged, except: a cell
/// that already starts with `'`s followed by such a start (`'=x`, `'0123`) also
/// gets one, so that `unneutralise` can tell the two apart and the round trip is
/// exact. XLSX marks the same cells with the quote prefix instead (`xlsx`).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_prefix(cell) {
        let mut prefixed = String::with_capacity(cell.len() + 1);
        prefixed.push(PREFIX);
        prefixed.push_str(cell);
        Cow::Owned(prefixed)
    } else {
        Cow::Borrowed(cell)
    }
}

/// Reverses `neutralise` for comparison: strips one leading `'` when what
/// follows would need one, possibly after more `'`s.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix(PREFIX) {
        Some(rest) if needs_prefix(rest) => rest,
        _ => cell,
    }
}

/// `'*` then what a spreadsheet may run as a formula or read as a number
/// without its zeros. Skipping the apostrophes makes neutralise injective:
/// without it `'=x` (a value) and `'=x` (neutralised `=x`) would collide. It
/// also makes the answer the same for a text with one leading `'` more or less,
/// which is what `unneutralise` relies on.
fn needs_prefix(cell: &str) -> bool {
    let text = cell.trim_start_matches(PREFIX);
    formula::starts_formula(text) || digits::number_would_change(text)
}
