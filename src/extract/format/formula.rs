//! What a spreadsheet may read as the start of a formula: the trigger characters, their
//! lookalikes, and the characters a spreadsheet may pass over before it looks for one.
//!
//! Guarantees: [`starts_formula`] is true for every text whose first character that is not
//! blank, invisible or a control character is a trigger or a lookalike of one, and for every
//! text where a TAB or CR comes before the first visible character. It over-approximates on
//! purpose: a cell neutralised without need shows one apostrophe too many, a cell missed runs
//! a formula on a staff member's machine (issue 15).
//!
//! Must never: depend on one spreadsheet's rules. Excel, LibreOffice and Google Sheets each
//! decide differently and change between versions, and CI runs only LibreOffice; so the
//! classes below are Unicode's own, chosen to contain whatever any of them is known to skip
//! or fold.

/// Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV Injection",
/// <https://owasp.org/www-community/attacks/CSV_Injection>; ASVS 5.0 V1.2.10): `=`, `+`, `-`,
/// `@`, TAB and CR.
pub(super) const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Lookalikes of `= + - @` that a spreadsheet may fold into the ASCII character before it
/// parses a cell: every character whose compatibility form (NFKC, Unicode UAX #15) begins
/// with one — full-width ＝＋－＠ (SECURITY_BAR F4 names them: a spreadsheet that folds
/// character width, as East Asian input does, reads them as ASCII), small forms ﹦﹢﹣﹫,
/// super- and subscripts ⁼⁺₌₊, ⩵ ⩶ and the Hebrew alternative plus ﬩ (the test
/// `every_compatibility_form_of_a_trigger_is_a_trigger` checks the list against NFKC) — and
/// U+2212 MINUS SIGN, which has no compatibility form but is the minus sign of the Swedish
/// locale in CLDR, so a Swedish spreadsheet may read `−1` as a negative number.
pub(super) const LOOKALIKE_TRIGGERS: [char; 16] = [
    '\u{207A}', // ⁺ SUPERSCRIPT PLUS SIGN
    '\u{207C}', // ⁼ SUPERSCRIPT EQUALS SIGN
    '\u{208A}', // ₊ SUBSCRIPT PLUS SIGN
    '\u{208C}', // ₌ SUBSCRIPT EQUALS SIGN
    '\u{2212}', // − MINUS SIGN
    '\u{2A75}', // ⩵ TWO CONSECUTIVE EQUALS SIGNS
    '\u{2A76}', // ⩶ THREE CONSECUTIVE EQUALS SIGNS
    '\u{FB29}', // ﬩ HEBREW LETTER ALTERNATIVE PLUS SIGN
    '\u{FE62}', // ﹢ SMALL PLUS SIGN
    '\u{FE63}', // ﹣ SMALL HYPHEN-MINUS
    '\u{FE66}', // ﹦ SMALL EQUALS SIGN
    '\u{FE6B}', // ﹫ SMALL COMMERCIAL AT
    '\u{FF0B}', // ＋ FULLWIDTH PLUS SIGN
    '\u{FF0D}', // － FULLWIDTH HYPHEN-MINUS
    '\u{FF1D}', // ＝ FULLWIDTH EQUALS SIGN
    '\u{FF20}', // ＠ FULLWIDTH COMMERCIAL AT
];

/// True if a spreadsheet may take `text` for a formula: after any run of skipped characters
/// ([`is_skipped`]) comes a trigger or a lookalike. TAB and CR are both skipped (they are
/// white space) and triggers, so one anywhere in the leading run counts, as OWASP asks for a
/// leading TAB or CR whatever follows it.
pub(super) fn starts_formula(text: &str) -> bool {
    // Most cells start with a letter or digit, which is neither a trigger nor skipped.
    if text
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    for c in text.chars() {
        if is_trigger(c) {
            return true;
        }
        if !is_skipped(c) {
            return false;
        }
    }
    false
}

pub(super) fn is_trigger(c: char) -> bool {
    TRIGGERS.contains(&c) || LOOKALIKE_TRIGGERS.contains(&c)
}

/// Characters a spreadsheet may pass over, drop or trim before it looks at a cell's first
/// character: control characters (general category Cc: NUL and the C0 and C1 controls),
/// white space (Unicode's White_Space property: NBSP, U+2028, U+3000 …), format characters
/// (category Cf: zero-width space and joiners, bidi marks, U+FEFF …) and the rest of what
/// Unicode calls Default_Ignorable_Code_Point (variation selectors, Hangul fillers, tags),
/// which renders as nothing (UAX #44; the test
/// `every_character_unicode_calls_a_control_blank_or_invisible_is_skipped` checks the table
/// against the Unicode data of the `regex` crate).
///
/// Why all of them: a reader that works on C strings or strips what it cannot show drops them
/// silently — LibreOffice 7.4 drops a NUL on CSV import, so `\0=1+2*3` arrived as the formula
/// `=1+2*3` (issue 15) — and import options that trim white space differ per spreadsheet and
/// locale. ASVS 5.0 V1.2.10 names NUL among the characters to neutralise.
pub(super) fn is_skipped(c: char) -> bool {
    c.is_control() || c.is_whitespace() || is_invisible(c)
}

/// Categories Cf and Default_Ignorable_Code_Point, less what `is_control` and `is_whitespace`
/// already cover (Unicode 16).
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}
