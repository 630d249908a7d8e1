#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tests for the extract file formats: CSV and XLSX writing, neutralisation,
//! and reading files back.

use std::io::{Cursor, Read};
use std::sync::LazyLock;

use calamine::{Data, Reader, Xlsx};
use proptest::prelude::*;
use regex_syntax::hir::{Class, HirKind};
use unicode_normalization::UnicodeNormalization as _;

use super::*;

const TRIGGER_CELLS: [&str; 6] = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"];

fn info() -> XlsxInfo {
    XlsxInfo {
        extract_id: "EXT-2025-0042".to_owned(),
        title: "Valarbete Uppsala".to_owned(),
        expires: "2025-09-14T18:00:00Z".to_owned(),
        notice: "Får inte spridas vidare.".to_owned(),
    }
}

fn cells(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

fn csv_of(header: &[&str], rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut out = Vec::new();
    csv_header(header, &mut out);
    for row in rows {
        csv_row(row, &mut out);
    }
    out
}

fn xlsx_of(header: &[&str], rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut builder = XlsxBuilder::new(header, &info()).unwrap();
    for row in rows {
        builder.push_row(row).unwrap();
    }
    builder.finish().unwrap().to_vec()
}

/// The first sheet as calamine sees it, with cell types.
fn xlsx_range(bytes: &[u8]) -> calamine::Range<Data> {
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    workbook.worksheet_range(MEMBERS_SHEET).unwrap()
}

/// One raw part (XML file) of the XLSX zip.
fn xlsx_part(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut part = archive.by_name(name).unwrap();
    let mut text = String::new();
    part.read_to_string(&mut text).unwrap();
    text
}

/// What a reader gives back for written rows: None and "" alike as "",
/// neutralisation reversed.
fn as_read(rows: &[Vec<Option<String>>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|c| c.clone().unwrap_or_default()).collect())
        .collect()
}

/// What a CSV reader gives back: as `as_read`, and without NUL (never written).
fn as_read_from_csv(rows: &[Vec<Option<String>>]) -> Vec<Vec<String>> {
    as_read(rows)
        .into_iter()
        .map(|row| row.into_iter().map(|c| c.replace('\0', "")).collect())
        .collect()
}

/// The cells of the first sheet whose format has the quote prefix, as (row, column): read
/// with calamine's style ids and `xl/styles.xml`'s `cellXfs`, independently of the writer.
fn quote_prefixed(bytes: &[u8]) -> Vec<(u32, u32)> {
    let styles = xlsx_part(bytes, "xl/styles.xml");
    let xfs = styles
        .split("<cellXfs")
        .nth(1)
        .and_then(|rest| rest.split("</cellXfs>").next())
        .unwrap();
    let quoted: Vec<bool> = xfs
        .split("<xf ")
        .skip(1)
        .map(|xf| {
            let tag = xf.split('>').next().unwrap();
            tag.contains(r#"quotePrefix="1""#)
        })
        .collect();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let mut reader = workbook.worksheet_cells_reader(MEMBERS_SHEET).unwrap();
    let mut out = Vec::new();
    while let Some((cell, style)) = reader.next_cell_with_style_id().unwrap() {
        if quoted.get(style).copied().unwrap_or(false) {
            out.push(cell.get_position());
        }
    }
    out
}

fn unneutralised(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|row| row.iter().map(|c| unneutralise(c).to_owned()).collect())
        .collect()
}

/// XLSX keeps no trace of empty cells: the grid read back runs from A1 to
/// the last non-empty cell, every row as wide as the widest.
fn as_xlsx_grid(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let height = rows
        .iter()
        .rposition(|row| row.iter().any(|c| !c.is_empty()))
        .map_or(0, |last| last + 1);
    let width = rows
        .iter()
        .filter_map(|row| row.iter().rposition(|c| !c.is_empty()))
        .max()
        .map_or(0, |last| last + 1);
    rows.into_iter()
        .take(height)
        .map(|mut row| {
            row.resize(width, String::new());
            row
        })
        .collect()
}

// --- CSV writing ------------------------------------------------------------

#[test]
fn csv_bytes_start_with_the_bom_and_use_semicolons_and_crlf() {
    let out = csv_of(&["Namn", "Ort"], &[cells(&["Anna", "Umeå"])]);
    assert!(out.starts_with(CSV_BOM));
    assert_eq!(
        &out[CSV_BOM.len()..],
        "Namn;Ort\r\nAnna;Umeå\r\n".as_bytes()
    );
}

