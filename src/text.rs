//! Free text as people type it — justifications, reasons, comments, display names, member
//! numbers, filter values — checked by one rule, so every parser refuses the same characters
//! and the API description can state exactly what it takes (`web::api::wire_schema` builds its
//! patterns from the constants here, and its tests hold them against [`Rule::check`]).
//!
//! Guarantees: a text that passes holds no control character (Unicode general category Cc;
//! only `\n`, and only where the rule allows several lines), no line or paragraph separator
//! (U+2028, U+2029: a line break by another name), and no bidirectional embedding, override or
//! isolate control (U+202A–U+202E, U+2066–U+2069). Those make a text read differently from
//! what it holds — a justification or an audit comment that shows one thing to the approver
//! and stores another (CVE-2021-42574, "Trojan Source"; Unicode UAX #9 §2). The directional
//! *marks* (U+200E, U+200F, U+061C) stay allowed: names in Arabic or Hebrew script need them
//! and they cannot reorder text around them. Its length as sent is at most the rule's maximum
//! and, trimmed of white space, at least its minimum, so a schema's `maxLength` and
//! `minLength` say exactly what is taken (ASVS 5.0 V1.3, V2.2.1).
//!
//! Never: rewrites, strips or replaces a character inside the text. A text is refused or kept
//! as typed (only trimmed), so what the audit log holds is what the person wrote.

use std::fmt;

/// How many lines a text may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no line break at all.
    One,
    /// Several lines, broken by `\n` (a browser's textarea sends `\r\n`, which the pages turn
    /// into `\n` before they parse; a lone `\r` would move the cursor back over the line).
    Many,
}

/// What a free text may be: its length in characters and how many lines it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The fewest characters once white space at either end is trimmed.
    pub min: usize,
    /// The most characters as sent, white space included.
    pub max: usize,
    pub lines: Lines,
}

/// Why a text was refused: a phrase that completes "The text …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Length { min: usize, max: usize },
    Control,
    LineBreak,
    Bidi,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Length { min, max } => write!(f, "must be {min} to {max} characters"),
            Refused::Control => f.write_str("may not hold control characters"),
            Refused::LineBreak => f.write_str("must be on one line"),
            Refused::Bidi => f.write_str(
                "may not hold characters that change the direction of text \
                 (U+202A–U+202E, U+2066–U+2069)",
            ),
        }
    }
}

/// The bidirectional embedding, override and isolate controls (UAX #9 §2.1–2.4): LRE, RLE,
/// PDF, LRO, RLO, then LRI, RLI, FSI, PDI.
pub const BIDI_CONTROLS: [(char, char); 2] = [('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}')];

/// The line and paragraph separators: line breaks that are not `\n`.
pub const SEPARATORS: [char; 2] = ['\u{2028}', '\u{2029}'];

