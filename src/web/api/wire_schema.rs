//! Schemas of the wire strings that the domain parses, for the API description: what a valid
//! value looks like, written from the parser that checks it (each names it), so a client —
//! and the API fuzzer (SECURITY_BAR G1) — can tell a well-formed value from a refused one.
//! The tests hold each pattern against its parser.
//!
//! They are names for `#[schema(value_type = …)]`; nothing is parsed here. The patterns are
//! ECMA-262 as JSON Schema reads it, using only what common engines read alike.

use std::borrow::Cow;

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

use crate::nouns::{Field, Role};
use crate::text::{BIDI_CONTROLS, Lines, Rule, SEPARATORS};

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

/// `policy::PurposeId::parse`: a lowercase letter, then letters, digits and single `-`.
const PURPOSE_PATTERN: &str = "^[a-z](?:-?[a-z0-9])*$";
/// `register::DistrictCode::parse`: the characters of a district code, no space at either end.
const DISTRICT_PATTERN: &str =
    "^[A-Za-z0-9åäöÅÄÖ_-](?:[A-Za-z0-9åäöÅÄÖ _-]{0,62}[A-Za-z0-9åäöÅÄÖ_-])?$";

/// `\uXXXX` for a regex.
fn escaped(c: char) -> String {
    format!("\\u{:04X}", u32::from(c))
}

/// The characters `crate::text` refuses inside a text with `lines`, as the inside of a
/// character class: control characters (less `\n` where lines may break), the separators and
/// the bidi controls, all from the constants the parser uses.
fn refused(lines: Lines) -> String {
    let controls = match lines {
        Lines::One => CONTROL,
        Lines::Many => r"\u0000-\u0009\u000B-\u001F\u007F-\u009F",
    };
    let separators: String = SEPARATORS.iter().copied().map(escaped).collect();
    let bidi: String = BIDI_CONTROLS
        .iter()
        .map(|(first, last)| format!("{}-{}", escaped(*first), escaped(*last)))
        .collect();
    format!("{controls}{separators}{bidi}")
}

/// The pattern of a text `crate::text::Rule::check` takes: trimmed, then checked. Anything
/// the trim removes may stand at either end; what is left starts and ends with a character
/// the trim keeps, so it is exactly the trimmed text, `rule.min` to `rule.max` long. (The
/// length as sent is the schema's `maxLength`.)
fn trimmed(rule: &Rule) -> String {
    let refused = refused(rule.lines);
    let inner = format!("[^{refused}]");
    let end = format!("[^{refused}{WHITE}]");
    let (min, max) = (rule.min, rule.max);
    let core = if min >= 2 {
        format!("{end}{inner}{{{},{}}}{end}", min - 2, max - 2)
    } else {
        let core = format!("{end}(?:{inner}{{0,{}}}{end})?", max.saturating_sub(2));
        if min == 1 {
            core
        } else {
            format!("(?:{core})?")
        }
    };
    format!("^[{WHITE}]*{core}[{WHITE}]*$")
}

/// A text checked by a [`Rule`], described with its length and what it may hold.
fn text(what: &str, rule: Rule) -> RefOr<Schema> {
    let lines = match rule.lines {
        Lines::One => "on one line",
        Lines::Many => "line breaks (`\\n`) allowed",
    };
    let description = format!(
        "{what}: {} to {} characters once white space at either end is trimmed, at most {} \
         as sent; {lines}; no control characters, no U+2028/U+2029 and no bidirectional \
         embedding, override or isolate controls (U+202A–U+202E, U+2066–U+2069).",
        rule.min, rule.max, rule.max
    );
    string(&description)
        .pattern(Some(trimmed(&rule)))
        .min_length(Some(rule.min))
        .max_length(Some(rule.max))
        .into()
}

fn words<const N: usize>(what: &str, words: [&str; N]) -> RefOr<Schema> {
    string(what).enum_values(Some(words)).into()
}

