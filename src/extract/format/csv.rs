//! CSV: writing the `;`-separated, BOM-prefixed file Swedish Excel opens (RFC 4180 quoting,
//! NUL dropped and every cell neutralised), and reading back what a spreadsheet re-saved.

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

/// One field, NUL dropped: optional prefix, optional quotes, inner `"` doubled
/// (RFC 4180 §2.7).
fn csv_field(cell: &str, out: &mut Vec<u8>) {
    let mut text = csv_text(cell);
    write_field(&text, out);
    // The copy without NUL is member data: wipe it.
    if let Cow::Owned(copy) = &mut text {
        copy.zeroize();
    }
}

fn write_field(cell: &str, out: &mut Vec<u8>) {
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
