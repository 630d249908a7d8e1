//! The pages' languages: Swedish by default (the users are Swedish party staff), English by
//! choice. Every string a page or the pages' scripts show comes from one catalogue per
//! language, `locales/sv.toml` and `locales/en.toml`, compiled into the binary; dates and
//! numbers are formatted per language here.
//!
//! Guarantees: both catalogues hold exactly the same keys, and every key a template uses
//! exists (unit tests below); a key missing at run time shows as the key itself, never as an
//! empty page. Catalogue text is plain text: templates escape it like any other value.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, State};
use time::OffsetDateTime;

/// The cookie that keeps a visitor's choice of language (not a secret, not a session).
pub const LANG_COOKIE: &str = "rv_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Sv,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Sv, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language a request's `Cookie` header chose; Swedish when none or an unknown one.
    pub fn from_cookie_header(header: Option<&str>) -> Lang {
        Lang::chosen(header).unwrap_or_default()
    }

    fn chosen(cookie: Option<&str>) -> Option<Lang> {
        cookie
            .into_iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, value)| Lang::parse(value.trim()))
    }

    /// A page's language: the one the user chose (the cookie), else the one their browser asks
    /// for first among those we have (`Accept-Language`, RFC 9110 §12.5.4), else Swedish.
    pub fn of_request(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        Lang::chosen(cookie)
            .or_else(|| accept_language.and_then(Lang::preferred))
            .unwrap_or_default()
    }

    /// The supported language with the highest `q` in an `Accept-Language` value (the first
    /// of equals); `None` when it names neither.
    fn preferred(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, u16)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            let Some(lang) = Lang::parse(&primary) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| {
                    q.trim()
                        .parse::<f32>()
                        .map_or(0, |v| (v.clamp(0.0, 1.0) * 1000.0).round() as u16)
                });
            if q > 0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((lang, q));
            }
        }
        best.map(|(lang, _)| lang)
    }
}

type Table = BTreeMap<String, String>;

struct Catalogue {
    sv: Table,
    en: Table,
}

const SV_SOURCE: &str = include_str!("locales/sv.toml");
const EN_SOURCE: &str = include_str!("locales/en.toml");

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue {
    sv: load(SV_SOURCE, "sv"),
    en: load(EN_SOURCE, "en"),
});

/// Flattens `[section] key = "text"` into `section.key`. A catalogue that does not parse is
/// logged and left empty (pages then show keys); the unit tests keep that from shipping.
fn load(source: &str, code: &str) -> Table {
    let mut out = Table::new();
    match source.parse::<toml::Table>() {
        Ok(table) => flatten("", &table, &mut out),
        Err(e) => {
            tracing::error!(catalogue = code, error = %e, "language catalogue does not parse")
        }
    }
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Table) {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::String(text) => {
                out.insert(full, text.clone());
            }
            toml::Value::Table(inner) => flatten(&full, inner, out),
            _ => tracing::error!(key = full, "catalogue entries must be text"),
        }
    }
}

fn table(lang: Lang) -> &'static Table {
    match lang {
        Lang::Sv => &CATALOGUE.sv,
        Lang::En => &CATALOGUE.en,
    }
}

/// The text for `key` in `lang`; the key itself when the catalogue lacks it.
pub fn text(lang: Lang, key: &str) -> String {
    match table(lang).get(key) {
        Some(text) => text.clone(),
        None => {
            tracing::warn!(key, lang = lang.code(), "text missing from the catalogue");
            key.to_owned()
        }
    }
}

/// The text for `key` if the catalogue has it (for optional texts such as error codes).
pub fn lookup(lang: Lang, key: &str) -> Option<String> {
    table(lang).get(key).cloned()
}

/// What a page says for an error: the catalogue's sentence for its code (`error.<code>`).
/// A code whose details the catalogue cannot know (`invalid_input` from a parser deep in the
/// domain) shows its own sentence on an English page; a Swedish page never shows English:
/// it says, from the catalogue, that the input could not be used (`error.unexplained`).
pub fn error_text(lang: Lang, code: &str, message: &str) -> String {
    lookup(lang, &format!("error.{code}"))
        // The passkey errors' sentences are kept with the rest of the passkey texts.
        .or_else(|| lookup(lang, &format!("passkeys.error_{code}")))
        .unwrap_or_else(|| match lang {
            Lang::En => message.to_owned(),
            Lang::Sv => text(lang, "error.unexplained"),
        })
}

