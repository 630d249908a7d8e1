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
//! read in memory and never stored or logged; the trace is an audit event with counts,
//! candidate ids and the file's SHA-256 — never a cell. A file over [`MAX_TRACE_ROWS`] rows is
//! refused, not cut.

use std::collections::HashMap;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::PseudonymKey;
use crate::extract::Error;
use crate::extract::fingerprint::{TagColumns, normalise, normalise_member_id};
use crate::extract::format;
use crate::extract::request::Request;
use crate::extract::review::{self, Described};
use crate::nouns::Field;
use crate::policy::{Principal, Reach};
use crate::store::Store;
use crate::store::trace::LedgerKey;

/// The largest file the trace reads.
pub const MAX_TRACE_BYTES: usize = 32 * 1024 * 1024;
/// Most data rows the trace reads (the XLSX limit of a delivered extract).
pub const MAX_TRACE_ROWS: usize = format::XLSX_MAX_ROWS;
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

/// The file's rows, keyed for the ledger.
struct Keyed {
    columns: Vec<Field>,
    kind: KeyKind,
    /// One key per data row, in file order.
    keys: Vec<Vec<u8>>,
}

/// Trace `file` for a signed-in auditor: scope from the policy, audited as the user.
pub async fn trace(
    state: &Context,
    who: &Principal,
    file: &[u8],
    now: OffsetDateTime,
) -> Result<Traced, Error> {
    let permit = review::audit_permit(state, who).await?;
    trace_as(
        &state.store,
        &state.pseudonyms,
        &Actor::user(permit.user_id()),
        permit.reach(),
        file,
        now,
    )
    .await
}

