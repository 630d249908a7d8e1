//! What fills each placeholder of an audit sentence, and which variant of a kind's sentence
//! fits an entry. A placeholder is filled from the one detail it names, formatted for people;
//! a detail the entry lacks leaves it unfilled (`None`), never shown raw.

use serde_json::Value;
use time::OffsetDateTime;

use super::{Entry, Known};
use crate::audit::EventKind;
use crate::web::i18n::{self, Lang, lookup, text, text_with};
use crate::web::labels;

/// The value of placeholder `name` for `entry`, or `None` when the entry does not hold it.
pub(super) fn value(
    lang: Lang,
    known: &Known,
    kind: EventKind,
    entry: &Entry,
    name: &str,
) -> Option<String> {
    let d = &entry.details;
    let s = |key: &str| d.get(key).and_then(Value::as_str);
    match name {
        // Sentences start with who did it; a proposer is named within one.
        "who" => Some(actor(lang, known, &entry.actor, true)),
        "whom" => entry
            .target
            .strip_prefix("user:")
            .map(|who| account(lang, known, who)),
        "proposer" => s("proposed_by").map(|p| actor(lang, known, p, false)),
        "caller" | "from_caller" => s(name).map(|p| actor(lang, known, p, false)),
        "outcome" => s("outcome").map(|o| {
            crate::web::i18n::lookup(lang, &format!("call_outcome.{o}"))
                .unwrap_or_else(|| o.to_owned())
        }),
        "address" => address(lang, d),
        "purpose" => s("purpose")
            .or_else(|| entry.target.strip_prefix("purpose:"))
            .map(|p| known.purpose(lang, p)),
        "district" => s("district").map(|x| labels::district(lang, x)),
        // A processor and its agreement, by the names recorded at the time.
        "processor" => s("processor_name").map(str::to_owned),
        "agreement" => s("agreement_ref").map(str::to_owned),
        "fields" => texts(d, "fields").map(|f| {
            let shown: Vec<String> = f.iter().map(|x| labels::field(lang, x)).collect();
            listed(lang, &shown)
        }),
        "format" => s("format").map(|f| super::format_name(lang, f)),
        "lifetime" => d
            .get("lifetime_minutes")
            .and_then(Value::as_u64)
            .map(|m| i18n::duration(lang, u32::try_from(m).unwrap_or(u32::MAX))),
        "state" => s("state").map(|x| labels::state(lang, x)),
        "until" => ["until", "expires_at", "invitation_expires_at"]
            .iter()
            .find_map(|k| d.get(*k).and_then(Value::as_i64))
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .map(|t| i18n::datetime(lang, t)),
        "from" | "to" => s(name)
            .and_then(i18n::parse_rfc3339)
            .map(|t| i18n::datetime(lang, t)),
        "reason" => reason(lang, kind, d),
        "why" => s("reason").map(|r| quoted(lang, r)),
        "comment" => s("comment").map(|c| quoted(lang, c)),
        "role" => s("role").map(|r| role(lang, r)),
        "roles" => texts(d, "roles").map(|r| {
            let shown: Vec<String> = r.iter().map(|x| role(lang, x)).collect();
            listed(lang, &shown)
        }),
        "method" => s("method").map(|m| word(lang, "method", m)),
        "provider" => s("provider").map(|p| known.provider(lang, p)),
        "issuer" | "version" | "listen" | "backend" => s(name).map(str::to_owned),
        "kind" => s("kind").map(|k| quoted(lang, &labels::flag_kind(lang, k))),
        "confidence" => s("confidence").map(|c| word(lang, "confidence", c)),
        "decision" => s("decision").map(|c| word(lang, "decision", c)),
        "permission" => s("action").map(|a| word(lang, "permission", &a.replace('.', "_"))),
        // Pages are counted from 0 in the log, from 1 for people.
        "page" => count(d, "page").map(|p| i18n::number(lang, p.saturating_add(1))),
        _ => count(d, name).map(|n| i18n::number(lang, n)),
    }
}

/// Which variant of a kind's sentence fits the entry (`events.<kind>_<variant>`), if any.
pub(super) fn variant(kind: EventKind, entry: &Entry) -> Option<&'static str> {
    use EventKind as K;
    let d = &entry.details;
    let s = |key: &str| d.get(key).and_then(Value::as_str);
    let yes = |key: &str| d.get(key).and_then(Value::as_bool);
    match kind {
        K::PasswordRejected if !entry.target.starts_with("user:") => Some("unknown"),
        K::SecondFactorAccepted if s("purpose") == Some("step_up") => Some("step_up"),
        K::SecondFactorRejected if s("reason") == Some("locked") => Some("locked"),
        K::InvitationAccepted if s("provider").is_some() => Some("provider"),
        K::UserEmailChanged if yes("set") == Some(false) => Some("cleared"),
        K::OidcLinked if s("by") == Some("administrator") => Some("administrator"),
        K::RoleGranted | K::RoleRevoked if s("proposed_by").is_some() => Some("confirmed"),
        K::RoleChangeRequested if s("change") == Some("revoke") => Some("revoke"),
        K::RoleRecertified if s("outcome") == Some("removed") => Some("removed"),
        K::RoleChangeRejected | K::UserProposalRejected | K::PolicyProposalRejected
            if s("proposed_by") == Some(entry.actor.as_str()) =>
        {
            Some("withdrawn")
        }
        K::PhishingResistantRequired if s("purpose").is_some() => Some("purpose"),
        K::ExtractRequested if count(d, "approvers_needed") == Some(0) => Some("automatic"),
        K::CallsAssigned if s("from_caller").is_some() => Some("moved"),
        K::HandoverOffered if yes("again") == Some(true) => Some("again"),
        K::AuditMemberReport if yes("staff_names") == Some(true) => Some("names"),
        K::PseudonymRevealed if yes("found") == Some(false) => Some("not_found"),
        K::AuditExport if s("from").is_some() && s("to").is_some() => Some("period"),
        K::UsersListed => match entry.target.as_str() {
            "user_proposals" => Some("user_proposals"),
            "role_changes" => Some("role_changes"),
            "role_holdings" => Some("role_holdings"),
            _ => None,
        },
        K::ExtractQueueShown if entry.target == "extracts:overdue" => Some("overdue"),
        K::SampleDrawn if yes("early") == Some(true) => Some("early"),
        K::SampleListed if entry.target.starts_with("sample:") => Some("one"),
        K::SampleReviewed if s("verdict") == Some("case") => Some("case"),
        _ => None,
    }
}