#[test]
fn csv_quotes_semicolons_quotes_and_newlines_and_writes_none_as_empty() {
    let mut out = Vec::new();
    let row = vec![
        Some("a;b".to_owned()),
        Some("sa \"hej\"".to_owned()),
        Some("rad1\nrad2".to_owned()),
        Some("cr\rlf".to_owned()),
        None,
        Some(" kant ".to_owned()),
        Some("vanlig".to_owned()),
    ];
    csv_row(&row, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"a;b\";\"sa \"\"hej\"\"\";\"rad1\nrad2\";\"cr\rlf\";;\" kant \";vanlig\r\n"
    );
}

#[test]
fn csv_quotes_commas_and_tabs_so_separator_detection_is_not_fooled() {
    let mut out = Vec::new();
    csv_row(&cells(&["a,b", "c\td"]), &mut out);
    assert_eq!(out, b"\"a,b\";\"c\td\"\r\n");
}

#[test]
fn every_trigger_character_is_neutralised_in_csv() {
    for cell in TRIGGER_CELLS {
        let mut out = Vec::new();
        csv_row(&cells(&[cell]), &mut out);
        let line = String::from_utf8(out).unwrap();
        let field = line.trim_end_matches("\r\n").trim_matches('"');
        assert_eq!(
            field,
            format!("'{cell}"),
            "trigger {:?}",
            cell.chars().next()
        );
    }
}

#[test]
fn every_trigger_character_is_neutralised_in_xlsx_as_a_string_cell() {
    let bytes = xlsx_of(&["Värde"], &[cells(&TRIGGER_CELLS)]);
    let range = xlsx_range(&bytes);
    for (column, cell) in TRIGGER_CELLS.iter().enumerate() {
        match range.get_value((1, column as u32)) {
            // The value as it is: the quote prefix marks it, no apostrophe shows.
            Some(Data::String(text)) => assert_eq!(text, cell),
            other => panic!("column {column}: expected a string cell, got {other:?}"),
        }
    }
    let every_column = (0..TRIGGER_CELLS.len() as u32)
        .map(|c| (1, c))
        .collect::<Vec<_>>();
    assert_eq!(quote_prefixed(&bytes), every_column);
}

#[test]
fn a_phone_number_is_left_untouched_and_stays_a_string() {
    assert_eq!(neutralise("070-123 45 67"), "070-123 45 67");
    let mut out = Vec::new();
    csv_row(&cells(&["070-123 45 67"]), &mut out);
    assert_eq!(out, b"070-123 45 67\r\n");

    let bytes = xlsx_of(
        &["Telefon", "Postnr"],
        &[cells(&["070-123 45 67", "07012"])],
    );
    let range = xlsx_range(&bytes);
    assert_eq!(
        range.get_value((1, 0)),
        Some(&Data::String("070-123 45 67".to_owned()))
    );
    // Leading zero kept: written as text, never as a number.
    assert_eq!(
        range.get_value((1, 1)),
        Some(&Data::String("07012".to_owned()))
    );
}

#[test]
fn a_value_that_already_looks_neutralised_round_trips_exactly() {
    for value in ["'=x", "''+1", "'", "'abc", "=", "''"] {
        assert_eq!(unneutralise(&neutralise(value)), value);
    }
    assert_eq!(neutralise("'=x"), "''=x");
    assert_eq!(neutralise("'abc"), "'abc");
}

// --- Digits a spreadsheet would change (issue 18) ------------------------------

/// Phone, postcode and member number as the register holds them, with their zeros.
const LEADING_ZEROS: [&str; 5] = ["0701234567", "01234", "000123", "00", "000 123"];

#[test]
fn digits_with_a_leading_zero_get_the_apostrophe_in_csv_and_come_back_exactly() {
    let csv = csv_of(&["Telefon"], &[cells(&LEADING_ZEROS)]);
    let line = String::from_utf8(csv[CSV_BOM.len()..].to_vec()).unwrap();
    assert_eq!(
        line.lines().nth(1).unwrap(),
        "'0701234567;'01234;'000123;'00;'000 123"
    );
    assert_eq!(
        unneutralised(read_csv(&csv).unwrap())[1],
        LEADING_ZEROS.map(str::to_owned)
    );
}