/// Trace `file` among the released extracts within `reach`, audited as `actor`.
pub async fn trace_as(
    store: &Store,
    pseudonyms: &PseudonymKey,
    actor: &Actor,
    reach: &Reach,
    file: &[u8],
    now: OffsetDateTime,
) -> Result<Traced, Error> {
    let districts = reach.district_names();
    let districts = districts.as_deref();
    if file.len() > MAX_TRACE_BYTES {
        return Err(Error::BadInput(format!(
            "the file is larger than {} MiB; the trace reads files up to that size",
            MAX_TRACE_BYTES / (1024 * 1024)
        )));
    }
    let table = read_table(file)?;
    let keyed = key_rows(pseudonyms, &table)?;
    let file_sha256 = hex::encode(Sha256::digest(file));
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
        c.evidence = evidence(&c, keyed.keys.len(), &fields, &keyed.columns);
        candidates.push(c);
    }
    let confidence = confidence(&candidates);
    let event = Event::new(
        EventKind::AuditTrace,
        actor.clone(),
        &format!("file:{file_sha256}"),
        Outcome::Success,
        json!({
            "bytes": file.len(), "rows": keyed.keys.len(), "key": keyed.kind.as_str(),
            "confidence": confidence.as_str(), "extracts_sharing_rows": sharing,
            "candidates": candidates.iter().map(|c| c.described.row.id.as_str()).collect::<Vec<_>>(),
            "scope": reach.names(),
        }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(Traced {
        file_sha256,
        rows: keyed.keys.len(),
        columns: keyed.columns,
        key: keyed.kind,
        confidence,
        extracts_sharing_rows: sharing,
        candidates,
    })
}

/// The file's cells, as text: XLSX by its zip signature, else CSV in UTF-8 (with or without
/// BOM), UTF-16 (with BOM, as Excel's "Unicode text") or Windows-1252 (Excel's plain "CSV").
pub fn read_table(file: &[u8]) -> Result<Vec<Vec<String>>, Error> {
    let bad = |e: format::Error| Error::BadInput(format!("the file cannot be read: {e}"));
    if file.starts_with(b"PK\x03\x04") {
        return format::read_xlsx(file).map_err(bad);
    }
    if file.starts_with(b"\xFF\xFE") || file.starts_with(b"\xFE\xFF") {
        let (text, _, _) = encoding_rs::UTF_16LE.decode(file);
        return format::read_csv(text.as_bytes()).map_err(bad);
    }
    if std::str::from_utf8(file).is_ok() {
        return format::read_csv(file).map_err(bad);
    }
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(file);
    format::read_csv(text.as_bytes()).map_err(bad)
}

/// The names a file's header row may give a field besides its id: every name the language
/// catalogues (`src/web/locales/{sv,en}.toml`, section `fields`) have given it in a file.
///
/// Kept here rather than read from the catalogues, for two reasons: the domain has no
/// catalogue (ARCHITECTURE.md, the layers), and a file made last year must still be traced
/// after a catalogue renames a field — so a name is added here, never replaced.
/// `tests/it/extract_files.rs` fails when a catalogue name is missing.
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

/// Finds the header, the key columns, and each data row's ledger key.
fn key_rows(pseudonyms: &PseudonymKey, table: &[Vec<String>]) -> Result<Keyed, Error> {
    let header_at = table
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|row| row.iter().filter_map(|c| header_field(c)).count() >= 2)
        .ok_or_else(|| {
            Error::BadInput(
                "the file has no header row naming at least two of the register's fields \
                 (member_id or Medlemsnummer, first_name or Förnamn, …); the trace needs the \
                 column names"
                    .to_owned(),
            )
        })?;
    let header = table.get(header_at).map_or(&[][..], Vec::as_slice);
    let mut columns = Vec::new();
    let mut at = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        if let Some(field) = header_field(cell).filter(|f| !columns.contains(f)) {
            columns.push(field);
            at.push(i);
        }
    }
    let body = table.get(header_at + 1..).unwrap_or_default();
    let data: Vec<&Vec<String>> = body
        .iter()
        .filter(|row| row.iter().any(|c| !c.trim().is_empty()))
        .collect();
    if data.len() > MAX_TRACE_ROWS {
        return Err(Error::BadInput(format!(
            "the file has {} rows; the trace reads at most {MAX_TRACE_ROWS} (split the file)",
            data.len()
        )));
    }
    let member_column = columns.iter().position(|f| *f == Field::MemberId);
    let tags = TagColumns::for_fields(&columns);
    let mut keys = Vec::with_capacity(data.len());
    for row in data {
        let cells: Vec<Option<&str>> = at.iter().map(|&i| row.get(i).map(String::as_str)).collect();
        let key = match member_column {
            Some(m) => {
                let id = normalise_member_id(cells.get(m).copied().flatten().unwrap_or(""));
                pseudonyms.member_ref(&id).as_bytes().to_vec()
            }
            None => tags.row_ref(pseudonyms, &cells).as_bytes().to_vec(),
        };
        keys.push(key);
    }
    Ok(Keyed {
        columns,
        kind: if member_column.is_some() {
            KeyKind::MemberId
        } else {
            KeyKind::RowTag
        },
        keys,
    })
}

/// One extract's numbers before it is looked up.
struct Scored {
    extract_id: String,
    matched: usize,
    in_order: usize,
    coverage: f64,
    order: f64,
    score: f64,
}

