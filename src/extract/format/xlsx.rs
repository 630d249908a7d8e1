//! XLSX: the workbook built in memory (never a temporary file), and reading one back.

use super::*;

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
/// data rows, every cell a *string* cell holding the value as it is, with the
/// quote prefix where CSV would add a `'` ([`Formats`]); sheet 2 "Om utdraget" =
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
    formats: Formats,
    about: Worksheet,
    properties: DocProperties,
    /// Data rows written so far (the header is not counted).
    rows: usize,
    pub(super) max_rows: usize,
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
        let formats = Formats::new();
        let mut members = Worksheet::new();
        members.set_name(MEMBERS_SHEET).map_err(write_error)?;
        write_row(
            &mut members,
            0,
            columns.iter().map(|c| Some(*c)),
            &formats.header,
        )?;
        // Keep the header visible while scrolling through thousands of members.
        members.set_freeze_panes(1, 0).map_err(write_error)?;
        Ok(XlsxBuilder {
            members,
            about: about_sheet(info, &formats)?,
            formats,
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
        self.push(cells.iter().map(Option::as_deref))
    }

    /// [`push_row`](Self::push_row) for cells borrowed from an opened chunk
    /// (`container::for_each_row`), without a copy of each cell.
    pub fn push_cells(&mut self, cells: &[Option<&str>]) -> Result<(), Error> {
        self.push(cells.iter().copied())
    }

    fn push<'a>(
        &mut self,
        cells: impl ExactSizeIterator<Item = Option<&'a str>>,
    ) -> Result<(), Error> {
        if self.rows >= self.max_rows {
            return Err(Error::TooManyRows { max: self.max_rows });
        }
        let row = self.rows + 1;
        write_row(&mut self.members, row, cells, &self.formats.data)?;
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
fn about_sheet(info: &XlsxInfo, formats: &Formats) -> Result<Worksheet, Error> {
    let mut about = Worksheet::new();
    about.set_name(ABOUT_SHEET).map_err(write_error)?;
    let rows = [
        ("Utdrag / Extract id", info.extract_id.as_str()),
        ("Ändamål / Purpose", info.title.as_str()),
        ("Gäller till / Expires", info.expires.as_str()),
        ("Obs / Notice", info.notice.as_str()),
    ];
    for (row, (key, value)) in rows.into_iter().enumerate() {
        write_cell(&mut about, row, 0, key, &formats.header)?;
        write_cell(&mut about, row, 1, value, &formats.data)?;
    }
    about.set_column_width(0, 24).map_err(write_error)?;
    about.set_column_width(1, 80).map_err(write_error)?;
    Ok(about)
}

/// The cell formats of a workbook: the header's and the data's, each plain and with the quote
/// prefix.
struct Formats {
    header: CellFormats,
    data: CellFormats,
}

/// A cell format, and the same with the quote prefix (ECMA-376 Part 1 §18.8.45 `quotePrefix`;
/// rust_xlsxwriter `Format::set_quote_prefix`): the mark that a cell's text is text. Excel and
/// LibreOffice then keep it as text when it is edited — `=1+1` or `0701234567` typed back in
/// stays text — and show no apostrophe. On a string cell it adds nothing else: a string cell
/// is never a formula or a number.
struct CellFormats {
    plain: Format,
    quoted: Format,
}

impl Formats {
    fn new() -> Formats {
        let of = |format: Format| CellFormats {
            quoted: format.clone().set_quote_prefix(),
            plain: format,
        };
        Formats {
            header: of(Format::new().set_bold()),
            data: of(Format::new()),
        }
    }
}

impl CellFormats {
    /// The quoted format for a cell whose CSV form would start with the text mark `'`.
    fn for_text(&self, text: &str) -> &Format {
        if needs_prefix(text) {
            &self.quoted
        } else {
            &self.plain
        }
    }
}

fn write_row<'a>(
    sheet: &mut Worksheet,
    row: usize,
    cells: impl ExactSizeIterator<Item = Option<&'a str>>,
    formats: &CellFormats,
) -> Result<(), Error> {
    if cells.len() > XLSX_MAX_COLUMNS {
        return Err(Error::TooManyColumns {
            count: cells.len(),
            max: XLSX_MAX_COLUMNS,
        });
    }
    for (column, cell) in cells.enumerate() {
        if let Some(text) = cell {
            write_cell(sheet, row, column, text, formats)?;
        }
    }
    Ok(())
}

/// One string cell holding `text` as it is, quote-prefixed when it needs the text mark
/// ([`CellFormats::for_text`]). An empty string writes no cell: Excel has no empty string
/// cell, so `Some("")` and `None` read back alike.
fn write_cell(
    sheet: &mut Worksheet,
    row: usize,
    column: usize,
    text: &str,
    formats: &CellFormats,
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
    // A UTF-8 text has at least as many bytes as UTF-16 code units: count only a long one.
    if text.len() > XLSX_MAX_CELL_UTF16 && text.encode_utf16().count() > XLSX_MAX_CELL_UTF16 {
        return Err(too_long);
    }
    let format = formats.for_text(text);
    write_string(sheet, row_number, column_number, text, format).map_err(|error| match error {
        WriteError::MaxStringLengthExceeded => too_long,
        other => write_error(other),
    })
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
    format: &Format,
) -> Result<(), WriteError> {
    let looks_like_rich_text = value.starts_with("<r>") && value.ends_with("</r>");
    if looks_like_rich_text {
        let escaped = escape_ooxml_escapes(value);
        let segments = [(format, escaped.as_str())];
        sheet.write_rich_string_with_format(row, column, &segments, format)?;
    } else {
        sheet.write_string_with_format(row, column, value, format)?;
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
/// widest. String cells as stored: the quote prefix is a cell format and not
/// read, so a cell we marked comes back as the value itself (a cell of a file
/// made before the quote prefix with the `'` it held). Numbers as they display (`42`, not `42.0`; Rust's shortest
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