#[test]
fn more_digits_than_a_spreadsheet_keeps_get_the_apostrophe_too() {
    let fifteen = "123456789012345";
    assert_eq!(fifteen.len(), digits::NUMBER_DIGITS);
    assert_eq!(neutralise(fifteen), fifteen);
    assert_eq!(neutralise("1234567890123456"), "'1234567890123456");
    assert_eq!(
        neutralise("1 234 567 890 123 456"),
        "'1 234 567 890 123 456"
    );
}

#[test]
fn numbers_that_keep_their_digits_and_written_forms_with_other_characters_are_left_alone() {
    for value in [
        "0",
        "7",
        "123",
        "100234",
        "070-123 45 67",
        "0,5",
        "07a",
        "19800101-1234",
        "",
        " ",
    ] {
        assert_eq!(neutralise(value), value, "{value:?}");
    }
}

#[test]
fn an_apostrophe_before_leading_zeros_is_doubled_so_the_round_trip_stays_exact() {
    assert_eq!(neutralise("'0123"), "''0123");
    assert_eq!(unneutralise("''0123"), "'0123");
    assert_eq!(unneutralise("'0123"), "0123");
    // An apostrophe before digits that need none is the value's own.
    assert_eq!(neutralise("'123"), "'123");
    assert_eq!(unneutralise("'123"), "'123");
}

#[test]
fn digits_with_a_leading_zero_are_quote_prefixed_string_cells_in_xlsx() {
    let row = cells(&["0701234567", "01234", "000123", "Anna", "123"]);
    let bytes = xlsx_of(
        &["Telefon", "Postnummer", "Medlemsnummer", "Förnamn", "Nr"],
        &[row],
    );
    let range = xlsx_range(&bytes);
    for (column, value) in ["0701234567", "01234", "000123"].iter().enumerate() {
        assert_eq!(
            range.get_value((1, column as u32)),
            Some(&Data::String((*value).to_owned()))
        );
    }
    assert_eq!(quote_prefixed(&bytes), vec![(1, 0), (1, 1), (1, 2)]);
    // No apostrophe in the file's strings at all.
    let strings = xlsx_part(&bytes, "xl/sharedStrings.xml");
    assert!(!strings.contains('\''), "{strings}");
}

#[test]
fn a_header_cell_that_needs_the_mark_is_bold_and_quote_prefixed() {
    let bytes = xlsx_of(&["=Namn", "0123"], &[]);
    assert_eq!(read_xlsx(&bytes).unwrap(), vec![vec!["=Namn", "0123"]]);
    assert_eq!(quote_prefixed(&bytes), vec![(0, 0), (0, 1)]);
    let styles = xlsx_part(&bytes, "xl/styles.xml");
    assert!(styles.contains("<b/>"), "{styles}");
}

// --- Header names -----------------------------------------------------------------

#[test]
fn field_names_give_the_ids_by_default_and_the_callers_names_otherwise() {
    use crate::nouns::Field;
    let fields = [Field::MemberId, Field::Phone];
    assert_eq!(FieldNames::ids().header(&fields), ["member_id", "phone"]);
    let swedish = FieldNames::named(|f| match f {
        Field::MemberId => "Medlemsnummer".to_owned(),
        Field::Phone => "  ".to_owned(),
        _ => String::new(),
    });
    // A blank name falls back to the id: a header cell is never empty.
    assert_eq!(swedish.header(&fields), ["Medlemsnummer", "phone"]);
}

// --- What a spreadsheet may skip before a trigger (SECURITY_BAR F4, issue 15) ---

/// The formula-like cells a prefix is tried on.
const FORMULAS: [&str; 5] = ["=1+2*3", "+1", "-1", "@SUM(1)", "=HYPERLINK(\"http://x\")"];

/// Issue 15's examples and their class: NUL and other controls, white space of
/// every kind, zero-width and bidi characters, other invisible characters.
const NAMED_SKIPPED: [char; 30] = [
    '\u{0}',
    '\u{1}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9b}',
    ' ',
    '\u{a0}',
    '\u{1680}',
    '\u{2007}',
    '\u{202f}',
    '\u{205f}',
    '\u{3000}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{2060}',
    '\u{200e}',
    '\u{200f}',
    '\u{202e}',
    '\u{2066}',
    '\u{ad}',
    '\u{180e}',
    '\u{34f}',
    '\u{fe0f}',
    '\u{3164}',
    '\u{e0020}',
];

