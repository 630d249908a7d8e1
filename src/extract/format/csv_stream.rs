//! Reading CSV as it arrives: the same records [`read_csv`](super::read_csv) gives, from text fed
//! in pieces of any size, holding only the record being read.
//!
//! Guarantees: feeding a text in one piece or split anywhere gives the same records and the same
//! errors ([`read_csv`](super::read_csv) is this reader fed once; optional UTF-8 BOM; separator detected from the first
//! line among `;`, `,`, TAB; RFC 4180 quotes; CRLF, LF or a lone CR end a record). Memory is one
//! record plus the piece fed: a record longer than [`MAX_RECORD_BYTES`] is refused, never cut.

use super::{CSV_BOM, CSV_SEPARATOR, Error};

/// The longest record (a row with its quoted line breaks) the reader holds.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// A CSV reader fed text in pieces ([`CsvStream::feed`]) that hands back whole records.
#[derive(Debug, Default)]
pub struct CsvStream {
    /// Text fed and not yet read into records.
    pending: Vec<u8>,
    /// Whether the start (and its BOM) has been looked at.
    started: bool,
    separator: Option<u8>,
    /// 1-based line of `pending`'s first byte, for error messages (a position, never content).
    line: usize,
}

impl CsvStream {
    pub fn new() -> CsvStream {
        CsvStream {
            line: 1,
            ..CsvStream::default()
        }
    }

    /// Feeds the next piece of text; the records it completed, in file order.
    pub fn feed(&mut self, text: &[u8]) -> Result<Vec<Vec<String>>, Error> {
        self.pending.extend_from_slice(text);
        self.records(false)
    }

    /// The records left once the whole text has been fed.
    pub fn finish(mut self) -> Result<Vec<Vec<String>>, Error> {
        self.records(true)
    }

    fn records(&mut self, eof: bool) -> Result<Vec<Vec<String>>, Error> {
        if !self.started {
            if self.pending.len() < CSV_BOM.len() && !eof && CSV_BOM.starts_with(&self.pending) {
                return Ok(Vec::new());
            }
            if self.pending.starts_with(CSV_BOM) {
                self.pending.drain(..CSV_BOM.len());
            }
            self.started = true;
        }
        let separator = match self.separator {
            Some(s) => s,
            None => match detect_separator(&self.pending, eof) {
                Some(s) => {
                    self.separator = Some(s);
                    s
                }
                None => return self.held(Vec::new()),
            },
        };
        let mut parser = Parser {
            bytes: &self.pending,
            pos: 0,
            line: self.line,
            separator,
            eof,
        };
        let mut rows = Vec::new();
        let mut consumed = 0;
        while parser.pos < parser.bytes.len() {
            match parser.record()? {
                Some(row) => {
                    rows.push(row);
                    consumed = parser.pos;
                    self.line = parser.line;
                }
                None => break,
            }
        }
        self.pending.drain(..consumed);
        self.held(rows)
    }

    /// `rows`, unless the text held back has grown past one record's limit.
    fn held(&self, rows: Vec<Vec<String>>) -> Result<Vec<Vec<String>>, Error> {
        if self.pending.len() > MAX_RECORD_BYTES {
            return Err(Error::Malformed {
                line: self.line,
                reason: "a record longer than 4 MiB (an unterminated quote?)",
            });
        }
        Ok(rows)
    }
}

/// The candidate that occurs most often outside quotes on the first line; ties go to the
/// earlier candidate, no candidate at all means one column and our own `;`. `None` while the
/// first line has not ended and more text may come.
fn detect_separator(body: &[u8], eof: bool) -> Option<u8> {
    let candidates = [CSV_SEPARATOR, b',', b'\t'];
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    let mut ended = eof;
    for &byte in body {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\r' | b'\n' if !in_quotes => {
                ended = true;
                break;
            }
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
    if !ended {
        return None;
    }
    let mut best = CSV_SEPARATOR;
    let mut best_count = 0;
    for (&count, &candidate) in counts.iter().zip(&candidates) {
        if count > best_count {
            best = candidate;
            best_count = count;
        }
    }
    Some(best)
}

