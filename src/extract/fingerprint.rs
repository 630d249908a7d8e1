//! What ties a row of a delivered file to the disclosure ledger — the same rules when the
//! extract is built and when a leaked copy comes back to the auditor.
//!
//! Guarantees: a row's tag ([`RowRef`]) is made of its first and last name when the extract has
//! both, else of all its cells in catalogue order ([`TagColumns`]); cells are normalised first
//! ([`normalise`]) so that what our CSV writer does (drop NUL, add a formula neutraliser) and
//! what a spreadsheet does on re-saving — dropping the neutraliser, changing case, white space
//! or Unicode composition — gives the same tag. Member numbers are normalised as spreadsheets
//! rewrite numbers (`1234.0`, `1.234E+03`). Nothing here stores or logs a cell.

use unicode_normalization::UnicodeNormalization as _;

use super::format::{csv_text, unneutralise};
use crate::crypto::{PseudonymKey, RowRef};
use crate::nouns::Field;

/// Which of a row's cells make its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagColumns {
    /// First and last name (every shipped purpose has them).
    Names { first: usize, last: usize },
    /// Every cell, in the field catalogue's order (indices into the row).
    All(Vec<usize>),
}

impl TagColumns {
    /// The tag columns for a row whose cells are `fields`, in that order.
    pub fn for_fields(fields: &[Field]) -> TagColumns {
        let at = |f: Field| fields.iter().position(|x| *x == f);
        if let (Some(first), Some(last)) = (at(Field::FirstName), at(Field::LastName)) {
            return TagColumns::Names { first, last };
        }
        let mut all: Vec<usize> = (0..fields.len()).collect();
        all.sort_by_key(|&i| fields.get(i).map(|f| catalogue_rank(*f)));
        TagColumns::All(all)
    }

    /// The row's tag; an empty cell counts as empty text.
    pub fn row_ref<S: AsRef<str>>(&self, key: &PseudonymKey, cells: &[Option<S>]) -> RowRef {
        let cell = |i: usize| {
            cells
                .get(i)
                .and_then(|c| c.as_ref())
                .map_or_else(String::new, |c| normalise(c.as_ref()))
        };
        match self {
            TagColumns::Names { first, last } => {
                let (first, last) = (cell(*first), cell(*last));
                key.row_ref([first.as_str(), last.as_str()])
            }
            TagColumns::All(columns) => {
                let values: Vec<String> = columns.iter().map(|&i| cell(i)).collect();
                key.row_ref(values.iter().map(String::as_str))
            }
        }
    }
}

fn catalogue_rank(field: Field) -> usize {
    Field::ALL
        .iter()
        .position(|f| *f == field)
        .unwrap_or(usize::MAX)
}