/// Triggers and their lookalikes, written out independently of `formula`.
const ORACLE_TRIGGERS: [char; 14] = [
    '=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠', '﹦', '﹢', '﹣', '﹫',
];

/// Unicode's control, white-space, format and default-ignorable characters, from the
/// `regex` crate's Unicode tables: an oracle that shares nothing with `formula`.
static UNICODE_SKIPPED: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
    let class = r"[\p{Cc}\p{Cf}\p{White_Space}\p{Default_Ignorable_Code_Point}]";
    let hir = regex_syntax::parse(class).unwrap();
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|range| (range.start(), range.end()))
            .collect(),
        other => panic!("not a Unicode class: {other:?}"),
    }
});

fn unicode_skips(c: char) -> bool {
    UNICODE_SKIPPED
        .iter()
        .any(|&(start, end)| (start..=end).contains(&c))
}

/// A trigger by the oracle: ASCII, a compatibility form of one (NFKC), or U+2212.
fn unicode_trigger(c: char) -> bool {
    let folded = std::iter::once(c).nfkc().next();
    ['\t', '\r', '\u{2212}'].contains(&c) || matches!(folded, Some('=' | '+' | '-' | '@'))
}

/// Would a spreadsheet that skips everything the oracle skips see a trigger?
fn runs_as_formula(text: &str) -> bool {
    for c in text.chars() {
        if unicode_trigger(c) {
            return true;
        }
        if !unicode_skips(c) {
            return false;
        }
    }
    false
}

fn skipped_char() -> impl Strategy<Value = char> {
    let every: Vec<char> = UNICODE_SKIPPED
        .iter()
        .flat_map(|&(start, end)| start..=end)
        .collect();
    prop_oneof![
        prop::sample::select(NAMED_SKIPPED.to_vec()),
        prop::sample::select(every),
    ]
}

fn assert_neutralised(cell: &str) {
    assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
    assert_eq!(unneutralise(&neutralise(cell)), cell, "{cell:?}");
}

#[test]
fn a_trigger_after_nul_or_any_other_control_character_is_neutralised() {
    let controls = (0u32..=0x1f).chain(0x7f..=0x9f).filter_map(char::from_u32);
    for control in controls {
        for formula in FORMULAS {
            assert_neutralised(&format!("{control}{formula}"));
        }
    }
}

#[test]
fn a_trigger_after_any_unicode_white_space_is_neutralised() {
    let white_space: Vec<char> = (0u32..=0x10ffff)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .collect();
    assert!(white_space.contains(&'\u{a0}') && white_space.contains(&'\u{3000}'));
    assert!(white_space.contains(&'\u{2028}'));
    for space in white_space {
        for formula in FORMULAS {
            assert_neutralised(&format!("{space}{formula}"));
            assert_neutralised(&format!("{space}{space}{formula}"));
        }
    }
}

#[test]
fn a_trigger_after_zero_width_bidi_and_other_invisible_characters_is_neutralised() {
    for skipped in NAMED_SKIPPED {
        for formula in FORMULAS {
            assert_neutralised(&format!("{skipped}{formula}"));
        }
    }
    // A mixed run, as a value built to slip past one check at a time.
    assert_neutralised("\u{feff}\u{200b}\u{a0}\u{0}\u{202e}=1+1");
}

#[test]
fn full_width_small_and_other_lookalike_triggers_are_neutralised() {
    for cell in [
        "＝1+1",
        "＋1",
        "－1",
        "＠SUM(1)",
        "﹦1",
        "﹢1",
        "﹣1",
        "﹫SUM(1)",
        "⁼1",
        "⁺1",
        "₌1",
        "₊1",
        "−1",
        "\u{3000}＝1+1",
        "\u{0}＋1",
    ] {
        assert_neutralised(cell);
    }
}

#[test]
fn a_trigger_after_visible_text_or_after_an_apostrophe_following_a_space_is_left_alone() {
    // Over-neutralising has limits: text that starts visibly is text.
    for cell in [
        "a=1",
        "070-123 45 67",
        "x\u{a0}=1",
        "\u{a0}'=1",
        "\u{2800}=1",
        "≠1",
    ] {
        assert_eq!(neutralise(cell), cell, "{cell:?}");
    }
}

