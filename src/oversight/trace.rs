//! The auditor's leak trace: which extract does this file come from?
//!
//! A leaked copy comes back as a spreadsheet left it: renamed, re-saved in another encoding or
//! separator, rows deleted or reordered, columns added. The trace reads it (CSV in UTF-8,
//! UTF-16 or Windows-1252, or XLSX), finds the header row — field ids (`member_id`, the API's
//! files and every file before issue 18) or field names in Swedish or English (`Medlemsnummer`,
//! `Member number`, the pages' files; [`HEADER_NAMES`]) — ties each row to the disclosure
//! ledger — by the member number's pseudonym when the file has member numbers, else by the
//! row's keyed tag (`fingerprint`) — and scores every extract that shares rows with the file:
//!
//! - *coverage*: the share of the file's rows that the extract held;
//! - *order*: the share of those rows that stand in the extract's own keyed order (the longest
//!   run of rising ledger positions, in file order). Every extract has its own order key, so a
//!   copy of *another* extract of the same members keeps only about 2·√n of n rows in order,
//!   while the source keeps all of them, however many rows were deleted.
//!
//! Guarantees: only extracts in the asker's audit scope are considered or named; the file is
//! read as it streams in ([`leaked`]), keyed row by row and never stored or logged — memory is
//! its keys, not its bytes; the trace is an audit event with counts, candidate ids and the
//! file's SHA-256 — never a cell. A file over [`MAX_TRACE_ROWS`] rows is refused, not cut.
//! Each extract's ledger is read on its own (its rows in order, or looked up by member), so
//! tracing never needs an index across extracts.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::PseudonymKey;
use crate::extract::Error;
use crate::extract::fingerprint::normalise;
use crate::extract::request::Request;
use crate::extract::review::{self, Described};
use crate::nouns::Field;
use crate::policy::{Principal, Reach};
use crate::store::Store;
pub mod leaked;
mod score;

pub use leaked::{Key, Keyed, LeakedFile, ReadFile};
pub use score::chance_in_order;
use score::score;

/// The largest file the trace reads (CSV; an XLSX file up to [`leaked::MAX_XLSX_BYTES`]).
pub const MAX_TRACE_BYTES: usize = 512 * 1024 * 1024;
/// Most data rows the trace reads: twice a 1 000 000-row extract. Memory is about 28 bytes a
/// row at most (its key and place, and its ledger position in one extract at a time).
pub const MAX_TRACE_ROWS: usize = 2_000_000;
/// How many candidates an answer names.
pub const MAX_CANDIDATES: usize = 5;
/// The header row is looked for among the first rows (a spreadsheet may add a title above).
const HEADER_SEARCH_ROWS: usize = 20;

/// How the file's rows were tied to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// By the member number's pseudonym: exact.
    MemberId,
    /// By the keyed tag of first and last name, or of all recognised columns.
    RowTag,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::MemberId => "member_id",
            KeyKind::RowTag => "row_tag",
        }
    }
}

/// How sure the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// No extract in scope shares a row with the file.
    None,
    /// Some rows match, but they do not single out one extract.
    Low,
    /// Only one extract holds (nearly) all the file's members, but the row order — changed or
    /// too short — does not confirm it.
    Medium,
    /// (Nearly) all rows are members of this extract *and* stand in its own keyed order, which
    /// no other candidate's order comes close to.
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::None => "none",
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// One extract the file may come from, with the numbers behind it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub described: Described,
    /// The file's rows this extract held.
    pub matched: usize,
    /// Of those, the most that stand in the extract's keyed order.
    pub in_order: usize,
    /// How many members the extract held.
    pub extract_rows: i64,
    /// The file's recognised columns are exactly the extract's fields.
    pub same_columns: bool,
    pub coverage: f64,
    pub order: f64,
    pub score: f64,
    /// Sentences an auditor can put in a report.
    pub evidence: Vec<String>,
}

/// The trace's answer.
#[derive(Debug, Clone)]
pub struct Traced {
    /// SHA-256 of the file as received (hex), to name it in a report.
    pub file_sha256: String,
    /// Data rows read (below the header, empty rows skipped).
    pub rows: usize,
    /// The header's columns the trace recognised, in file order.
    pub columns: Vec<Field>,
    pub key: KeyKind,
    pub confidence: Confidence,
    /// How many extracts in scope share at least one row with the file.
    pub extracts_sharing_rows: usize,
    /// Best first, at most [`MAX_CANDIDATES`].
    pub candidates: Vec<Candidate>,
}