/// Every extract sharing rows with the file, best first, and how many there are.
async fn score(
    store: &Store,
    keyed: &Keyed,
    districts: Option<&[String]>,
) -> Result<(usize, Vec<Scored>), Error> {
    let mut rows_of: HashMap<&[u8], Vec<u32>> = HashMap::new();
    for (i, key) in keyed.keys.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        rows_of.entry(key.as_slice()).or_default().push(i);
    }
    let unique: Vec<Vec<u8>> = rows_of.keys().map(|k| k.to_vec()).collect();
    let column = match keyed.kind {
        KeyKind::MemberId => LedgerKey::Member,
        KeyKind::RowTag => LedgerKey::Row,
    };
    let hits = store.find_ledger_hits(column, &unique, districts).await?;
    // (file row, ledger position) per extract.
    let mut pairs: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    for hit in hits {
        let Some(rows) = rows_of.get(hit.ref_value.as_slice()) else {
            continue;
        };
        let entry = pairs.entry(hit.extract_id).or_default();
        entry.extend(rows.iter().map(|&r| (r, hit.position)));
    }
    let total = keyed.keys.len().max(1) as f64;
    let mut scored: Vec<Scored> = pairs
        .into_iter()
        .map(|(extract_id, mut p)| {
            // Rows ascending, a row's positions descending: a rising run takes each row once.
            p.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let mut matched = 0;
            let mut last = None;
            for (row, _) in &p {
                if last != Some(*row) {
                    matched += 1;
                    last = Some(*row);
                }
            }
            let in_order = longest_rising_run(p.iter().map(|(_, pos)| *pos));
            let coverage = matched as f64 / total;
            let order = in_order as f64 / matched.max(1) as f64;
            Scored {
                extract_id,
                matched,
                in_order,
                coverage,
                order,
                score: coverage * (0.5 + 0.5 * order),
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.matched.cmp(&a.matched))
            .then(a.extract_id.cmp(&b.extract_id))
    });
    Ok((scored.len(), scored))
}

/// Length of the longest strictly rising subsequence (patience sorting, O(n log n)).
fn longest_rising_run(values: impl Iterator<Item = i64>) -> usize {
    let mut tails: Vec<i64> = Vec::new();
    for v in values {
        let at = tails.partition_point(|&t| t < v);
        match tails.get_mut(at) {
            Some(t) => *t = v,
            None => tails.push(v),
        }
    }
    tails.len()
}

/// About how many of `n` rows stand in order by chance (2·√n, the expected longest rising run
/// of a random order; Vershik–Kerov), at most `n`.
pub fn chance_in_order(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).round() as usize).min(n)
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
    fn the_longest_rising_run_is_found_among_noise() {
        assert_eq!(longest_rising_run([].into_iter()), 0);
        assert_eq!(longest_rising_run([5, 1, 2, 9, 3, 4].into_iter()), 4);
        assert_eq!(longest_rising_run([3, 3, 3].into_iter()), 1);
        // A row with several positions (two people of one name) counts once: positions of one
        // row come in falling order.
        assert_eq!(longest_rising_run([7, 2, 8, 3].into_iter()), 2);
    }

    #[test]
    fn chance_order_is_about_twice_the_root() {
        assert_eq!(chance_in_order(100), 20);
        assert_eq!(chance_in_order(1), 1);
        assert_eq!(chance_in_order(0), 0);
    }

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

    #[test]
    fn a_swedish_file_is_keyed_by_its_member_numbers_with_their_zeros() {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        let file = "\u{feff}Medlemsnummer;Förnamn;Postnummer\r\n'000123;Åsa;'01234\r\n";
        let keyed = key_rows(&key, &read_table(file.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            keyed.columns,
            [Field::MemberId, Field::FirstName, Field::PostalCode]
        );
        assert_eq!(keyed.kind, KeyKind::MemberId);
        assert_eq!(keyed.keys, [key.member_ref("000123").as_bytes().to_vec()]);
    }

    #[test]
    fn a_file_without_a_header_is_refused_with_a_sentence() {
        let key = PseudonymKey::from_slice(&[3u8; 32]).unwrap();
        let table = vec![vec!["Anna".to_owned(), "Berg".to_owned()]];
        let err = key_rows(&key, &table).err().unwrap();
        assert!(err.to_string().contains("header row"), "{err}");
    }

    #[test]
    fn windows_1252_and_utf16_files_read_as_text() {
        let cp1252 = b"first_name;last_name\r\n\xC5sa;\xD6berg\r\n";
        let t = read_table(cp1252).unwrap();
        assert_eq!(t[1], vec!["Åsa".to_owned(), "Öberg".to_owned()]);
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "first_name\tlast_name\r\nÅsa\tÖberg\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let t = read_table(&utf16).unwrap();
        assert_eq!(t[1], vec!["Åsa".to_owned(), "Öberg".to_owned()]);
    }
}
