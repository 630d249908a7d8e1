//! Schemas of the wire strings that the domain parses, for the API description: what a valid
//! value looks like, written from the parser that checks it (each names it), so a client —
//! and the API fuzzer (SECURITY_BAR G1) — can tell a well-formed value from a refused one.
//! The tests hold each pattern against its parser.
//!
//! They are names for `#[schema(value_type = …)]`; nothing is parsed here. The patterns are
//! ECMA-262 as JSON Schema reads it, using only what common engines read alike.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

use crate::nouns::Field;
use crate::nouns::Role;

/// A named schema: a unit struct, its schema, and its name in `components.schemas`.
macro_rules! wire_schema {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(description))
}

/// What `str::trim` removes: Unicode White_Space, as `char::is_whitespace` reads it.
const WHITE: &str = r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// `char::is_control`: general category Cc.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// White space that is not a control character (the rest of [`WHITE`] is).
const WHITE_PRINTABLE: &str = r" \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// `policy::PurposeId::parse`: a lowercase letter, then letters, digits and single `-`.
const PURPOSE_PATTERN: &str = "^[a-z](?:-?[a-z0-9])*$";
/// `register::DistrictCode::parse`: the characters of a district code, no space at either end.
const DISTRICT_PATTERN: &str =
    "^[A-Za-z0-9åäöÅÄÖ_-](?:[A-Za-z0-9åäöÅÄÖ _-]{0,62}[A-Za-z0-9åäöÅÄÖ_-])?$";

/// Which control characters a text may hold once trimmed.
#[derive(Clone, Copy)]
enum Controls {
    None,
    LineBreaks,
    Any,
}

/// The pattern of a text the library trims and then checks: `chars` characters long, holding
/// the `controls` allowed. Anything the trim removes may stand at either end; what is left
/// starts and ends with a character the trim keeps, so it is exactly the trimmed text.
fn trimmed(chars: &RangeInclusive<usize>, controls: Controls) -> String {
    let kept_end = format!("[^{CONTROL}{WHITE_PRINTABLE}]");
    let (inner, end) = match controls {
        Controls::None => (format!("[^{CONTROL}]"), kept_end),
        Controls::LineBreaks => (
            r"[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]".to_owned(),
            kept_end,
        ),
        Controls::Any => (r"[\s\S]".to_owned(), format!("[^{WHITE}]")),
    };
    let (min, max) = (*chars.start(), *chars.end());
    let core = if min >= 2 {
        format!("{end}{inner}{{{},{}}}{end}", min - 2, max - 2)
    } else {
        format!("{end}(?:{inner}{{0,{}}}{end})?", max.saturating_sub(2))
    };
    format!("^[{WHITE}]*{core}[{WHITE}]*$")
}

/// A text checked by a trimming rule, described with its length.
fn text(what: &str, chars: RangeInclusive<usize>, controls: Controls) -> RefOr<Schema> {
    let description = format!(
        "{what}: {} to {} characters, not counting white space at either end.",
        chars.start(),
        chars.end()
    );
    string(&description)
        .pattern(Some(trimmed(&chars, controls)))
        .into()
}

fn words<const N: usize>(what: &str, words: [&str; N]) -> RefOr<Schema> {
    string(what).enum_values(Some(words)).into()
}

wire_schema!(
    /// A purpose id (`policy::PurposeId::parse`). Served as an `enum` of the catalogue in force
    /// ([`super::openapi::document`]).
    PurposeId => string("A purpose id from the catalogue in force (`GET /api/v1/policy`).")
        .pattern(Some(PURPOSE_PATTERN))
        .max_length(Some(64))
        .into()
);

wire_schema!(
    /// A purpose id as a filter (`policy::PurposeId::parse`): any well-formed id, in the
    /// catalogue or not (an old purpose still names entries).
    PurposeFilter => string("A purpose id: 1–64 lowercase letters, digits and single `-`.")
        .pattern(Some(PURPOSE_PATTERN))
        .max_length(Some(64))
        .into()
);

wire_schema!(
    /// A register field's name (`register::Field::from_str`): one of [`Field::ALL`].
    FieldName => words("A register field.", Field::ALL.map(Field::as_str))
);

wire_schema!(
    /// A district code (`register::DistrictCode::parse`): 1–64 letters (ASCII and åäöÅÄÖ),
    /// digits, spaces, `-` and `_`, with no space at either end.
    District => string("A district as the register names it, e.g. `Uppsala`.")
        .pattern(Some(DISTRICT_PATTERN))
        .into()
);

wire_schema!(
    /// A username (`auth::Username::parse`): 3–64 letters, digits, `.`, `-` or `_` (any script;
    /// stored lowercase), white space at either end ignored. `İ` (U+0130) is the one letter
    /// the parser refuses: its lowercase is `i` and a combining dot, which is not a letter.
    /// (The parser also takes the few letters Unicode calls alphabetic outside category L,
    /// such as `Ⓐ`; the pattern leaves them out, `\p{Alphabetic}` being beyond the fuzzer's
    /// regex dialect.)
    Username => string("A username: 3–64 letters, digits, `.`, `-` or `_`, stored in lowercase.")
        .pattern(Some(format!(
            "^[{WHITE}]*(?:(?!\\u0130)[\\p{{L}}\\p{{N}}._-]){{3,64}}[{WHITE}]*$"
        )))
        .into()
);

