//! File formats an extract is delivered in: CSV (for Swedish Excel) and XLSX,
//! plus readers for files that come back (the auditor's leak trace, tests).
//!
//! Responsible for: turning member values into bytes of a CSV or XLSX file and
//! back, and nothing else (which members and columns go into an extract is
//! decided elsewhere).
//!
//! Guarantees:
//! - Every cell is neutralised against formula injection before it is written
//!   (OWASP "CSV Injection", <https://owasp.org/www-community/attacks/CSV_Injection>;
//!   SECURITY_BAR F1), in CSV and in XLSX alike, and `unneutralise` reverses it
//!   exactly.
//! - CSV is RFC 4180 (<https://www.rfc-editor.org/rfc/rfc4180>) with `;` as
//!   separator and a UTF-8 BOM, which is what Swedish Excel opens correctly.
//! - XLSX cells are always *string* cells, never numbers, dates or formulas.
//! - The XLSX file is built in memory only and the finished buffer is wiped
//!   when dropped; the file always names its extract id.
//! - Limits are refused with an error, never by truncating silently.
//! - Readers are bounded and return an error, never panic, on hostile input.
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

#[cfg(test)]
mod tests;

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

/// Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV
/// Injection"): `=`, `+`, `-`, `@`, TAB and CR.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
/// The neutralising prefix: a leading apostrophe makes Excel and LibreOffice
/// show the cell as text.
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

/// Formula-injection neutralisation (OWASP "CSV Injection"; SECURITY_BAR F1): a
/// cell that starts with `=`, `+`, `-`, `@`, TAB (0x09) or CR (0x0D) gets a
/// leading `'`. Everything else unchanged, except: a cell that already starts
/// with `'`s followed by a trigger (`'=x`) also gets one, so that
/// `unneutralise` can tell the two apart and the round trip is exact.
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
/// follows is a trigger character, possibly after more `'`s.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix(PREFIX) {
        Some(rest) if needs_prefix(rest) => rest,
        _ => cell,
    }
}

