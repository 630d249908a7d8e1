//! Digits a spreadsheet would read as a number and so change: `0701234567` loses its zero,
//! `1234567890123456789` its last digits. Such a cell is marked as text like a formula is
//! (issue 18), so a phone number, postcode or member number keeps every digit.
//!
//! Guarantees: [`number_would_change`] is true for every text of ASCII digits — which may be
//! split or surrounded by the digit-group separators below — that starts with `0` and has a
//! second digit, or that has more than [`NUMBER_DIGITS`] digits. It over-approximates on
//! purpose, as `formula` does: a cell marked without need shows an apostrophe in a CSV, a cell
//! missed loses a zero in every copy staff make of it.
//!
//! Must never: mark a text with anything but digits and separators (`070-123 45 67`,
//! `012 34` and `+46…` keep their form; the last is a formula trigger anyway).

/// What a spreadsheet may take for a digit-group separator: the space (Swedish is written
/// `1 000`), NBSP (U+00A0, the Swedish group separator in CLDR and Windows) and the narrow
/// NBSP (U+202F, CLDR's since version 34 for some locales). Measured with LibreOffice 7.4 under
/// Swedish settings: `000 123` became the number 123.
const GROUP_SEPARATORS: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

/// Digits a spreadsheet keeps of a number: Excel keeps 15 significant digits (Microsoft,
/// "Excel specifications and limits": number precision), so a 16th and later become zeros.
pub(super) const NUMBER_DIGITS: usize = 15;

/// True if a spreadsheet reading `text` as a number would change it (see the module).
pub(super) fn number_would_change(text: &str) -> bool {
    let mut digits = 0usize;
    let mut leading_zero = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if digits == 0 {
                leading_zero = c == '0';
            }
            digits += 1;
        } else if !GROUP_SEPARATORS.contains(&c) {
            return false;
        }
    }
    (leading_zero && digits >= 2) || digits > NUMBER_DIGITS
}