#[test]
fn every_character_unicode_calls_a_control_blank_or_invisible_is_skipped() {
    let wrong: Vec<String> = (0u32..=0x10ffff)
        .filter_map(char::from_u32)
        .filter(|&c| is_skipped(c) != unicode_skips(c))
        .map(|c| format!("U+{:04X} (oracle says {})", u32::from(c), unicode_skips(c)))
        .collect();
    assert!(wrong.is_empty(), "formula::is_skipped disagrees: {wrong:?}");
}

#[test]
fn every_compatibility_form_of_a_trigger_is_a_trigger() {
    let wrong: Vec<String> = (0u32..=0x10ffff)
        .filter_map(char::from_u32)
        .filter(|&c| is_trigger(c) != unicode_trigger(c))
        .map(|c| {
            format!(
                "U+{:04X} (oracle says {})",
                u32::from(c),
                unicode_trigger(c)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "formula::is_trigger disagrees: {wrong:?}");
}

#[test]
fn the_hostile_cells_of_issue_15_are_neutralised_in_csv_and_xlsx_and_csv_drops_nul() {
    let hostile = [
        "\u{0}=1+2*3",
        "\u{a0}=HYPERLINK(\"http://x\")",
        "＝1+1",
        "\u{feff}+1",
        "\u{200b}-1",
        "\u{3000}@SUM(1)",
        "\u{2028}=1",
    ];
    let csv = csv_of(&["Värde"], &[cells(&hostile)]);
    assert!(!csv.contains(&0), "a NUL byte in the CSV");
    let line = String::from_utf8(csv[CSV_BOM.len()..].to_vec()).unwrap();
    assert_eq!(
        line.lines().nth(1).unwrap(),
        "'=1+2*3;\"'\u{a0}=HYPERLINK(\"\"http://x\"\")\";'＝1+1;'\u{feff}+1;'\u{200b}-1;\
         '\u{3000}@SUM(1);'\u{2028}=1"
    );

    let xlsx = xlsx_of(&["Värde"], &[cells(&hostile)]);
    let range = xlsx_range(&xlsx);
    for (column, cell) in hostile.iter().enumerate() {
        match range.get_value((1, column as u32)) {
            Some(Data::String(text)) => assert_eq!(text, cell),
            other => panic!("column {column}: expected a string cell, got {other:?}"),
        }
    }
    assert_eq!(quote_prefixed(&xlsx).len(), hostile.len());
}

// --- CSV reading -------------------------------------------------------------

fn expected_plain() -> Vec<Vec<String>> {
    vec![
        vec!["Namn".to_owned(), "Ort".to_owned()],
        vec!["Anna, Berg".to_owned(), "Umeå".to_owned()],
        vec!["Bo".to_owned(), String::new()],
    ]
}

#[test]
fn read_csv_detects_comma_separated_files_with_and_without_bom() {
    let body = "Namn,Ort\r\n\"Anna, Berg\",Umeå\r\nBo,\r\n";
    assert_eq!(read_csv(body.as_bytes()).unwrap(), expected_plain());
    let with_bom = [CSV_BOM, body.as_bytes()].concat();
    assert_eq!(read_csv(&with_bom).unwrap(), expected_plain());
}

#[test]
fn read_csv_detects_tab_separated_files_with_and_without_bom() {
    let body = "Namn\tOrt\n\"Anna, Berg\"\tUmeå\nBo\t\n";
    assert_eq!(read_csv(body.as_bytes()).unwrap(), expected_plain());
    let with_bom = [CSV_BOM, body.as_bytes()].concat();
    assert_eq!(read_csv(&with_bom).unwrap(), expected_plain());
}

#[test]
fn read_csv_reads_our_own_semicolon_files_with_lf_endings_too() {
    let body = "Namn;Ort\n\"Anna, Berg\";Umeå\nBo;";
    assert_eq!(read_csv(body.as_bytes()).unwrap(), expected_plain());
}

#[test]
fn read_csv_does_not_count_separators_inside_quotes_when_detecting() {
    let body = "\"a;b;c\",d\r\n";
    assert_eq!(
        read_csv(body.as_bytes()).unwrap(),
        vec![vec!["a;b;c".to_owned(), "d".to_owned()]]
    );
}

#[test]
fn an_unterminated_quote_is_malformed() {
    let err = read_csv(b"Namn;Ort\r\n\"hemlig;Ort\r\n").unwrap_err();
    assert!(matches!(err, Error::Malformed { line: 2, .. }), "{err:?}");
    assert!(!err.to_string().contains("hemlig"));
}

#[test]
fn text_after_a_closing_quote_is_malformed() {
    let err = read_csv(b"\"hemlig\"x;y\r\n").unwrap_err();
    assert!(matches!(err, Error::Malformed { line: 1, .. }), "{err:?}");
    assert!(!err.to_string().contains("hemlig"));
}

#[test]
fn a_non_utf8_csv_is_an_error() {
    // "Umeå" in Windows-1252, as an old Excel might save it.
    let err = read_csv(b"Ort\r\nUme\xE5\r\n").unwrap_err();
    assert!(matches!(err, Error::NotUtf8 { line: 2 }), "{err:?}");
}

#[test]
fn an_empty_csv_has_no_rows() {
    assert!(read_csv(b"").unwrap().is_empty());
    assert!(read_csv(CSV_BOM).unwrap().is_empty());
}

// --- XLSX ---------------------------------------------------------------------

#[test]
fn the_extract_id_is_in_the_second_sheet_and_the_document_subject() {
    let bytes = xlsx_of(&["Namn"], &[cells(&["Anna"])]);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(&bytes)).unwrap();
    assert_eq!(workbook.sheet_names(), vec![MEMBERS_SHEET, ABOUT_SHEET]);
    let about = workbook.worksheet_range(ABOUT_SHEET).unwrap();
    let rows: Vec<Vec<String>> = about
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["Utdrag / Extract id", "EXT-2025-0042"],
            vec!["Ändamål / Purpose", "Valarbete Uppsala"],
            vec!["Gäller till / Expires", "2025-09-14T18:00:00Z"],
            vec!["Obs / Notice", "Får inte spridas vidare."],
        ]
    );

    let core = xlsx_part(&bytes, "docProps/core.xml");
    assert!(
        core.contains("<dc:subject>EXT-2025-0042</dc:subject>"),
        "{core}"
    );
    assert!(
        core.contains("<dc:title>Valarbete Uppsala</dc:title>"),
        "{core}"
    );
    assert!(core.contains("Får inte spridas vidare."), "{core}");
}