/// One pass over the text held; `Ok(None)` where a record runs past the end of the text and
/// more may come (`eof` false).
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    separator: u8,
    eof: bool,
}

impl Parser<'_> {
    fn record(&mut self) -> Result<Option<Vec<String>>, Error> {
        let mut fields = Vec::new();
        loop {
            let Some(field) = self.field()? else {
                return Ok(None);
            };
            fields.push(field);
            match self.bytes.get(self.pos) {
                None if self.eof => return Ok(Some(fields)),
                None => return Ok(None),
                Some(&byte) if byte == self.separator => self.pos += 1,
                Some(b'\r') if !self.eof && self.pos + 1 == self.bytes.len() => {
                    // A CR at the end of the text fed: wait to see whether LF follows.
                    return Ok(None);
                }
                Some(b'\r' | b'\n') => {
                    self.end_of_line();
                    return Ok(Some(fields));
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

    fn field(&mut self) -> Result<Option<String>, Error> {
        let start_line = self.line;
        let raw = if self.bytes.get(self.pos) == Some(&b'"') {
            match self.quoted()? {
                Some(raw) => raw,
                None => return Ok(None),
            }
        } else {
            self.unquoted()
        };
        String::from_utf8(raw)
            .map(Some)
            .map_err(|_| Error::NotUtf8 { line: start_line })
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

    /// From an opening `"` to its closing `"`; `""` is one `"` (RFC 4180 §2.7). `Ok(None)`
    /// when the text fed ends inside the quote, or right after a `"` that may be doubled.
    fn quoted(&mut self) -> Result<Option<Vec<u8>>, Error> {
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
            } else if self.pos == self.bytes.len() && !self.eof {
                return Ok(None);
            } else {
                return Ok(Some(value));
            }
        }
        if !self.eof {
            return Ok(None);
        }
        Err(Error::Malformed {
            line: start_line,
            reason: "unterminated quote",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_at_once(text: &[u8]) -> Result<Vec<Vec<String>>, Error> {
        let mut s = CsvStream::new();
        let mut rows = s.feed(text)?;
        rows.extend(s.finish()?);
        Ok(rows)
    }

    fn in_pieces(text: &[u8], size: usize) -> Result<Vec<Vec<String>>, Error> {
        let mut s = CsvStream::new();
        let mut rows = Vec::new();
        for piece in text.chunks(size) {
            rows.extend(s.feed(piece)?);
        }
        rows.extend(s.finish()?);
        Ok(rows)
    }

    #[test]
    fn any_split_gives_the_records_of_one_piece() {
        let texts: &[&[u8]] = &[
            b"\xEF\xBB\xBFmember_id;first_name\r\n1;\"Anna \"\"A\"\"\"\r\n2;Bo\r\n",
            b"a,b,c\n1,\"x\ny\",3\n\n4,5,6",
            b"a\tb\r1\t2\r3\t4\r",
            b"one column only\nsecond",
            b"a;b\n1;\"unterminated\n",
            b"a;b\n1;\"x\"y\n",
            b"\"quoted, header\";b\r\n1;2",
            b"",
            b"\xEF\xBB",
        ];
        for text in texts {
            let whole = all_at_once(text).map_err(|e| e.to_string());
            for size in 1..8 {
                assert_eq!(
                    in_pieces(text, size).map_err(|e| e.to_string()),
                    whole,
                    "pieces of {size} of {:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn a_record_past_the_limit_is_refused_not_cut() {
        let mut s = CsvStream::new();
        s.feed(b"a;b\n1;\"").unwrap();
        let piece = vec![b'x'; 1024 * 1024];
        let refused = (0..8).find_map(|_| s.feed(&piece).err());
        assert!(matches!(refused, Some(Error::Malformed { line: 2, .. })));
    }
}