/// Read `file` for the trace, in one piece.
pub fn read_bytes(pseudonyms: &PseudonymKey, file: &[u8]) -> Result<ReadFile, Error> {
    if file.len() > MAX_TRACE_BYTES {
        return Err(too_large());
    }
    let mut leaked = LeakedFile::new();
    leaked.feed(pseudonyms, file)?;
    leaked.finish(pseudonyms)
}

/// Read the file at `path` for the trace, a piece at a time (blocking: for the CLI).
pub fn read_path(pseudonyms: &PseudonymKey, path: &std::path::Path) -> Result<ReadFile, Error> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Error::BadInput(format!("the file cannot be read: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut leaked = LeakedFile::new();
    let mut piece = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut piece).map_err(cannot)?;
        if n == 0 {
            break;
        }
        if leaked.bytes() + n as u64 > MAX_TRACE_BYTES as u64 {
            return Err(too_large());
        }
        leaked.feed(pseudonyms, piece.get(..n).unwrap_or_default())?;
    }
    leaked.finish(pseudonyms)
}

/// The refusal of a file over [`MAX_TRACE_BYTES`].
pub fn too_large() -> Error {
    Error::BadInput(format!(
        "the file is larger than {} MiB; the trace reads files up to that size",
        MAX_TRACE_BYTES / (1024 * 1024)
    ))
}

/// Trace a read `file` for a signed-in auditor: scope from the policy, audited as the user.
pub async fn trace(
    state: &Context,
    who: &Principal,
    file: ReadFile,
    now: OffsetDateTime,
) -> Result<Traced, Error> {
    let permit = review::audit_permit(state, who).await?;
    trace_as(
        &state.store,
        &Actor::user(permit.user_id()),
        permit.reach(),
        file,
        now,
    )
    .await
}