#[test]
fn the_header_row_is_bold_and_the_data_follows_it() {
    let bytes = xlsx_of(&["Namn", "Ort"], &[cells(&["Anna", "Umeå"])]);
    assert_eq!(
        read_xlsx(&bytes).unwrap(),
        vec![vec!["Namn", "Ort"], vec!["Anna", "Umeå"]]
    );
    let sheet = xlsx_part(&bytes, "xl/worksheets/sheet1.xml");
    let styles = xlsx_part(&bytes, "xl/styles.xml");
    assert!(sheet.contains(r#"<c r="A1" s="1" t="s">"#), "{sheet}");
    assert!(styles.contains("<b/>"), "{styles}");
}

#[test]
fn xlsx_builder_refuses_one_row_more_than_the_limit() {
    let mut builder = XlsxBuilder::with_max_rows(&["Namn"], &info(), 3).unwrap();
    for _ in 0..3 {
        builder.push_row(&cells(&["Anna"])).unwrap();
    }
    let err = builder.push_row(&cells(&["Bo"])).unwrap_err();
    assert!(matches!(err, Error::TooManyRows { max: 3 }), "{err:?}");
    // The rows already accepted are still a valid file.
    let rows = read_xlsx(&builder.finish().unwrap()).unwrap();
    assert_eq!(rows.len(), 4);
}

#[test]
fn the_public_constructor_uses_xlsx_max_rows() {
    let builder = XlsxBuilder::new(&["Namn"], &info()).unwrap();
    assert_eq!(builder.max_rows, XLSX_MAX_ROWS);
}

#[test]
fn a_cell_longer_than_excel_allows_is_refused_without_naming_its_value() {
    let mut builder = XlsxBuilder::new(&["Namn"], &info()).unwrap();
    let long = "hemlig".repeat(6_000);
    let err = builder.push_row(&[Some(long)]).unwrap_err();
    assert!(
        matches!(err, Error::CellTooLong { row: 1, column: 0 }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hemlig"));
}

#[test]
fn more_columns_than_a_sheet_holds_are_refused() {
    let header = vec!["k"; XLSX_MAX_COLUMNS + 1];
    let err = XlsxBuilder::new(&header, &info()).err().unwrap();
    assert!(matches!(err, Error::TooManyColumns { .. }), "{err:?}");
}

#[test]
fn control_characters_are_escaped_in_the_xml_and_read_back_exactly() {
    let value = "a\u{1}b\u{1f}c\u{0}d\u{fffe}";
    let bytes = xlsx_of(&["Namn"], &[cells(&[value, "_x0041_"])]);
    let strings = xlsx_part(&bytes, "xl/sharedStrings.xml");
    assert!(
        strings.contains("a_x0001_b_x001F_c_x0000_d_xFFFE_"),
        "{strings}"
    );
    // A literal escape-shaped value has its underscore escaped.
    assert!(strings.contains("_x005F_x0041_"), "{strings}");
    assert_eq!(read_xlsx(&bytes).unwrap()[1], vec![value, "_x0041_"]);
}

#[test]
fn a_value_shaped_like_rich_text_is_escaped_not_injected() {
    let value = "<r><t>x</t></r></si><si><t>injected</t></r>";
    let bytes = xlsx_of(&["Namn"], &[cells(&[value, "<r>_x0041_\u{1}</r>"])]);
    let strings = xlsx_part(&bytes, "xl/sharedStrings.xml");
    assert!(!strings.contains("<si><t>injected</t>"), "{strings}");
    assert_eq!(
        read_xlsx(&bytes).unwrap()[1],
        vec![value, "<r>_x0041_\u{1}</r>"]
    );
}

#[test]
fn read_xlsx_shows_numbers_as_they_display() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_number(0, 0, 42.0).unwrap();
    sheet.write_number(0, 1, 3.5).unwrap();
    sheet.write_boolean(0, 2, true).unwrap();
    sheet.write_string(1, 3, "sist").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    assert_eq!(
        read_xlsx(&bytes).unwrap(),
        vec![vec!["42", "3.5", "TRUE", ""], vec!["", "", "", "sist"]]
    );
}

#[test]
fn read_xlsx_refuses_a_sheet_too_large_to_hold_in_memory() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "A1").unwrap();
    sheet.write_string(1_048_575, 16_383, "XFD1048576").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    let err = read_xlsx(&bytes).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}

#[test]
fn read_xlsx_rejects_something_that_is_not_xlsx() {
    assert!(matches!(
        read_xlsx(b"Namn;Ort\r\n"),
        Err(Error::XlsxRead { .. })
    ));
}

// --- Property tests -------------------------------------------------------------

/// Pieces that stress quoting, neutralisation and XML escaping.
const FRAGMENTS: &[&str] = &[
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\r\n",
    ";",
    ",",
    "\"",
    "\"\"",
    "'",
    " ",
    "a",
    "0",
    "å",
    "😀",
    "<r>",
    "</r>",
    "<",
    "&amp;",
    "_x",
    "_x0041_",
    "_x005F_",
    "_xD83D__xDE00_",
    "\u{0}",
    "\u{1}",
    "\u{b}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\u{fffe}",
    "\u{ffff}",
];

fn cell_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..10).prop_map(|v| v.concat()),
    ]
}