wire_schema!(
    /// A role in a scope (`auth::RoleGrant::from_str`): `ROLE:DISTRICT` or `ROLE:*`.
    RoleGrant => {
        let roles = Role::ALL.map(Role::as_str).join("|");
        let district = DISTRICT_PATTERN.trim_start_matches('^').trim_end_matches('$');
        string("A role and where it applies, e.g. `staff:Uppsala` or `auditor:*`.")
            .pattern(Some(format!("^(?:{roles}):(?:\\*|{district})$")))
            .into()
    }
);

wire_schema!(
    /// `admin::roles::Change::parse`.
    RoleChange => words("Grant or revoke the role.", ["grant", "revoke"])
);

wire_schema!(
    /// A download's format (`policy::Format::parse`, less `view`, which is not a file).
    FileFormat => words("The file's format, as the purpose allows.", ["csv", "xlsx"])
);

wire_schema!(
    /// `audit::export::Format::parse`.
    ExportFormat => words(
        "JSON lines (every hashed field, for a SIEM) or CSV (for people).",
        ["jsonl", "csv"]
    )
);

wire_schema!(
    /// `true`: the request accepts the purpose's acknowledgement text (`false` is refused).
    Acknowledged => ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Boolean))
        .description(Some("You accept the purpose's acknowledgement text: must be true."))
        .enum_values(Some([true]))
        .into()
);

wire_schema!(
    /// `extract::request::check_justification`.
    Justification => text(
        "Why you need the list, without control characters other than line breaks",
        crate::extract::JUSTIFICATION_CHARS,
        Controls::LineBreaks,
    )
);

wire_schema!(
    /// `extract::expire::check_freeze_reason`.
    FreezeReason => text(
        "Why, on one line (kept in the audit log)",
        crate::extract::expire::FREEZE_REASON_CHARS,
        Controls::None,
    )
);

wire_schema!(
    /// `extract::pseudonyms::check_reason`.
    RevealReason => text(
        "Why the member must be named, on one line (kept in the audit log)",
        crate::extract::pseudonyms::REASON_CHARS,
        Controls::None,
    )
);

wire_schema!(
    /// `extract::followup::check_comment`.
    FlagComment => text(
        "What was done about the flag, on one line",
        crate::extract::followup::COMMENT_CHARS,
        Controls::None,
    )
);

wire_schema!(
    /// `policy::source::check_comment`.
    PolicyComment => text(
        "Why the policy changes",
        crate::policy::source::COMMENT_CHARS,
        Controls::Any,
    )
);

wire_schema!(
    /// `extract::review::check_member_id`.
    MemberNumber => text(
        "A member number as the register holds it, on one line",
        crate::extract::review::MEMBER_ID_CHARS,
        Controls::None,
    )
);

wire_schema!(
    /// `auth::accounts::check_display_name`.
    DisplayName => text(
        "The name people see, on one line",
        crate::auth::accounts::DISPLAY_NAME_CHARS,
        Controls::None,
    )
);

wire_schema!(
    /// A member pseudonym as typed (`extract::pseudonyms::parse_member_ref`): 32 hexadecimal
    /// characters, any case, white space at either end ignored.
    MemberRef => string("A member pseudonym as the audit log shows it: 32 hexadecimal characters.")
        .pattern(Some(format!("^[{WHITE}]*[0-9A-Fa-f]{{32}}[{WHITE}]*$")))
        .into()
);

wire_schema!(
    /// An audit event code (`audit::Action::from_code`, after trimming), e.g. `extract.download`.
    EventCode => {
        let codes: Vec<String> = crate::audit::Action::ALL
            .iter()
            .map(|a| a.code().replace('.', "\\."))
            .collect();
        string("An audit event code, e.g. `extract.download`.")
            .pattern(Some(format!("^[{WHITE}]*(?:{})[{WHITE}]*$", codes.join("|"))))
            .into()
    }
);

wire_schema!(
    /// A value of a branch or status filter (`register::Filter::validate`): 1–200 characters.
    FilterValue => string("A local branch or membership status as the register holds it.")
        .min_length(Some(1))
        .max_length(Some(crate::register::MAX_VALUE_CHARS))
        .into()
);

wire_schema!(
    /// An RFC 3339 time (`time`'s `Rfc3339`).
    Instant => string("An RFC 3339 time, e.g. `2026-03-01T00:00:00Z`.")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .into()
);

wire_schema!(
    /// A time of the breach-scope window (`web::audit_trace_api::basis`): RFC 3339, or
    /// `YYYY-MM-DDTHH:MM` in UTC as an HTML form sends it; trimmed, and blank counts as
    /// absent. The pattern is the shape only: the parser also checks that the date exists.
    WindowTime => {
        let shape = format!(
            "^[{WHITE}]*(?:[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}\
             (?::[0-9]{{2}}(?:\\.[0-9]+)?(?:[Zz]|[+-][0-9]{{2}}:[0-9]{{2}}))?)?[{WHITE}]*$"
        );
        AnyOfBuilder::new()
            .item(Instant::schema())
            .item(string("The same, as a form sends it.").pattern(Some(shape)))
            .description(Some("RFC 3339, or `YYYY-MM-DDTHH:MM` (UTC); blank is absent."))
            .into()
    }
);

#[cfg(test)]
mod tests;