/// A cell as compared: what a CSV keeps of it (NUL dropped, [`csv_text`]), every leading `'`
/// removed, Unicode NFC, white space trimmed and runs of it made one space, lower case.
///
/// Every leading `'`, not just our neutraliser's one: the tag is made of the register's value
/// at build time and of the file's cell at trace time, and the file may hold one `'` more
/// (ours: `'=x` is written `''=x`) or one less (a spreadsheet that took ours as its text
/// marker and saved without it). Removing them all gives the same text in each case; names
/// that differ only in leading apostrophes share a tag, which costs nothing here.
pub fn normalise(cell: &str) -> String {
    let text = csv_text(cell);
    let plain: String = text.trim_start_matches('\'').nfc().collect();
    let mut out = String::with_capacity(plain.len());
    for word in plain.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A member number as the register writes it, from what a spreadsheet may have made of it:
/// `'`-neutraliser and white space removed, `1234.0` and `1.234E+03` back to `1234`.
pub fn normalise_member_id(cell: &str) -> String {
    let id = unneutralise(cell).trim();
    if id.bytes().all(|b| b.is_ascii_digit()) {
        return id.to_owned();
    }
    let numeric = id
        .bytes()
        .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
    match id.parse::<f64>() {
        Ok(n) if numeric && n.fract() == 0.0 && (0.0..9.0e15).contains(&n) => {
            format!("{n:.0}")
        }
        _ => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::extract::format;

    fn key() -> PseudonymKey {
        PseudonymKey::from_slice(&[9u8; 32]).unwrap()
    }

    #[test]
    fn names_make_the_tag_when_there_are_both_and_their_place_does_not_matter() {
        let a = [Field::MemberId, Field::FirstName, Field::LastName];
        let b = [Field::LastName, Field::Phone, Field::FirstName];
        let ta = TagColumns::for_fields(&a);
        let tb = TagColumns::for_fields(&b);
        assert_eq!(ta, TagColumns::Names { first: 1, last: 2 });
        let ra = ta.row_ref(&key(), &[Some("1001"), Some("Åsa"), Some("Öberg")]);
        let rb = tb.row_ref(&key(), &[Some("ÖBERG "), Some("070"), Some("  åsa")]);
        assert_eq!(ra, rb);
    }

    #[test]
    fn without_names_every_cell_in_catalogue_order_makes_the_tag() {
        let a = TagColumns::for_fields(&[Field::Phone, Field::Email]);
        let b = TagColumns::for_fields(&[Field::Email, Field::Phone]);
        assert_eq!(
            a.row_ref(&key(), &[Some("070"), Some("a@b.se")]),
            b.row_ref(&key(), &[Some("a@b.se"), Some("070")])
        );
        assert_ne!(
            a.row_ref(&key(), &[Some("070"), Some("a@b.se")]),
            a.row_ref(&key(), &[Some("071"), Some("a@b.se")])
        );
    }

    #[test]
    fn a_spreadsheets_rewriting_of_a_cell_normalises_away() {
        assert_eq!(normalise("'-Anna  Maria "), "-anna maria");
        // A decomposed "å" (a + ring) is the composed one.
        assert_eq!(normalise("A\u{30a}sa"), normalise("Åsa"));
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn a_nul_or_leading_apostrophes_do_not_change_a_cells_tag() {
        assert_eq!(normalise("A\0nna\0"), normalise("Anna"));
        for cell in ["=x", "'=x", "''=x", "\0'=x", "'\0'=X"] {
            assert_eq!(normalise(cell), "=x", "{cell:?}");
        }
    }

    /// Pieces a hostile or unlucky name is made of: NUL, apostrophes, triggers, invisible
    /// characters, letters in both Unicode compositions.
    const PIECES: &[&str] = &[
        "\0", "'", "''", "=", "+", "-", "@", "＝", "\t", "\r", "\n", " ", "\u{a0}", "\u{200b}",
        "\u{feff}", "\u{3000}", ";", "\"", "Anna", "Å", "A\u{30a}", "<r>", "</r>",
    ];

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(PIECES), 0..8).prop_map(|v| v.concat()),
        ]
    }

    fn info() -> format::XlsxInfo {
        format::XlsxInfo {
            extract_id: "EXT-1".to_owned(),
            title: "Test".to_owned(),
            expires: "2030-01-01T00:00:00Z".to_owned(),
            notice: "Test".to_owned(),
        }
    }

    /// The data row of a file read back, as the trace sees it (a missing cell is empty).
    fn data_row(table: &[Vec<String>]) -> Vec<Option<String>> {
        let row = table.get(1).cloned().unwrap_or_default();
        (0..2).map(|i| row.get(i).cloned()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_row_read_back_from_its_csv_or_xlsx_has_the_tag_it_was_built_with(
            first in name(),
            last in name(),
        ) {
            let tags = TagColumns::for_fields(&[Field::FirstName, Field::LastName]);
            let cells = [Some(first), Some(last)];
            let built = tags.row_ref(&key(), &cells);

            let mut csv = Vec::new();
            format::csv_header(&["first_name", "last_name"], &mut csv);
            format::csv_row(&cells, &mut csv);
            let from_csv = data_row(&format::read_csv(&csv).unwrap());
            prop_assert_eq!(tags.row_ref(&key(), &from_csv), built);

            let mut xlsx = format::XlsxBuilder::new(&["first_name", "last_name"], &info()).unwrap();
            xlsx.push_row(&cells).unwrap();
            let from_xlsx = data_row(&format::read_xlsx(&xlsx.finish().unwrap()).unwrap());
            prop_assert_eq!(tags.row_ref(&key(), &from_xlsx), built);
        }
    }

    #[test]
    fn member_numbers_come_back_from_spreadsheet_numbers() {
        assert_eq!(normalise_member_id(" 100234 "), "100234");
        assert_eq!(normalise_member_id("100234.0"), "100234");
        assert_eq!(normalise_member_id("1.00234E+05"), "100234");
        assert_eq!(normalise_member_id("0042"), "0042");
        assert_eq!(normalise_member_id("M-17"), "M-17");
        assert_eq!(normalise_member_id("12.5"), "12.5");
        assert_eq!(normalise_member_id("inf"), "inf");
    }
}