wire_schema!(
    /// A purpose id (`policy::PurposeId::parse`). Served as an `enum` of the catalogue in force
    /// ([`crate::web::api::openapi::document`]).
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

/// The characters of the Basic Multilingual Plane that `auth::Username::parse` takes, as the
/// inside of a character class of `\uXXXX` ranges: a letter or digit (`char::is_alphanumeric`,
/// any script) whose lowercase is one too, or `.`, `-`, `_`. Written out, not as `\p{L}`: a
/// Unicode property escape is outside the regex subset JSON Schema recommends (2020-12 §6.4),
/// and the OpenAPI 3.1 validator refuses it. Characters beyond U+FFFF cannot be written in
/// that subset at all (ECMA-262 without the `u` flag sees two UTF-16 halves), so the few
/// letters there that the parser takes are left out.
fn username_chars() -> &'static str {
    static CLASS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CLASS.get_or_init(|| {
        let takes = |c: char| {
            c.to_lowercase()
                .all(|l| l.is_alphanumeric() || matches!(l, '.' | '-' | '_'))
        };
        let mut class = String::new();
        let mut run: Option<(char, char)> = None;
        let close = |run: (char, char), class: &mut String| {
            class.push_str(&escaped(run.0));
            if run.1 != run.0 {
                class.push('-');
                class.push_str(&escaped(run.1));
            }
        };
        for c in (0..=0xFFFF_u32).filter_map(char::from_u32) {
            match run {
                Some((first, last)) if takes(c) && u32::from(last) + 1 == u32::from(c) => {
                    run = Some((first, c));
                }
                _ => {
                    if let Some(r) = run.take() {
                        close(r, &mut class);
                    }
                    run = takes(c).then_some((c, c));
                }
            }
        }
        if let Some(r) = run {
            close(r, &mut class);
        }
        class
    })
}

wire_schema!(
    /// A username (`auth::Username::parse`): 3–64 letters, digits, `.`, `-` or `_` (any script;
    /// stored lowercase), white space at either end ignored ([`username_chars`]).
    Username => string("A username: 3–64 letters, digits, `.`, `-` or `_`, stored in lowercase.")
        .pattern(Some(format!(
            "^[{WHITE}]*[{}]{{3,64}}[{WHITE}]*$",
            username_chars()
        )))
        .into()
);

wire_schema!(
    /// An e-mail address as an account takes it (`auth::accounts::check_email`), or nothing:
    /// empty or white space only is no address.
    Email => {
        let part = format!("[^@<>{WHITE}{CONTROL}]");
        string(
            "An e-mail address: one `@` with text on both sides and a `.` in the domain, no \
             white space, control characters or angle brackets, at most 254 characters. Empty \
             (or white space only) means no address.",
        )
        .pattern(Some(format!("^(?:[{WHITE}]*|{part}+@{part}*\\.{part}*)$")))
        .max_length(Some(crate::auth::accounts::MAX_EMAIL_CHARS))
        .into()
    }
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
    /// A download's header row (`web::api::extracts::file_header`): the field ids, or the
    /// fields' names in a language of the catalogues.
    FileHeader => words(
        "The header row: the field ids (`ids`, the default), or the fields' names in Swedish \
         (`sv`) or English (`en`).",
        ["ids", "sv", "en"]
    )
);

wire_schema!(
    /// `oversight::export::Format::parse`.
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
        "Why you need the list",
        crate::extract::JUSTIFICATION,
    )
);

wire_schema!(
    /// `extract::calls::NOTE`.
    CallNote => text("A short note on the call", crate::extract::calls::NOTE)
);

wire_schema!(
    /// `nouns::CallOutcome`; the purpose may offer fewer (409 `outcome_not_allowed`).
    CallOutcome => words(
        "How the call went.",
        crate::nouns::CallOutcome::ALL.map(crate::nouns::CallOutcome::as_str)
    )
);

wire_schema!(
    /// `extract::expire::check_freeze_reason`.
    FreezeReason => text(
        "Why (kept in the audit log)",
        crate::extract::expire::FREEZE_REASON,
    )
);

wire_schema!(
    /// `oversight::pseudonyms::check_reason`.
    RevealReason => text(
        "Why the member must be named (kept in the audit log)",
        crate::oversight::pseudonyms::REASON,
    )
);