/// `text` with `{name}` placeholders filled in.
///
/// A text may also say `{name|one|other}`: `one` when the argument `name` is shown as "1",
/// else `other` ("{minutes} {minutes|minut|minuter}"), so no page says "1 minuter".
pub fn text_with(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let mut out = text(lang, key);
    for (name, value) in args {
        out = plural_forms(&out, name, value == "1");
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Replaces each `{name|one|other}` in `text` by `one` or `other`.
fn plural_forms(text: &str, name: &str, one: bool) -> String {
    let open = format!("{{{name}|");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find('}') else {
            break;
        };
        let (single, many) = after[..end].split_once('|').unwrap_or((&after[..end], ""));
        out.push_str(&rest[..start]);
        out.push_str(if one { single } else { many });
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every text whose key starts with `prefix.`, keyed by the rest (for the pages' scripts).
pub fn section(lang: Lang, prefix: &str) -> BTreeMap<String, String> {
    let start = format!("{prefix}.");
    table(lang)
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&start)
                .map(|rest| (rest.to_owned(), v.clone()))
        })
        .collect()
}

/// What the pages' scripts may say: the `js` section, and every error sentence as
/// `error_<code>` (so a refusal the API gives a script reads as it does on a page).
pub fn script_texts(lang: Lang) -> BTreeMap<String, String> {
    let mut texts = section(lang, "js");
    for (code, sentence) in section(lang, "error") {
        texts.entry(format!("error_{code}")).or_insert(sentence);
    }
    texts
}

/// A whole number with the language's digit grouping: `12 345` (with a no-break space) in
/// Swedish, `12,345` in English.
pub fn number(lang: Lang, n: i64) -> String {
    let sep = match lang {
        Lang::Sv => '\u{a0}',
        Lang::En => ',',
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

const MONTHS_SV: [&str; 12] = [
    "jan.", "feb.", "mars", "apr.", "maj", "juni", "juli", "aug.", "sep.", "okt.", "nov.", "dec.",
];
const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The zone times are shown in: set once at start-up from `server.time_zone`.
static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();

/// Sets the zone pages show times in (the first call wins; later ones are ignored, as one
/// process serves one configuration).
pub fn set_time_zone(name: &str) -> Result<(), jiff::Error> {
    let tz = jiff::tz::TimeZone::get(name)?;
    let _ = ZONE.set(tz);
    Ok(())
}

fn zone() -> &'static jiff::tz::TimeZone {
    ZONE.get_or_init(|| {
        jiff::tz::TimeZone::get(crate::config::DEFAULT_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC)
    })
}

/// A moment's wall-clock fields in the shown zone, and the zone's name at that moment
/// (`CET`, `CEST`).
struct Local {
    year: i16,
    month: usize,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    zone: String,
}

fn local(t: OffsetDateTime) -> Local {
    let tz = zone();
    let ts =
        jiff::Timestamp::from_second(t.unix_timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let z = ts.to_zoned_datetime(tz.clone());
    let zone = tz.to_offset_info(ts).abbreviation().to_owned();
    Local {
        year: z.year(),
        month: usize::try_from(z.month()).unwrap_or(1).clamp(1, 12) - 1,
        day: z.day(),
        hour: z.hour(),
        minute: z.minute(),
        second: z.second(),
        zone,
    }
}

fn day_text(lang: Lang, l: &Local) -> String {
    let name = match lang {
        Lang::Sv => MONTHS_SV[l.month],
        Lang::En => MONTHS_EN[l.month],
    };
    format!("{} {name} {}", l.day, l.year)
}

/// A day as the language writes it, in the shown zone: `2 dec. 2026`, `2 Dec 2026`.
pub fn date(lang: Lang, t: OffsetDateTime) -> String {
    day_text(lang, &local(t))
}

fn separator(lang: Lang) -> &'static str {
    match lang {
        Lang::Sv => " ",
        Lang::En => ", ",
    }
}

/// A moment to the minute in the shown zone, the zone named:
/// `2 dec. 2026 15:05 CET`, `2 Dec 2026, 15:05 CET`.
pub fn datetime(lang: Lang, t: OffsetDateTime) -> String {
    let l = local(t);
    format!(
        "{}{}{:02}:{:02} {}",
        day_text(lang, &l),
        separator(lang),
        l.hour,
        l.minute,
        l.zone
    )
}

/// A moment to the second, for the audit timeline: `2 dec. 2026 15:05:09 CET`,
/// `2 Dec 2026, 15:05:09 CET`.
pub fn datetime_seconds(lang: Lang, t: OffsetDateTime) -> String {
    let l = local(t);
    format!(
        "{}{}{:02}:{:02}:{:02} {}",
        day_text(lang, &l),
        separator(lang),
        l.hour,
        l.minute,
        l.second,
        l.zone
    )
}

/// A span of minutes in the largest whole unit: `45 minuter`, `8 timmar`, `3 dygn`, `1 vecka`.
pub fn duration(lang: Lang, minutes: u32) -> String {
    const HOUR: u32 = 60;
    const DAY: u32 = 24 * HOUR;
    const WEEK: u32 = 7 * DAY;
    let (key, n) = match minutes {
        m if m >= WEEK && m % WEEK == 0 => ("duration.weeks", m / WEEK),
        m if m >= DAY && m % DAY == 0 => ("duration.days", m / DAY),
        m if m >= HOUR && m % HOUR == 0 => ("duration.hours", m / HOUR),
        m => ("duration.minutes", m),
    };
    text_with(lang, key, &[("n", n.to_string())])
}

/// How far `t` is from `now` in words, in the largest whole unit: `om 3 dygn`, `om 2 timmar`,
/// `för 5 minuter sedan`, `nu`; beside a date, it saves the reader the arithmetic.
pub fn relative(lang: Lang, t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (t - now).whole_seconds();
    let minutes = u32::try_from(secs.unsigned_abs() / 60).unwrap_or(u32::MAX);
    if minutes == 0 {
        return text(lang, "relative.now");
    }
    // Rounded down to the largest unit that fits, so "om 1 dygn" is at least a day away.
    let shown = match minutes {
        m if m >= 7 * 1440 => (m / (7 * 1440)) * 7 * 1440,
        m if m >= 1440 => (m / 1440) * 1440,
        m if m >= 60 => (m / 60) * 60,
        m => m,
    };
    let span = duration(lang, shown);
    let key = if secs > 0 {
        "relative.in"
    } else {
        "relative.ago"
    };
    text_with(lang, key, &[("span", span)])
}

/// An RFC 3339 text as a moment (`None` when it is not one).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A moment from a template value: unix seconds, or RFC 3339 text.
fn moment(value: &Value) -> Option<OffsetDateTime> {
    if let Some(s) = value.as_str() {
        return parse_rfc3339(s);
    }
    i64::try_from(value.clone())
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
}

fn lang_of(state: &State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}

/// Adds `t(key, name=value…)` and the filters `number`, `date` and `datetime` to templates.
/// All read the page's language from the `lang` variable the page frame supplies.
pub fn register(env: &mut Environment<'static>) {
    env.add_function(
        "t",
        |state: &State, key: &str, kwargs: Kwargs| -> Result<String, minijinja::Error> {
            let lang = lang_of(state);
            let mut args = Vec::new();
            for name in kwargs.args() {
                let value: Value = kwargs.get(name)?;
                let shown = match (value.kind(), i64::try_from(value.clone())) {
                    (ValueKind::Number, Ok(n)) => number(lang, n),
                    _ => value.to_string(),
                };
                args.push((name, shown));
            }
            kwargs.assert_all_used()?;
            Ok(text_with(lang, key, &args))
        },
    );
    env.add_filter("number", |state: &State, value: Value| -> String {
        match i64::try_from(value.clone()) {
            Ok(n) => number(lang_of(state), n),
            Err(_) => value.to_string(),
        }
    });
    env.add_filter("date", |state: &State, value: Value| -> String {
        match moment(&value) {
            Some(t) => date(lang_of(state), t),
            None => value.to_string(),
        }
    });
    env.add_filter("datetime", |state: &State, value: Value| -> String {
        match moment(&value) {
            Some(t) => datetime(lang_of(state), t),
            None => value.to_string(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn both_catalogues_parse_and_hold_the_same_keys() {
        let sv: Vec<_> = CATALOGUE.sv.keys().collect();
        let en: Vec<_> = CATALOGUE.en.keys().collect();
        assert!(
            sv.len() > 20,
            "the Swedish catalogue is empty or does not parse"
        );
        let only_sv: Vec<_> = sv
            .iter()
            .filter(|k| !CATALOGUE.en.contains_key(**k))
            .collect();
        let only_en: Vec<_> = en
            .iter()
            .filter(|k| !CATALOGUE.sv.contains_key(**k))
            .collect();
        assert!(only_sv.is_empty(), "missing in en.toml: {only_sv:?}");
        assert!(only_en.is_empty(), "missing in sv.toml: {only_en:?}");
        for (key, text) in CATALOGUE.sv.iter().chain(CATALOGUE.en.iter()) {
            assert!(!text.trim().is_empty(), "{key} is empty");
        }
    }

    /// Every error code a handler can answer with (the string literals given to `ApiError`
    /// anywhere in `web`, and every policy denial) has its sentence in both catalogues, so a
    /// page never falls back to the domain's English; `invalid_input`, whose details come from
    /// parsers, has the catalogue's general sentence on a Swedish page.
    #[test]
    fn every_error_code_has_a_sentence_and_a_swedish_page_never_shows_english() {
        fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut texts = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
            &mut texts,
        );
        let mut codes = std::collections::BTreeSet::new();
        let openers = [
            "BadRequest(\"",
            "Forbidden(\"",
            "Conflict(\"",
            "Unauthorized(\"",
            "TooManyRequests(\"",
        ];
        for text in &texts {
            for opener in openers {
                for piece in text.split(opener).skip(1) {
                    if let Some(code) = piece.split('"').next()
                        && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        codes.insert(code.to_owned());
                    }
                }
            }
        }
        assert!(codes.len() > 20, "the scan found too few codes: {codes:?}");
        use crate::policy::DenyCode as D;
        for d in [
            D::UnknownPurpose,
            D::PurposeNotValid,
            D::NotPermitted,
            D::BadFields,
            D::FieldNotAllowed,
            D::LifetimeTooLong,
            D::TooManyRows,
            D::PolicyError,
            D::SelfApproval,
            D::NotApprover,
            D::RequestChanged,
            D::NotEnoughApprovers,
            D::PhishingResistantRequired,
        ] {
            codes.insert(d.as_str().to_owned());
        }
        codes.remove("invalid_input");
        for lang in [Lang::Sv, Lang::En] {
            let missing: Vec<&String> = codes
                .iter()
                .filter(|c| {
                    lookup(lang, &format!("error.{c}")).is_none()
                        && lookup(lang, &format!("passkeys.error_{c}")).is_none()
                })
                .collect();
            assert!(
                missing.is_empty(),
                "no error.<code> in {lang:?}: {missing:?}"
            );
        }
        let english = "say why you deny the request";
        assert_ne!(error_text(Lang::Sv, "invalid_input", english), english);
        assert_eq!(error_text(Lang::En, "invalid_input", english), english);
    }

    #[test]
    fn the_languages_are_chosen_by_cookie_and_default_to_swedish() {
        assert_eq!(Lang::from_cookie_header(None), Lang::Sv);
        assert_eq!(Lang::from_cookie_header(Some("a=b; rv_lang=en")), Lang::En);
        assert_eq!(Lang::from_cookie_header(Some("rv_lang=de")), Lang::Sv);
        assert_eq!(Lang::from_cookie_header(Some("xrv_lang=en")), Lang::Sv);
    }

    #[test]
    fn plural_forms_follow_the_number_shown() {
        assert_eq!(
            plural_forms("{n} {n|minut|minuter} kvar", "n", true),
            "{n} minut kvar"
        );
        assert_eq!(plural_forms("{n|a|b} och {n|c|d}", "n", false), "b och d");
        assert_eq!(plural_forms("{m|a|b}", "n", true), "{m|a|b}");
        assert_eq!(plural_forms("{n|a|b", "n", true), "{n|a|b");
    }

    #[test]
    fn a_browser_asking_for_english_gets_english_until_the_user_chooses() {
        assert_eq!(Lang::of_request(None, Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::of_request(None, Some("de-DE,en;q=0.5,sv;q=0.8")),
            Lang::Sv
        );
        assert_eq!(Lang::of_request(None, Some("fr, de")), Lang::Sv);
        assert_eq!(Lang::of_request(None, Some("en;q=0")), Lang::Sv);
        assert_eq!(Lang::of_request(None, None), Lang::Sv);
        // The user's own choice wins over the browser's.
        assert_eq!(
            Lang::of_request(Some("rv_lang=sv"), Some("en-US")),
            Lang::Sv
        );
        assert_eq!(
            Lang::of_request(Some("rv_lang=en"), Some("sv-SE")),
            Lang::En
        );
    }

    #[test]
    fn spans_and_relative_times_are_words_in_the_largest_whole_unit() {
        assert_eq!(duration(Lang::Sv, 45), "45 minuter");
        assert_eq!(duration(Lang::Sv, 60), "1 timme");
        assert_eq!(duration(Lang::Sv, 480), "8 timmar");
        assert_eq!(duration(Lang::Sv, 1440), "1 dygn");
        assert_eq!(duration(Lang::Sv, 10080), "1 vecka");
        assert_eq!(duration(Lang::En, 43200), "30 days");
        let now = datetime!(2026-12-06 12:00 UTC);
        let later = |m: i64| now + time::Duration::minutes(m);
        assert_eq!(relative(Lang::Sv, later(3 * 1440 + 5), now), "om 3 dygn");
        assert_eq!(relative(Lang::Sv, later(-125), now), "för 2 timmar sedan");
        assert_eq!(relative(Lang::En, later(1), now), "in 1 minute");
        assert_eq!(relative(Lang::En, now, now), "now");
    }

    #[test]
    fn numbers_and_dates_follow_the_language() {
        assert_eq!(number(Lang::Sv, 1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(number(Lang::En, 1_234_567), "1,234,567");
        assert_eq!(number(Lang::En, -1000), "-1,000");
        assert_eq!(number(Lang::Sv, 999), "999");
        // Shown in Europe/Stockholm (the default zone), named: CET in winter, CEST in summer.
        let t = datetime!(2026-12-02 14:05:09 UTC);
        assert_eq!(datetime(Lang::Sv, t), "2 dec. 2026 15:05 CET");
        assert_eq!(datetime(Lang::En, t), "2 Dec 2026, 15:05 CET");
        let summer = datetime!(2026-07-01 22:30 UTC);
        assert_eq!(datetime(Lang::Sv, summer), "2 juli 2026 00:30 CEST");
        assert_eq!(date(Lang::En, summer), "2 Jul 2026");
        assert_eq!(
            date(Lang::Sv, datetime!(2026-03-01 0:00 UTC)),
            "1 mars 2026"
        );
        assert_eq!(datetime_seconds(Lang::Sv, t), "2 dec. 2026 15:05:09 CET");
        assert_eq!(datetime_seconds(Lang::En, t), "2 Dec 2026, 15:05:09 CET");
    }

    #[test]
    fn an_error_with_a_fixed_meaning_is_told_in_the_page_language() {
        assert_eq!(
            error_text(
                Lang::Sv,
                "invalid_credentials",
                "the username or password is wrong"
            ),
            "Fel användarnamn eller lösenord."
        );
        assert_eq!(
            error_text(Lang::En, "invalid_credentials", "x"),
            "Wrong username or password."
        );
        // A code whose message carries details keeps the message in English only; a
        // Swedish page says it in Swedish, without the English details.
        assert_eq!(
            error_text(Lang::En, "invalid_input", "age_min is above age_max"),
            "age_min is above age_max"
        );
        assert_eq!(
            error_text(Lang::Sv, "invalid_input", "age_min is above age_max"),
            text(Lang::Sv, "error.unexplained")
        );
    }

    #[test]
    fn placeholders_are_filled_and_missing_keys_show_as_keys() {
        let mut env = Environment::new();
        register(&mut env);
        env.add_template(
            "x.html",
            "{{ t('nav.signed_in_as', name=who) }}|{{ t('no.such.key') }}|{{ n|number }}",
        )
        .unwrap();
        let out = env
            .get_template("x.html")
            .unwrap()
            .render(minijinja::context! { lang => "en", who => "<b>", n => 5000 })
            .unwrap();
        assert_eq!(out, "Signed in as &lt;b&gt;|no.such.key|5,000");
    }
}
