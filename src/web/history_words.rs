//! A policy change tried against history (`admin::policy_history`), in words: a summary line
//! per way requests move, then one sentence per request — who, which purpose, which district,
//! when in local time, the decision before and after. The admin page, the API's pending
//! proposals and `registervakt policy diff --against-history` all say it with these sentences.
//!
//! Never: shows an id, a code or a UTC time where a name, a sentence or a local time exists.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::policy_history::{Changed, HistoryDiff, Verdict};
use crate::policy::Policy;
use crate::web::i18n::{self, Lang, text, text_with};
use crate::web::labels;

/// The difference in words, as the pages and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryWords {
    /// What was tried: how many days, how many requests.
    pub intro: String,
    /// Said when more requests were in the window than were read; else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped: Option<String>,
    /// One line per way requests move, with the count ("2 requests would now be denied"); empty
    /// when nothing changes.
    pub summary: Vec<String>,
    /// One sentence per request whose decision changes, newest first.
    pub requests: Vec<HistoryRequestWords>,
    /// Said when nothing changes; else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<String>,
}

/// One past request whose decision the proposal changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryRequestWords {
    /// `now_denied`, `more_approvers`, `fewer_approvers`, `now_allowed` or `now_approvable`.
    pub change: &'static str,
    /// The whole sentence.
    pub sentence: String,
}

fn verdict(lang: Lang, v: &Verdict) -> String {
    match v {
        Verdict::Allowed => text(lang, "policy_history.allowed"),
        Verdict::Approvers(n) => text_with(
            lang,
            "policy_history.approvers",
            &[("count", n.to_string())],
        ),
        Verdict::Denied { code, .. } => {
            let reason = i18n::lookup(lang, &format!("events.deny_{}", code.as_str()))
                .unwrap_or_else(|| text(lang, "events.deny_other"));
            text_with(lang, "policy_history.denied", &[("reason", reason)])
        }
    }
}

fn sentence(lang: Lang, policy: &Policy, c: &Changed) -> String {
    let when = OffsetDateTime::from_unix_timestamp_nanos(i128::from(c.at_ms) * 1_000_000)
        .map(|t| i18n::datetime(lang, t))
        .unwrap_or_default();
    text_with(
        lang,
        "policy_history.request",
        &[
            ("who", c.requester.clone()),
            (
                "purpose",
                labels::purpose_name(lang, policy, c.purpose.as_str()),
            ),
            ("district", labels::district(lang, c.district.as_str())),
            ("when", when),
            ("before", verdict(lang, &c.before)),
            ("after", verdict(lang, &c.after)),
        ],
    )
}

/// `diff` in `lang`; purposes are named as `policy` (the one in force) names them.
pub fn words(lang: Lang, policy: &Policy, diff: &HistoryDiff) -> HistoryWords {
    let days = diff.window.days.to_string();
    let read = diff.read.to_string();
    let intro = text_with(
        lang,
        "policy_history.intro",
        &[("days", days.clone()), ("read", read.clone())],
    );
    let capped = diff.capped.then(|| {
        text_with(
            lang,
            "policy_history.capped",
            &[("read", read.clone()), ("days", days.clone())],
        )
    });
    let summary = diff
        .counts()
        .into_iter()
        .map(|(shift, n)| {
            text_with(
                lang,
                &format!("policy_history.count_{}", shift.as_str()),
                &[("count", n.to_string())],
            )
        })
        .collect();
    let requests: Vec<HistoryRequestWords> = diff
        .changes
        .iter()
        .map(|c| HistoryRequestWords {
            change: c.shift.as_str(),
            sentence: sentence(lang, policy, c),
        })
        .collect();
    let unchanged = requests
        .is_empty()
        .then(|| text_with(lang, "policy_history.unchanged", &[("days", days)]));
    HistoryWords {
        intro,
        capped,
        summary,
        requests,
        unchanged,
    }
}