/// `'*` then a trigger. Including the apostrophes makes neutralise injective:
/// without it `'=x` (a value) and `'=x` (neutralised `=x`) would collide.
fn needs_prefix(cell: &str) -> bool {
    cell.trim_start_matches(PREFIX).starts_with(TRIGGERS)
}

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
/// space; double inner quotes), every cell neutralised first. `,` and TAB are
/// quoted too, so that a re-reader that guesses the separator (ours, Excel's
/// import) cannot mistake them for one.
///
/// Writes straight into `out` without an intermediate copy of the cell. `out`
/// may reallocate as it grows: reserve it up front if the caller wipes it.
pub fn csv_row(cells: &[Option<String>], out: &mut Vec<u8>) {
    csv_line(cells.iter().map(Option::as_deref), out);
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

/// One field: optional prefix, optional quotes, inner `"` doubled (RFC 4180 §2.7).
fn csv_field(cell: &str, out: &mut Vec<u8>) {
    let prefixed = needs_prefix(cell);
    let quoted = needs_quotes(cell, prefixed);
    if quoted {
        out.push(b'"');
    }
    if prefixed {
        out.push(b'\'');
    }
    // Byte-wise is safe: `"` is ASCII and never part of a multi-byte UTF-8 char.
    for &byte in cell.as_bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    if quoted {
        out.push(b'"');
    }
}

/// RFC 4180 §2.6 plus leading/trailing space (spreadsheets trim unquoted
/// spaces). A prefixed cell starts with `'`, so its leading space can't matter.
fn needs_quotes(cell: &str, prefixed: bool) -> bool {
    let special = cell
        .bytes()
        .any(|b| matches!(b, b';' | b'"' | b'\r' | b'\n' | b',' | b'\t'));
    special || (!prefixed && cell.starts_with(' ')) || cell.ends_with(' ')
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
/// `Error::Malformed`. One pass, no recursion, output linear in input.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, Error> {
    let body = bytes.strip_prefix(CSV_BOM).unwrap_or(bytes);
    let separator = detect_separator(body);
    CsvParser {
        bytes: body,
        pos: 0,
        line: 1,
        separator,
    }
    .records()
}

/// The candidate that occurs most often outside quotes on the first line;
/// ties go to the earlier candidate, no candidate at all means one column and
/// our own `;`.
fn detect_separator(body: &[u8]) -> u8 {
    let candidates = [CSV_SEPARATOR, b',', b'\t'];
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for &byte in body {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\r' | b'\n' if !in_quotes => break,
            _ if !in_quotes => {
                for (count, &candidate) in counts.iter_mut().zip(&candidates) {
                    if byte == candidate {
                        *count += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut best = CSV_SEPARATOR;
    let mut best_count = 0;
    for (&count, &candidate) in counts.iter().zip(&candidates) {
        if count > best_count {
            best = candidate;
            best_count = count;
        }
    }
    best
}

struct CsvParser<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based line for error messages (a position, never content).
    line: usize,
    separator: u8,
}

impl CsvParser<'_> {
    fn records(mut self) -> Result<Vec<Vec<String>>, Error> {
        let mut rows = Vec::new();
        while self.pos < self.bytes.len() {
            rows.push(self.record()?);
        }
        Ok(rows)
    }

    fn record(&mut self) -> Result<Vec<String>, Error> {
        let mut fields = Vec::new();
        loop {
            fields.push(self.field()?);
            match self.bytes.get(self.pos) {
                None => return Ok(fields),
                Some(&byte) if byte == self.separator => self.pos += 1,
                Some(b'\r' | b'\n') => {
                    self.end_of_line();
                    return Ok(fields);
                }
                Some(_) => {
                    return Err(Error::Malformed {
                        line: self.line,
                        reason: "text after a closing quote",
                    });
                }
            }
        }
    }

    /// Consumes CRLF, LF or a lone CR (called on CR or LF only).
    fn end_of_line(&mut self) {
        let crlf = self.bytes.get(self.pos..self.pos + 2) == Some(b"\r\n".as_slice());
        self.pos += if crlf { 2 } else { 1 };
        self.line += 1;
    }

    fn field(&mut self) -> Result<String, Error> {
        let start_line = self.line;
        let raw = if self.bytes.get(self.pos) == Some(&b'"') {
            self.quoted()?
        } else {
            self.unquoted()
        };
        String::from_utf8(raw).map_err(|_| Error::NotUtf8 { line: start_line })
    }

    /// Up to the next separator or line ending; the field may be empty.
    fn unquoted(&mut self) -> Vec<u8> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let length = rest
            .iter()
            .position(|&b| b == self.separator || b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        self.pos += length;
        rest.get(..length).unwrap_or_default().to_vec()
    }

    /// From an opening `"` to its closing `"`; `""` is one `"` (RFC 4180 §2.7).
    fn quoted(&mut self) -> Result<Vec<u8>, Error> {
        let start_line = self.line;
        self.pos += 1;
        let mut value = Vec::new();
        while let Some(&byte) = self.bytes.get(self.pos) {
            self.pos += 1;
            if byte != b'"' {
                if byte == b'\n' {
                    self.line += 1;
                }
                value.push(byte);
            } else if self.bytes.get(self.pos) == Some(&b'"') {
                self.pos += 1;
                value.push(b'"');
            } else {
                return Ok(value);
            }
        }
        Err(Error::Malformed {
            line: start_line,
            reason: "unterminated quote",
        })
    }
}

// ---------------------------------------------------------------------------
// XLSX writing
// ---------------------------------------------------------------------------

/// What an XLSX file says about itself (the extract id must be in every file).
pub struct XlsxInfo {
    pub extract_id: String,
    pub title: String,
    pub expires: String,
    pub notice: String,
}

/// Builds an XLSX workbook in memory: sheet 1 "Medlemmar" = bold header row +
/// data rows, every cell a neutralised *string* cell; sheet 2 "Om utdraget" =
/// key/value rows naming the extract. Document properties: title, subject =
/// extract id, comment = notice.
///
/// Memory, not disk: this uses rust_xlsxwriter's default mode only, never
/// `constant_memory`/`low_memory` (those spool rows to temp files). Checked in
/// rust_xlsxwriter 0.102.0: `tempfile` is an optional dependency behind the
/// `constant_memory` feature (Cargo.toml `[features]`), every temp-file path in
/// src/workbook.rs (`new_tempfile_writer`, `create_tempfile`) is
/// `#[cfg(feature = "constant_memory")]`, and `save_to_writer` →
/// `save_internal` → `Packager::new` (src/packager.rs) zips straight into the
/// writer via `zip::ZipWriter::new_stream`, building each XML part in an
/// in-memory `Cursor<Vec<u8>>`. We do not enable that feature.
///
/// Wiping covers the finished file only: rust_xlsxwriter's own copies (cell
/// table, shared strings, XML parts) are freed without being wiped.
pub struct XlsxBuilder {
    members: Worksheet,
    about: Worksheet,
    properties: DocProperties,
    /// Data rows written so far (the header is not counted).
    rows: usize,
    max_rows: usize,
}

impl XlsxBuilder {
    pub fn new(columns: &[&str], info: &XlsxInfo) -> Result<XlsxBuilder, Error> {
        Self::with_limit(columns, info, XLSX_MAX_ROWS)
    }

    /// A small row limit so the refusal test stays fast.
    #[cfg(test)]
    pub(crate) fn with_max_rows(
        columns: &[&str],
        info: &XlsxInfo,
        max_rows: usize,
    ) -> Result<XlsxBuilder, Error> {
        Self::with_limit(columns, info, max_rows)
    }

    fn with_limit(columns: &[&str], info: &XlsxInfo, max_rows: usize) -> Result<Self, Error> {
        let bold = Format::new().set_bold();
        let mut members = Worksheet::new();
        members.set_name(MEMBERS_SHEET).map_err(write_error)?;
        write_row(
            &mut members,
            0,
            columns.iter().map(|c| Some(*c)),
            Some(&bold),
        )?;
        // Keep the header visible while scrolling through thousands of members.
        members.set_freeze_panes(1, 0).map_err(write_error)?;
        Ok(XlsxBuilder {
            members,
            about: about_sheet(info, &bold)?,
            properties: DocProperties::new()
                .set_title(&info.title)
                .set_subject(&info.extract_id)
                .set_comment(&info.notice),
            rows: 0,
            max_rows,
        })
    }

    /// Appends one data row; refuses the row after `XLSX_MAX_ROWS`.
    pub fn push_row(&mut self, cells: &[Option<String>]) -> Result<(), Error> {
        if self.rows >= self.max_rows {
            return Err(Error::TooManyRows { max: self.max_rows });
        }
        let row = self.rows + 1;
        write_row(
            &mut self.members,
            row,
            cells.iter().map(Option::as_deref),
            None,
        )?;
        self.rows += 1;
        Ok(())
    }

    /// The finished file; the buffer is wiped when dropped.
    pub fn finish(self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut workbook = Workbook::new();
        workbook.set_properties(&self.properties);
        workbook.push_worksheet(self.members);
        workbook.push_worksheet(self.about);
        let mut sink = WipingBuffer::default();
        workbook.save_to_writer(&mut sink).map_err(write_error)?;
        Ok(sink.0)
    }
}

/// Sheet 2: what this file is, for whoever finds it.
fn about_sheet(info: &XlsxInfo, bold: &Format) -> Result<Worksheet, Error> {
    let mut about = Worksheet::new();
    about.set_name(ABOUT_SHEET).map_err(write_error)?;
    let rows = [
        ("Utdrag / Extract id", info.extract_id.as_str()),
        ("Ändamål / Purpose", info.title.as_str()),
        ("Gäller till / Expires", info.expires.as_str()),
        ("Obs / Notice", info.notice.as_str()),
    ];
    for (row, (key, value)) in rows.into_iter().enumerate() {
        write_cell(&mut about, row, 0, key, Some(bold))?;
        write_cell(&mut about, row, 1, value, None)?;
    }
    about.set_column_width(0, 24).map_err(write_error)?;
    about.set_column_width(1, 80).map_err(write_error)?;
    Ok(about)
}

fn write_row<'a>(
    sheet: &mut Worksheet,
    row: usize,
    cells: impl ExactSizeIterator<Item = Option<&'a str>>,
    format: Option<&Format>,
) -> Result<(), Error> {
    if cells.len() > XLSX_MAX_COLUMNS {
        return Err(Error::TooManyColumns {
            count: cells.len(),
            max: XLSX_MAX_COLUMNS,
        });
    }
    for (column, cell) in cells.enumerate() {
        if let Some(text) = cell {
            write_cell(sheet, row, column, text, format)?;
        }
    }
    Ok(())
}

/// One neutralised string cell. An empty string writes no cell: Excel has no
/// empty string cell, so `Some("")` and `None` read back alike.
fn write_cell(
    sheet: &mut Worksheet,
    row: usize,
    column: usize,
    text: &str,
    format: Option<&Format>,
) -> Result<(), Error> {
    if text.is_empty() {
        return Ok(());
    }
    let too_long = Error::CellTooLong { row, column };
    let (Ok(row_number), Ok(column_number)) = (u32::try_from(row), u16::try_from(column)) else {
        return Err(Error::XlsxWrite {
            kind: "row or column out of range",
        });
    };
    let mut value = neutralise(text);
    let result = if value.encode_utf16().count() > XLSX_MAX_CELL_UTF16 {
        Err(too_long)
    } else {
        write_string(sheet, row_number, column_number, &value, format).map_err(
            |error| match error {
                WriteError::MaxStringLengthExceeded => too_long,
                other => write_error(other),
            },
        )
    };
    // The prefixed copy is member data: wipe it.
    if let Cow::Owned(copy) = &mut value {
        copy.zeroize();
    }
    result
}

/// rust_xlsxwriter's shared-string writer (src/shared_strings.rs,
/// `write_sst_strings`) emits any string that starts with `<r>` and ends with
/// `</r>` *unescaped*, taking it for its own rich-text XML. A member value of
/// that shape would be injected into sharedStrings.xml raw (broken file at
/// best). Such values go through the rich-string API instead, which escapes
/// the text; that path skips the `_xHHHH_` escaping of plain strings, so we
/// do it here.
fn write_string(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    value: &str,
    format: Option<&Format>,
) -> Result<(), WriteError> {
    let looks_like_rich_text = value.starts_with("<r>") && value.ends_with("</r>");
    if looks_like_rich_text {
        let escaped = escape_ooxml_escapes(value);
        let default_format = Format::default();
        let segment_format = format.unwrap_or(&default_format);
        sheet.write_rich_string(row, column, &[(segment_format, escaped.as_str())])?;
    } else if let Some(format) = format {
        sheet.write_string_with_format(row, column, value, format)?;
    } else {
        sheet.write_string(row, column, value)?;
    }
    Ok(())
}

/// OOXML (ECMA-376 Part 1, §22.9.2.19 ST_Xstring) escapes characters as
/// `_xHHHH_`, so a literal `_xHHHH_` is written with its `_` escaped as
/// `_x005F_`. Same rule as rust_xlsxwriter's `escape_xml_escapes`.
fn escape_ooxml_escapes(value: &str) -> Zeroizing<String> {
    let mut escaped = Zeroizing::new(String::with_capacity(value.len()));
    for (index, ch) in value.char_indices() {
        let rest = value.as_bytes().get(index..).unwrap_or_default();
        if is_ooxml_escape(rest) {
            escaped.push_str("_x005F");
        }
        escaped.push(ch);
    }
    escaped
}

fn is_ooxml_escape(bytes: &[u8]) -> bool {
    matches!(bytes, [b'_', b'x', a, b, c, d, b'_', ..]
        if [a, b, c, d].iter().all(|h| h.is_ascii_hexdigit()))
}

/// Error kinds only: rust_xlsxwriter's messages can carry strings we passed in.
fn write_error(error: WriteError) -> Error {
    let kind = match error {
        WriteError::RowColumnLimitError => "row or column limit",
        WriteError::MaxStringLengthExceeded => "cell too long",
        WriteError::IoError(_) => "I/O",
        WriteError::ZipError(_) => "zip",
        _ => "writer",
    };
    Error::XlsxWrite { kind }
}

/// A `Write` sink for the finished file that never leaves an unwiped copy
/// behind when it grows: a plain `Vec` frees its old allocation unwiped on
/// reallocation.
#[derive(Default)]
struct WipingBuffer(Zeroizing<Vec<u8>>);

impl Write for WipingBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let needed = self
            .0
            .len()
            .checked_add(data.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        if needed > self.0.capacity() {
            let capacity = needed.max(self.0.capacity().saturating_mul(2));
            let mut bigger = Zeroizing::new(Vec::with_capacity(capacity));
            bigger.extend_from_slice(&self.0);
            // The old buffer is dropped here, and Zeroizing wipes it.
            self.0 = bigger;
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// XLSX reading
// ---------------------------------------------------------------------------

/// Reads the first worksheet as rows of text, header row included, in file
/// order: a grid from A1 to the last used cell, every row as wide as the
/// widest. Numbers as they display (`42`, not `42.0`; Rust's shortest
/// round-trip form otherwise), booleans as `TRUE`/`FALSE`, errors as `#N/A`
/// etc., empty cells as "". Empty rows and columns after the last used cell
/// are not in the file and so not returned. Refuses a used range larger than
/// XLSX_READ_MAX_CELLS instead of allocating it. Cells are read one at a time
/// (calamine's cell reader), not through `worksheet_range`, whose dense
/// allocation is what the bound protects against.
pub fn read_xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, Error> {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(read_error)?;
    let name = workbook
        .sheet_names()
        .into_iter()
        .next()
        .ok_or(Error::NoWorksheet)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(read_error)?;
    let mut cells = Vec::new();
    let mut extent = (0usize, 0usize);
    while let Some(cell) = reader.next_cell().map_err(read_error)? {
        let text = cell_text(cell.get_value());
        if text.is_empty() {
            continue;
        }
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        extent = (extent.0.max(row + 1), extent.1.max(column + 1));
        if extent.0.saturating_mul(extent.1) > XLSX_READ_MAX_CELLS {
            return Err(Error::TooLarge {
                max_cells: XLSX_READ_MAX_CELLS,
            });
        }
        cells.push((row, column, text));
    }
    Ok(into_grid(cells, extent))
}

/// Places sparse cells into a dense `rows × columns` grid; cells come in any
/// order, a repeated position keeps the last.
fn into_grid(
    cells: Vec<(usize, usize, String)>,
    (rows, columns): (usize, usize),
) -> Vec<Vec<String>> {
    let mut grid = vec![vec![String::new(); columns]; rows];
    for (row, column, text) in cells {
        if let Some(slot) = grid.get_mut(row).and_then(|r| r.get_mut(column)) {
            *slot = text;
        }
    }
    grid
}

fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::SharedString(text) => (*text).to_owned(),
        DataRef::String(text) | DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => {
            text.clone()
        }
        DataRef::Int(number) => number.to_string(),
        // f64's Display never adds ".0": 42.0 → "42", 3.5 → "3.5".
        DataRef::Float(number) => number.to_string(),
        DataRef::Bool(true) => "TRUE".to_owned(),
        DataRef::Bool(false) => "FALSE".to_owned(),
        // A date cell shows as its serial number: we never write dates.
        DataRef::DateTime(date) => date.to_string(),
        DataRef::Error(error) => error.to_string(),
        DataRef::Empty => String::new(),
    }
}

/// Error kinds only: calamine's messages can carry text from the file.
fn read_error(error: ReadError) -> Error {
    let kind = match error {
        ReadError::Io(_) => "I/O",
        ReadError::Zip(_) => "not a zip archive or damaged",
        ReadError::Xml(_) | ReadError::XmlAttr(_) | ReadError::XmlEof(_) => "malformed XML",
        ReadError::WorksheetNotFound(_) | ReadError::NotAWorksheet(_) => {
            "first sheet is not a worksheet"
        }
        _ => "unsupported content",
    };
    Error::XlsxRead { kind }
}