/// A bidirectional embedding, override or isolate control.
pub fn is_bidi_control(c: char) -> bool {
    BIDI_CONTROLS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Why `c` may not stand inside a text with `lines`, if it may not.
fn refused_char(c: char, lines: Lines) -> Option<Refused> {
    if c == '\n' {
        return (lines == Lines::One).then_some(Refused::LineBreak);
    }
    if SEPARATORS.contains(&c) {
        return Some(Refused::LineBreak);
    }
    if c.is_control() {
        return Some(Refused::Control);
    }
    is_bidi_control(c).then_some(Refused::Bidi)
}

impl Rule {
    /// One line of `min` to `max` characters.
    pub const fn one_line(min: usize, max: usize) -> Rule {
        Rule {
            min,
            max,
            lines: Lines::One,
        }
    }

    /// Lines broken by `\n`, `min` to `max` characters in all.
    pub const fn lines(min: usize, max: usize) -> Rule {
        Rule {
            min,
            max,
            lines: Lines::Many,
        }
    }

    /// The text trimmed of white space at either end, if the rule takes it.
    pub fn check<'a>(&self, text: &'a str) -> Result<&'a str, Refused> {
        let too_long = text.chars().count() > self.max;
        let trimmed = text.trim();
        if too_long || trimmed.chars().count() < self.min {
            return Err(self.length());
        }
        self.check_chars(trimmed)?;
        Ok(trimmed)
    }

    /// The text exactly as sent, if the rule takes it untrimmed: for a value that must match
    /// what the register holds, character for character.
    pub fn check_exact<'a>(&self, text: &'a str) -> Result<&'a str, Refused> {
        let count = text.chars().count();
        if count < self.min || count > self.max {
            return Err(self.length());
        }
        self.check_chars(text)?;
        Ok(text)
    }

    fn check_chars(&self, text: &str) -> Result<(), Refused> {
        match text.chars().find_map(|c| refused_char(c, self.lines)) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    fn length(&self) -> Refused {
        Refused::Length {
            min: self.min,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ONE: Rule = Rule::one_line(2, 10);
    const MANY: Rule = Rule::lines(2, 10);

    #[test]
    fn white_space_at_either_end_is_trimmed_and_the_rest_is_kept_as_typed() {
        assert_eq!(ONE.check("  Anna  "), Ok("Anna"));
        assert_eq!(MANY.check("\ta\nb\n"), Ok("a\nb"));
        assert_eq!(ONE.check("\u{3000}ab\u{85}"), Ok("ab"));
        // Directional marks are letters' companions in RTL scripts, not controls.
        assert_eq!(ONE.check("אב\u{200F}"), Ok("אב\u{200F}"));
    }

    #[test]
    fn the_minimum_counts_the_trimmed_text_and_the_maximum_the_text_as_sent() {
        assert_eq!(ONE.check("a"), Err(Refused::Length { min: 2, max: 10 }));
        assert_eq!(
            ONE.check("   a   "),
            Err(Refused::Length { min: 2, max: 10 })
        );
        assert_eq!(ONE.check(&"x".repeat(10)), Ok("x".repeat(10).as_str()));
        assert!(ONE.check(&"x".repeat(11)).is_err());
        // Ten characters once trimmed, eleven as sent: over the maximum the schema states.
        assert_eq!(
            ONE.check(&format!("{} ", "x".repeat(10))),
            Err(Refused::Length { min: 2, max: 10 })
        );
    }

    #[test]
    fn every_bidi_embedding_override_and_isolate_control_is_refused() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(ONE.check(&format!("a{c}b")), Err(Refused::Bidi), "{c:?}");
            assert_eq!(MANY.check(&format!("a{c}b")), Err(Refused::Bidi), "{c:?}");
            assert_eq!(ONE.check_exact(&format!("a{c}b")), Err(Refused::Bidi));
        }
        // Their neighbours are ordinary characters.
        for c in ['\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}'] {
            assert_ne!(ONE.check(&format!("a{c}b")), Err(Refused::Bidi), "{c:?}");
        }
    }

    #[test]
    fn control_characters_and_line_breaks_are_refused_where_the_rule_says() {
        assert_eq!(ONE.check("a\nb"), Err(Refused::LineBreak));
        assert_eq!(MANY.check("a\nb"), Ok("a\nb"));
        for text in ["a\rb", "a\tb", "a\u{7}b", "a\u{0}b", "a\u{85}b", "a\u{9f}b"] {
            assert_eq!(MANY.check(text), Err(Refused::Control), "{text:?}");
            assert_eq!(ONE.check(text), Err(Refused::Control), "{text:?}");
        }
        for text in ["a\u{2028}b", "a\u{2029}b"] {
            assert_eq!(MANY.check(text), Err(Refused::LineBreak), "{text:?}");
        }
    }

    #[test]
    fn an_exact_value_is_neither_trimmed_nor_spared_the_character_rule() {
        assert_eq!(ONE.check_exact(" a "), Ok(" a "));
        assert_eq!(
            ONE.check_exact("a"),
            Err(Refused::Length { min: 2, max: 10 })
        );
        assert_eq!(ONE.check_exact("ab\n"), Err(Refused::LineBreak));
    }

    #[test]
    fn every_refusal_reads_as_the_end_of_a_sentence() {
        for refused in [
            Refused::Length { min: 1, max: 5 },
            Refused::Control,
            Refused::LineBreak,
            Refused::Bidi,
        ] {
            let sentence = format!("The text {refused}.");
            assert!(
                sentence.starts_with("The text must ") || sentence.starts_with("The text may ")
            );
            assert!(
                !sentence.ends_with("..") && !sentence.contains("  "),
                "{sentence}"
            );
        }
    }

    proptest! {
        /// An oracle written from the module's guarantees, character by character.
        #[test]
        fn a_text_passes_exactly_when_no_character_is_refused_and_its_lengths_fit(
            text in "[a-z \\n\\r\\t\u{85}\u{a0}\u{2028}\u{202A}\u{202E}\u{2066}\u{2069}\u{200F}]{0,14}"
        ) {
            let trimmed = text.trim();
            let forbidden = |c: char, lines: Lines| {
                (c == '\n' && lines == Lines::One)
                    || (c != '\n' && (c.is_control() || c == '\u{2028}' || c == '\u{2029}'))
                    || ('\u{202A}'..='\u{202E}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c)
            };
            for rule in [ONE, MANY] {
                let expected = text.chars().count() <= rule.max
                    && trimmed.chars().count() >= rule.min
                    && !trimmed.chars().any(|c| forbidden(c, rule.lines));
                prop_assert_eq!(rule.check(&text).is_ok(), expected, "{:?}", text);
            }
        }
    }
}