/// Trace a read `file` among the released extracts within `reach`, audited as `actor`.
pub async fn trace_as(
    store: &Store,
    actor: &Actor,
    reach: &Reach,
    file: ReadFile,
    now: OffsetDateTime,
) -> Result<Traced, Error> {
    let districts = reach.district_names();
    let districts = districts.as_deref();
    let ReadFile {
        keyed,
        sha256: file_sha256,
        bytes,
    } = file;
    let (sharing, mut scored) = score(store, &keyed, districts).await?;
    scored.truncate(MAX_CANDIDATES);
    let mut candidates = Vec::with_capacity(scored.len());
    for s in scored {
        let Some(row) = store.find_extract(&s.extract_id).await? else {
            continue;
        };
        let fields = Request::from_json(&row.request)?.fields;
        let mut c = Candidate {
            same_columns: same_set(&fields, &keyed.columns),
            described: review::describe_in(store, row).await?,
            matched: s.matched,
            in_order: s.in_order,
            extract_rows: 0,
            coverage: s.coverage,
            order: s.order,
            score: s.score,
            evidence: Vec::new(),
        };
        c.extract_rows = c.described.row.row_count.unwrap_or(0);
        c.evidence = evidence(&c, keyed.rows, &fields, &keyed.columns);
        candidates.push(c);
    }
    let confidence = confidence(&candidates);
    let event = Event::new(
        EventKind::AuditTrace,
        actor.clone(),
        &format!("file:{file_sha256}"),
        Outcome::Success,
        json!({
            "bytes": bytes, "rows": keyed.rows, "key": keyed.kind.as_str(),
            "confidence": confidence.as_str(), "extracts_sharing_rows": sharing,
            "candidates": candidates.iter().map(|c| c.described.row.id.as_str()).collect::<Vec<_>>(),
            "scope": reach.names(),
        }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(Traced {
        file_sha256,
        rows: keyed.rows,
        columns: keyed.columns,
        key: keyed.kind,
        confidence,
        extracts_sharing_rows: sharing,
        candidates,
    })
}

/// The file's cells, as text: XLSX by its zip signature, else CSV in UTF-8 (with or without
/// BOM), UTF-16 (with BOM, as Excel's "Unicode text") or Windows-1252 (Excel's plain "CSV").
pub const HEADER_NAMES: &[(&str, Field)] = &[
    ("Medlemsnummer", Field::MemberId),
    ("Member number", Field::MemberId),
    ("Förnamn", Field::FirstName),
    ("First name", Field::FirstName),
    ("Efternamn", Field::LastName),
    ("Last name", Field::LastName),
    ("E-post", Field::Email),
    ("Email", Field::Email),
    ("Telefon", Field::Phone),
    ("Phone", Field::Phone),
    ("Gatuadress", Field::StreetAddress),
    ("Street address", Field::StreetAddress),
    ("Postnummer", Field::PostalCode),
    ("Postcode", Field::PostalCode),
    ("Ort", Field::City),
    ("City", Field::City),
    ("Födelsedatum", Field::BirthDate),
    ("Date of birth", Field::BirthDate),
    ("Personnummer", Field::PersonalNumber),
    ("Personal identity number", Field::PersonalNumber),
    ("Distrikt", Field::District),
    ("District", Field::District),
    ("Partiförening", Field::LocalBranch),
    ("Local branch", Field::LocalBranch),
    ("Medlemsstatus", Field::MembershipStatus),
    ("Membership status", Field::MembershipStatus),
    ("Medlem sedan", Field::JoinedOn),
    ("Member since", Field::JoinedOn),
    ("Samtycke e-post", Field::ConsentEmail),
    ("Email consent", Field::ConsentEmail),
    ("Samtycke telefon", Field::ConsentPhone),
    ("Phone consent", Field::ConsentPhone),
    ("Samtycke sms", Field::ConsentSms),
    ("SMS consent", Field::ConsentSms),
    ("Samtycke post", Field::ConsentPost),
    ("Post consent", Field::ConsentPost),
    ("Skyddad identitet", Field::ProtectedIdentity),
    ("Protected identity", Field::ProtectedIdentity),
];

/// A header cell as a field: its id or a name of [`HEADER_NAMES`], in the spellings a person
/// or a spreadsheet gives it — `first_name`, `First name`, `first-name`, `FÖRNAMN`, `Förnamn `
/// all name one.
pub fn header_field(cell: &str) -> Option<Field> {
    let spelled = |text: &str| normalise(text).replace([' ', '-'], "_");
    let cell = spelled(cell);
    cell.parse().ok().or_else(|| {
        HEADER_NAMES
            .iter()
            .find(|(name, _)| spelled(name) == cell)
            .map(|(_, field)| *field)
    })
}

fn confidence(candidates: &[Candidate]) -> Confidence {
    let Some(best) = candidates.first() else {
        return Confidence::None;
    };
    let rival = candidates
        .get(1)
        .filter(|r| r.coverage >= 0.5 * best.coverage);
    let order_confirms = best.matched >= 20
        && best.order >= 0.9
        && best.in_order > 2 * chance_in_order(best.matched)
        && rival.is_none_or(|r| r.order < 0.6);
    if best.coverage >= 0.8 && order_confirms {
        Confidence::High
    } else if best.coverage >= 0.8 && rival.is_none() {
        Confidence::Medium
    } else {
        Confidence::Low
    }
}

fn same_set(a: &[Field], b: &[Field]) -> bool {
    a.len() == b.len() && a.iter().all(|f| b.contains(f))
}

fn percent(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn names(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn evidence(c: &Candidate, rows: usize, fields: &[Field], columns: &[Field]) -> Vec<String> {
    let mut out = vec![format!(
        "{} of the file's {rows} rows are members this extract held ({}).",
        c.matched,
        percent(c.coverage)
    )];
    out.push(format!(
        "{} of those {} rows stand in this extract's own keyed row order; a copy of another \
         extract of the same members would keep about {} in order.",
        c.in_order,
        c.matched,
        chance_in_order(c.matched)
    ));
    let missing = c.extract_rows - i64::try_from(c.matched).unwrap_or(i64::MAX);
    if missing > 0 {
        out.push(format!(
            "The extract held {} members; {missing} of them are not in the file (rows deleted \
             from the copy, or the file is a part of it).",
            c.extract_rows
        ));
    }
    if c.same_columns {
        out.push(format!(
            "The file's columns are the extract's fields ({}).",
            names(fields)
        ));
    } else {
        out.push(format!(
            "The file's recognised columns ({}) differ from the extract's fields ({}).",
            names(columns),
            names(fields)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_recognised_in_the_spellings_a_person_gives_it() {
        assert_eq!(header_field("First name"), Some(Field::FirstName));
        assert_eq!(header_field(" last-name "), Some(Field::LastName));
        assert_eq!(header_field("member_id"), Some(Field::MemberId));
        assert_eq!(header_field("Anteckning"), None);
    }

    #[test]
    fn a_header_in_swedish_or_english_names_its_field_as_the_id_does() {
        assert_eq!(header_field("Medlemsnummer"), Some(Field::MemberId));
        assert_eq!(header_field("Member number"), Some(Field::MemberId));
        assert_eq!(header_field("FÖRNAMN"), Some(Field::FirstName));
        assert_eq!(header_field(" samtycke  e-post"), Some(Field::ConsentEmail));
        assert_eq!(header_field("Medlem sedan"), Some(Field::JoinedOn));
        // Every field has a name in both languages, and no name names two fields.
        for field in Field::ALL {
            let names = HEADER_NAMES.iter().filter(|(_, f)| *f == field).count();
            assert!(names >= 2, "{field:?} has {names} names");
        }
        for (name, field) in HEADER_NAMES {
            assert_eq!(header_field(name), Some(*field), "{name}");
        }
    }

    fn read(file: &[u8]) -> Result<Keyed, Error> {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        read_bytes(&key, file).map(|f| f.keyed)
    }

    /// The same file fed in pieces of every size from 1 to 9 bytes reads the same.
    fn read_in_pieces(file: &[u8]) -> Vec<Result<Keyed, String>> {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        (1..10)
            .map(|size| {
                let mut leaked = LeakedFile::new();
                for piece in file.chunks(size) {
                    leaked.feed(&key, piece).map_err(|e| e.to_string())?;
                }
                leaked
                    .finish(&key)
                    .map(|f| f.keyed)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn a_swedish_file_is_keyed_by_its_member_numbers_with_their_zeros() {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        let file = "\u{feff}Medlemsnummer;Förnamn;Postnummer\r\n'000123;Åsa;'01234\r\n";
        let keyed = read(file.as_bytes()).unwrap();
        assert_eq!(
            keyed.columns,
            [Field::MemberId, Field::FirstName, Field::PostalCode]
        );
        assert_eq!(keyed.kind, KeyKind::MemberId);
        assert_eq!(keyed.by_key, [(*key.member_ref("000123").as_bytes(), 0)]);
    }

    #[test]
    fn a_file_without_a_header_is_refused_with_a_sentence() {
        let err = read(b"Anna;Berg\r\n").err().unwrap();
        assert!(err.to_string().contains("header row"), "{err}");
        let titles = "Lista\r\n".repeat(HEADER_SEARCH_ROWS) + "first_name;last_name\r\nA;B\r\n";
        let err = read(titles.as_bytes()).err().unwrap();
        assert!(err.to_string().contains("header row"), "{err}");
        let titles = "Lista\r\n".repeat(HEADER_SEARCH_ROWS - 1) + "first_name;last_name\r\nA;B\r\n";
        assert_eq!(read(titles.as_bytes()).unwrap().rows, 1);
    }

    #[test]
    fn windows_1252_and_utf16_files_read_as_text_whatever_the_pieces() {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        let tag = |first: &str, last: &str| {
            let tags = crate::extract::fingerprint::TagColumns::for_fields(&[
                Field::FirstName,
                Field::LastName,
            ]);
            leaked::key_of(tags.row_ref(&key, &[Some(first), Some(last)]).as_bytes())
        };
        let cp1252 = b"first_name;last_name\r\nAnna;Berg\r\n\xC5sa;\xD6berg\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "first_name\tlast_name\r\nAnna\tBerg\r\nÅsa\tÖberg\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let utf8 = "\u{feff}first_name,last_name\nAnna,Berg\nÅsa,Öberg\n";
        let mut expected = vec![(tag("Anna", "Berg"), 0), (tag("Åsa", "Öberg"), 1)];
        expected.sort_unstable();
        for file in [&cp1252[..], &utf16, utf8.as_bytes()] {
            for keyed in read_in_pieces(file) {
                let keyed = keyed.unwrap();
                assert_eq!(keyed.kind, KeyKind::RowTag);
                assert_eq!(keyed.by_key, expected);
            }
        }
    }

    #[test]
    fn a_file_mixing_utf8_and_windows_1252_is_refused_not_misread() {
        let mixed = b"first_name;last_name\r\n\xC3\x85sa;Berg\r\n\xC5sa;\xD6berg\r\n";
        for keyed in read_in_pieces(mixed) {
            assert!(keyed.unwrap_err().contains("mixes text encodings"));
        }
    }

    #[test]
    fn a_file_over_the_row_limit_is_refused_not_cut() {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        let file = format!("first_name;last_name\n{}", "A;B\n".repeat(11));
        let mut leaked = LeakedFile::with_max_rows(11);
        leaked.feed(&key, file.as_bytes()).unwrap();
        assert_eq!(leaked.finish(&key).unwrap().keyed.rows, 11);
        let mut leaked = LeakedFile::with_max_rows(10);
        let err = leaked.feed(&key, file.as_bytes()).err().unwrap();
        assert!(err.to_string().contains("at most 10"), "{err}");
    }
}