wire_schema!(
    /// `oversight::followup::check_comment`.
    FlagComment => text(
        "What was done about the flag",
        crate::oversight::followup::COMMENT,
    )
);

wire_schema!(
    /// `oversight::followup::sample::check_comment` (a case needs one: 409 without).
    SampleComment => text(
        "What the reviewer found; required to open a case",
        crate::oversight::followup::sample::REVIEW_COMMENT,
    )
);

wire_schema!(
    /// `policy::source::check_comment`.
    PolicyComment => text(
        "Why the policy changes",
        crate::policy::source::COMMENT,
    )
);

wire_schema!(
    /// `extract::review::check_member_id`.
    MemberNumber => text(
        "A member number as the register holds it",
        crate::oversight::disclosures::MEMBER_ID,
    )
);

wire_schema!(
    /// `auth::accounts::check_display_name`.
    DisplayName => text(
        "The name people see",
        crate::auth::accounts::DISPLAY_NAME,
    )
);

wire_schema!(
    /// `auth::passkey::PasskeyName::parse`.
    PasskeyName => text(
        "What the user calls a passkey",
        crate::auth::passkey::PASSKEY_NAME,
    )
);

wire_schema!(
    /// A member pseudonym as typed (`oversight::pseudonyms::parse_member_ref`): 32 hexadecimal
    /// characters, any case, white space at either end ignored.
    MemberRef => string("A member pseudonym as the audit log shows it: 32 hexadecimal characters.")
        .pattern(Some(format!("^[{WHITE}]*[0-9A-Fa-f]{{32}}[{WHITE}]*$")))
        .into()
);

wire_schema!(
    /// An audit event code (`audit::EventKind::from_code`, after trimming), e.g. `extract.download`.
    EventCode => {
        let codes: Vec<String> = crate::audit::EventKind::ALL
            .iter()
            .map(|a| a.code().replace('.', "\\."))
            .collect();
        string("An audit event code, e.g. `extract.download`.")
            .pattern(Some(format!("^[{WHITE}]*(?:{})[{WHITE}]*$", codes.join("|"))))
            .into()
    }
);

wire_schema!(
    /// A value of a branch or status filter (`register::Filter::validate`): taken exactly as
    /// sent, by `register::FILTER_VALUE`'s character rule.
    FilterValue => {
        let rule = crate::register::FILTER_VALUE;
        string(&format!(
            "A local branch or membership status exactly as the register holds it: {} to {} \
             characters on one line, without control characters or bidirectional controls.",
            rule.min, rule.max
        ))
        .pattern(Some(format!("^[^{}]*$", refused(rule.lines))))
        .min_length(Some(rule.min))
        .max_length(Some(rule.max))
        .into()
    }
);

wire_schema!(
    /// An approval's comment (`extract::lifecycle::check_comment`).
    ApprovalComment => text(
        "Anything the requester should know (optional)",
        crate::extract::lifecycle::APPROVAL_COMMENT,
    )
);

wire_schema!(
    /// A denial's comment (`extract::lifecycle::check_comment`).
    DenialComment => text(
        "Why the request is denied (the requester is told)",
        crate::extract::lifecycle::DENIAL_COMMENT,
    )
);

wire_schema!(
    /// An extract id (`extract::ExtractId::parse`): 32 lowercase hexadecimal characters. Any
    /// other text answers like an id nobody may see: 404 (SECURITY_BAR C2).
    ExtractId => string("An extract id: 32 lowercase hexadecimal characters (128 random bits).")
        .pattern(Some("^[0-9a-f]{32}$"))
        .into()
);

wire_schema!(
    /// A request hash (`extract::request::Request::hash`): SHA-256 in lowercase hexadecimal.
    RequestHash => string("The SHA-256 of the request (`request_hash`), in lowercase hexadecimal.")
        .pattern(Some("^[0-9a-f]{64}$"))
        .into()
);

wire_schema!(
    /// An RFC 3339 time (`time`'s `Rfc3339`).
    Instant => string("An RFC 3339 time, e.g. `2026-03-01T00:00:00Z`.")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .into()
);

wire_schema!(
    /// A time of the breach-scope window (`web::api::audit_trace::basis`): RFC 3339, or
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