fn row() -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(prop::option::of(cell_text()), 1..5)
}

fn header_and_rows() -> impl Strategy<Value = (Vec<String>, Vec<Vec<Option<String>>>)> {
    (
        prop::collection::vec(cell_text(), 1..4),
        prop::collection::vec(row(), 0..4),
    )
}

/// The CSV writer's rules, written out plainly and slowly (as the writer was before it scanned
/// each cell once): the oracle of `the_one_pass_csv_writer_writes_the_bytes_the_plain_rules_give`.
fn plain_csv_line(row: &[Option<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, cell) in row.iter().enumerate() {
        if index > 0 {
            out.push(b';');
        }
        let Some(cell) = cell else { continue };
        let text: String = cell.chars().filter(|&c| c != '\0').collect();
        let prefixed = needs_prefix(&text);
        let special = text
            .bytes()
            .any(|b| matches!(b, b';' | b'"' | b'\r' | b'\n' | b',' | b'\t'));
        let quoted = special || (!prefixed && text.starts_with(' ')) || text.ends_with(' ');
        if quoted {
            out.push(b'"');
        }
        if prefixed {
            out.push(b'\'');
        }
        for &byte in text.as_bytes() {
            if byte == b'"' {
                out.push(b'"');
            }
            out.push(byte);
        }
        if quoted {
            out.push(b'"');
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn header_as_cells(header: &[String]) -> Vec<Option<String>> {
    header.iter().map(|h| Some(h.clone())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_round_trips_through_csv((header, rows) in header_and_rows()) {
        let names: Vec<&str> = header.iter().map(String::as_str).collect();
        let bytes = csv_of(&names, &rows);
        let mut written = vec![header_as_cells(&header)];
        written.extend(rows);
        prop_assert_eq!(unneutralised(read_csv(&bytes).unwrap()), as_read_from_csv(&written));
    }

    #[test]
    fn any_text_round_trips_through_xlsx((header, rows) in header_and_rows()) {
        let names: Vec<&str> = header.iter().map(String::as_str).collect();
        let bytes = xlsx_of(&names, &rows);
        let mut written = vec![header_as_cells(&header)];
        written.extend(rows);
        // Exactly, without `unneutralise`: the mark is in the cell's format, not its text.
        prop_assert_eq!(read_xlsx(&bytes).unwrap(), as_xlsx_grid(as_read(&written)));
    }

    #[test]
    fn neutralised_text_never_starts_with_a_trigger(text in cell_text()) {
        let neutralised = neutralise(&text);
        prop_assert!(!neutralised.starts_with(TRIGGERS));
        prop_assert!(!runs_as_formula(&neutralised));
        prop_assert_eq!(unneutralise(&neutralised), text.as_str());
    }

    #[test]
    fn a_trigger_after_any_run_of_skipped_characters_is_neutralised_in_csv_and_xlsx(
        apostrophes in 0..3usize,
        skipped in prop::collection::vec(skipped_char(), 0..6),
        trigger in prop::sample::select(ORACLE_TRIGGERS.to_vec()),
        rest in cell_text(),
    ) {
        let cell = format!("{}{}{trigger}{rest}", "'".repeat(apostrophes), String::from_iter(skipped));
        let neutralised = neutralise(&cell);
        prop_assert_eq!(&neutralised, &format!("'{cell}"));
        prop_assert_eq!(unneutralise(&neutralised), cell.as_str());

        let csv = csv_of(&["Värde"], &[vec![Some(cell.clone())]]);
        prop_assert!(!csv.contains(&0), "a NUL byte in the CSV");
        let from_csv = read_csv(&csv).unwrap()[1][0].clone();
        prop_assert_eq!(&from_csv, &format!("'{}", cell.replace('\0', "")));
        prop_assert!(!runs_as_formula(&from_csv));

        let xlsx = xlsx_of(&["Värde"], &[vec![Some(cell.clone())]]);
        prop_assert_eq!(&read_xlsx(&xlsx).unwrap()[1][0], &cell);
        prop_assert_eq!(quote_prefixed(&xlsx), vec![(1, 0)]);
    }

    #[test]
    fn the_one_pass_csv_writer_writes_the_bytes_the_plain_rules_give(row in row()) {
        let mut fast = Vec::new();
        csv_row(&row, &mut fast);
        prop_assert_eq!(fast, plain_csv_line(&row));
    }

    #[test]
    fn a_csv_never_contains_a_nul_byte((header, rows) in header_and_rows()) {
        let names: Vec<&str> = header.iter().map(String::as_str).collect();
        prop_assert!(!csv_of(&names, &rows).contains(&0));
    }

    #[test]
    fn read_csv_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_csv(&bytes);
    }

    #[test]
    fn read_csv_never_panics_on_csv_like_bytes(
        bytes in prop::collection::vec(prop::sample::select(b"\";,\t\r\na\xEF\xBB\xBF".to_vec()), 0..256)
    ) {
        let _ = read_csv(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn read_xlsx_never_panics_on_random_or_damaged_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let _ = read_xlsx(&bytes);
        // A real file with a few bytes changed reaches deeper than noise does.
        let mut damaged = xlsx_of(&["Namn"], &[cells(&["Anna"])]);
        for (index, byte) in flips {
            let at = index.index(damaged.len());
            damaged[at] = byte;
        }
        let _ = read_xlsx(&damaged);
    }
}