/// Who did it: a person, Registervakt itself, an operator at the command line, or someone not
/// yet known. `lead`: the words start the sentence (a person's name is never recased).
fn actor(lang: Lang, known: &Known, actor: &str, lead: bool) -> String {
    if let Some(id) = actor.strip_prefix("user:") {
        let unknown = if lead {
            "events.unknown_actor"
        } else {
            "events.unknown_account"
        };
        return known
            .person_by_id(id)
            .map_or_else(|| text(lang, unknown), str::to_owned);
    }
    if actor.starts_with("processor:") {
        return text(lang, "events.actor_processor");
    }
    if let Some(user) = actor.strip_prefix("cli:") {
        return text_with(lang, "events.actor_cli", &[("user", user.to_owned())]);
    }
    match actor {
        "system" => text(lang, "events.actor_system"),
        _ => text(lang, "events.actor_anonymous"),
    }
}

/// The account an entry is about, named by username or by id: the person, else the username
/// as given (an account proposed but not yet made), never an id.
fn account(lang: Lang, known: &Known, who: &str) -> String {
    if let Some(p) = known
        .person_by_name(who)
        .or_else(|| known.person_by_id(who))
    {
        return p.to_owned();
    }
    let looks_like_id = who.len() >= 16 && who.chars().all(|c| c.is_ascii_hexdigit());
    if looks_like_id {
        text(lang, "events.unknown_account")
    } else {
        who.to_owned()
    }
}

/// The client's address; recorded without one, "an unknown address".
fn address(lang: Lang, d: &Value) -> Option<String> {
    match d.get("ip")? {
        Value::String(ip) if !ip.is_empty() => Some(ip.clone()),
        _ => Some(text(lang, "events.unknown_address")),
    }
}

/// Why it was refused or failed, in words: a policy's deny code, why an extract was destroyed
/// (told to the auditor, not to the requester as `end_reasons` are), a failed build's or a
/// second factor's reason.
fn reason(lang: Lang, kind: EventKind, d: &Value) -> Option<String> {
    if let Some(code) = d.get("code").and_then(Value::as_str) {
        return Some(word_or_other(lang, "deny", code));
    }
    let reason = d.get("reason").and_then(Value::as_str)?;
    Some(match kind {
        EventKind::ExtractShredded => word_or_other(lang, "shred", reason),
        EventKind::ExtractBuildFailed => word_or_other(lang, "build", reason),
        _ => word_or_other(lang, "reason", reason),
    })
}

/// `events.<group>_<code>`, or `events.<group>_other` for a code the catalogue does not know.
fn word_or_other(lang: Lang, group: &str, code: &str) -> String {
    lookup(lang, &format!("events.{group}_{code}"))
        .unwrap_or_else(|| text(lang, &format!("events.{group}_other")))
}

/// `events.<group>_<code>`, or the code itself (a closed set the tests cover).
fn word(lang: Lang, group: &str, code: &str) -> String {
    lookup(lang, &format!("events.{group}_{code}")).unwrap_or_else(|| code.to_owned())
}

/// A role grant `approver:Uppsala` as words: `Säkerhetsansvarig för Uppsala`.
fn role(lang: Lang, grant: &str) -> String {
    match grant.split_once(':') {
        Some((role, district)) => text_with(
            lang,
            "events.role_in",
            &[
                ("role", labels::role(lang, role)),
                ("district", labels::district(lang, district)),
            ],
        ),
        None => labels::role(lang, grant),
    }
}

/// Text a person wrote, quoted as the language quotes.
fn quoted(lang: Lang, said: &str) -> String {
    text_with(lang, "common.quoted", &[("text", said.to_owned())])
}

/// Items joined by commas; "none" when there are none.
fn listed(lang: Lang, items: &[String]) -> String {
    if items.is_empty() {
        text(lang, "events.none")
    } else {
        items.join(", ")
    }
}

/// A list of texts in the details.
fn texts<'a>(d: &'a Value, key: &str) -> Option<Vec<&'a str>> {
    d.get(key)?
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

/// A count in the details: a number, or how many a list holds.
fn count(d: &Value, key: &str) -> Option<i64> {
    match d.get(key)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|n| i64::try_from(n).unwrap_or(i64::MAX))),
        Value::Array(items) => i64::try_from(items.len()).ok(),
        _ => None,
    }
}
