//! Reviewing the sample: the district's approver or an auditor reaching the district reads
//! the drawn releases, records for each "reviewed, fine" or "open a case" with a comment, and
//! signs the period off when every item is reviewed.
//!
//! Guarantees: who sees and reviews a district's sample is [`super::scope`] (the policy's
//! `audit.view` and `extract.approve` reach); a sample outside it is reported exactly like a
//! missing one. Nobody reviews their own release. An item is reviewed once and a period signed
//! off once, never with an item unreviewed (the store's conditional updates decide a race).
//! Every look is audited (`followup.sample_list`), every review and sign-off too
//! (`followup.sample_review`, `followup.sample_signoff`) in the transaction that stores it; a
//! comment is stored, and only its length and SHA-256 go to the log. Sampling happens before
//! any answer: ended periods not drawn yet are drawn first ([`super::draw::draw_due`]).
//!
//! Never: show or log member data; let a case be opened without a comment.

use serde_json::json;
use time::OffsetDateTime;

use super::draw::{self, rfc3339};
use super::scope;
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::Error;
use crate::policy::Principal;
use crate::store::samples::{self as rows, DrawRow, ItemRow};

/// What a reviewer decided about one item. `as_str` is the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reviewed, fine.
    Fine,
    /// Open a case: something must be followed up (a comment says what).
    Case,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fine => "fine",
            Verdict::Case => "case",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Fine, Verdict::Case]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Which sample: a district and the start of its period (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleKey {
    pub district: String,
    pub period_start: i64,
}

impl SampleKey {
    /// A district and its period's first day (`YYYY-MM-DD`, at `followup.utc_offset`) as the
    /// pages and the API name a sample; anything else is no sample ([`Error::NotFound`]).
    pub fn parse(state: &Context, district: &str, period: &str) -> Result<SampleKey, Error> {
        let day = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(period, &day).map_err(|_| Error::NotFound)?;
        let offset = state.config.followup.utc_offset.0;
        let start = date.midnight().assume_offset(offset).unix_timestamp();
        let district = crate::nouns::DistrictCode::parse(district).map_err(|_| Error::NotFound)?;
        Ok(SampleKey {
            district: district.as_str().to_owned(),
            period_start: start,
        })
    }
}

/// A period's first (or, for an end, following) day as `YYYY-MM-DD` at `followup.utc_offset`.
pub fn period_day(state: &Context, at: i64) -> String {
    let offset = state.config.followup.utc_offset.0;
    OffsetDateTime::from_unix_timestamp(at)
        .map(|t| t.to_offset(offset).date().to_string())
        .unwrap_or_default()
}

/// What kind of release an audit action is: `download`, `view`, `call_list`, `call_outcome`
/// or `handover` (the stable code on the wire).
pub fn release_kind(action: &str) -> &'static str {
    match action {
        "extract.download" => "download",
        "extract.view" => "view",
        "calls.show" => "call_list",
        "calls.outcome" => "call_outcome",
        _ => "handover",
    }
}

/// A draw with its review counts, as the list shows it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub draw: DrawRow,
    pub items: i64,
    pub reviewed: i64,
    pub cases: i64,
}

/// One drawn release with what it was about.
#[derive(Debug, Clone)]
pub struct Item {
    pub row: ItemRow,
    /// The person who released the data (the processor's hand-over: who requested it).
    pub releaser_id: String,
    /// The extract's purpose id, when the extract is still known.
    pub purpose: Option<String>,
}

/// A district's draw for one period, with its items in the order drawn.
#[derive(Debug, Clone)]
pub struct Sample {
    pub draw: DrawRow,
    pub items: Vec<Item>,
}

impl Sample {
    pub fn unreviewed(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.row.verdict.is_none())
            .count()
    }
}

fn scope_names(scope: Option<&[String]>) -> Vec<String> {
    scope.map_or_else(|| vec!["*".to_owned()], <[String]>::to_vec)
}

fn in_scope(scope: Option<&[String]>, district: &str) -> bool {
    scope.is_none_or(|d| d.iter().any(|x| x == district))
}

/// The samples of the districts `who` reaches, newest period first, after drawing what is
/// due. Audited as `followup.sample_list`.
pub async fn list(
    state: &Context,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Vec<Summary>, Error> {
    let scope = scope(state, who).await?;
    let actor = Actor::user(who.user_id());
    draw::draw_due(state, &actor, scope.as_deref(), now).await?;
    let counts = state.store.list_sample_counts().await?;
    let found: Vec<Summary> = state
        .store
        .list_sample_draws()
        .await?
        .into_iter()
        .filter(|d| in_scope(scope.as_deref(), &d.district))
        .map(|draw| {
            let c = counts
                .iter()
                .find(|c| c.district == draw.district && c.period_start == draw.period_start);
            Summary {
                items: c.map_or(0, |c| c.items),
                reviewed: c.map_or(0, |c| c.reviewed),
                cases: c.map_or(0, |c| c.cases),
                draw,
            }
        })
        .collect();
    let event = Event::new(
        EventKind::SampleListed,
        actor,
        "samples",
        Outcome::Success,
        json!({ "count": found.len(), "scope": scope_names(scope.as_deref()) }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(found)
}

/// One sample `who` may see (else [`Error::NotFound`]), without recording a look.
async fn find(
    state: &Context,
    who: &Principal,
    key: &SampleKey,
    now: OffsetDateTime,
) -> Result<Sample, Error> {
    let scope = match scope(state, who).await {
        Ok(scope) => scope,
        Err(Error::Denied { .. }) => return Err(Error::NotFound),
        Err(e) => return Err(e),
    };
    if !in_scope(scope.as_deref(), &key.district) {
        return Err(Error::NotFound);
    }
    let actor = Actor::user(who.user_id());
    let district = [key.district.clone()];
    draw::draw_due(state, &actor, Some(&district), now).await?;
    let draw = state
        .store
        .find_sample_draw(&key.district, key.period_start)
        .await?
        .ok_or(Error::NotFound)?;
    let mut items = Vec::new();
    for row in state
        .store
        .list_sample_items(&key.district, key.period_start)
        .await?
    {
        let extract = state.store.find_extract(&row.extract_id).await?;
        let releaser_id = match row.actor.strip_prefix("user:") {
            Some(id) => id.to_owned(),
            None => extract
                .as_ref()
                .map(|e| e.requester_id.clone())
                .unwrap_or_default(),
        };
        items.push(Item {
            releaser_id,
            purpose: extract.map(|e| e.purpose),
            row,
        });
    }
    Ok(Sample { draw, items })
}

/// One district's sample for one period, audited as `followup.sample_list` (naming it).
pub async fn show(
    state: &Context,
    who: &Principal,
    key: &SampleKey,
    now: OffsetDateTime,
) -> Result<Sample, Error> {
    let sample = find(state, who, key, now).await?;
    let event = Event::new(
        EventKind::SampleListed,
        Actor::user(who.user_id()),
        &format!("sample:{}:{}", key.district, key.period_start),
        Outcome::Success,
        json!({ "count": 1, "district": key.district,
            "from": rfc3339(sample.draw.period_start), "to": rfc3339(sample.draw.period_end) }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(sample)
}

/// A review's comment: one line of at most 2000 characters ([`crate::text`]); may be empty
/// for "reviewed, fine", never for a case.
pub const REVIEW_COMMENT: crate::text::Rule = crate::text::Rule::one_line(0, 2000);

/// A review's comment, trimmed: required to open a case, optional when fine.
pub fn check_comment(verdict: Verdict, text: &str) -> Result<String, Error> {
    let comment = REVIEW_COMMENT.check(text).map_err(|e| {
        Error::BadInput(format!(
            "say on one line, in at most {} characters, what you found: the comment {e}",
            REVIEW_COMMENT.max
        ))
    })?;
    if verdict == Verdict::Case && comment.is_empty() {
        return Err(Error::Conflict(
            "case_comment_required",
            "say in the comment why a case is opened".into(),
        ));
    }
    Ok(comment.to_owned())
}

/// Records `verdict` (with `comment`) for item `position` (1, 2, …) of a sample `who` reaches; their own
/// release, an item reviewed already or a signed-off sample is a conflict. The review and its
/// `followup.sample_review` event commit together.
pub async fn review(
    state: &Context,
    who: &Principal,
    key: &SampleKey,
    position: &str,
    verdict: Verdict,
    comment: &str,
    now: OffsetDateTime,
) -> Result<Sample, Error> {
    // Anything but a whole number is no item.
    let position: i64 = position.parse().map_err(|_| Error::NotFound)?;
    let comment = check_comment(verdict, comment)?;
    let sample = find(state, who, key, now).await?;
    if sample.draw.signed_off_at.is_some() {
        return Err(signed_off());
    }
    let item = sample
        .items
        .iter()
        .find(|i| i.row.position == position)
        .ok_or(Error::NotFound)?;
    if item.releaser_id == who.user_id() {
        return Err(Error::Conflict(
            "own_release",
            "nobody reviews their own release: ask another approver of the district or an \
             auditor to review this item"
                .into(),
        ));
    }
    let mut tx = state.store.begin().await?;
    let at = now.unix_timestamp();
    let place = (key.district.as_str(), key.period_start, position);
    let by = who.user_id();
    if !rows::review_sample_item(&mut tx, place, verdict.as_str(), &comment, by, at).await? {
        tx.rollback().await?;
        return Err(Error::Conflict(
            "already_reviewed",
            "this item is already reviewed".into(),
        ));
    }
    let event = Event::new(
        EventKind::SampleReviewed,
        Actor::user(who.user_id()),
        &format!("sample:{}:{}", key.district, key.period_start),
        Outcome::Success,
        json!({
            "district": key.district, "from": rfc3339(sample.draw.period_start),
            "to": rfc3339(sample.draw.period_end), "position": position,
            "audit_seq": item.row.audit_seq, "verdict": verdict.as_str(),
            "comment_chars": comment.chars().count(),
            "comment_sha256": crate::crypto::sha256_hex(comment.as_bytes()),
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    find(state, who, key, now).await
}

fn signed_off() -> Error {
    Error::Conflict(
        "already_signed_off",
        "this period's sample is already signed off".into(),
    )
}

/// Signs off a sample `who` reaches once every item is reviewed (else a conflict naming how
/// many are left). The sign-off and its `followup.sample_signoff` event commit together.
pub async fn sign_off(
    state: &Context,
    who: &Principal,
    key: &SampleKey,
    now: OffsetDateTime,
) -> Result<Sample, Error> {
    let sample = find(state, who, key, now).await?;
    if sample.draw.signed_off_at.is_some() {
        return Err(signed_off());
    }
    let left = sample.unreviewed();
    if left > 0 {
        return Err(Error::Conflict(
            "sample_unreviewed",
            format!("review every item before signing off: {left} not reviewed yet"),
        ));
    }
    let mut tx = state.store.begin().await?;
    let at = now.unix_timestamp();
    if !rows::sign_off_sample(&mut tx, &key.district, key.period_start, who.user_id(), at).await? {
        tx.rollback().await?;
        return Err(signed_off());
    }
    let cases = sample
        .items
        .iter()
        .filter(|i| i.row.verdict.as_deref() == Some("case"))
        .count();
    let event = Event::new(
        EventKind::SampleSignedOff,
        Actor::user(who.user_id()),
        &format!("sample:{}:{}", key.district, key.period_start),
        Outcome::Success,
        json!({
            "district": key.district, "from": rfc3339(sample.draw.period_start),
            "to": rfc3339(sample.draw.period_end), "items": sample.items.len(), "cases": cases,
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    find(state, who, key, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_needs_a_comment_and_fine_does_not() {
        assert!(check_comment(Verdict::Case, "  ").is_err());
        assert_eq!(check_comment(Verdict::Fine, " ").unwrap(), "");
        assert_eq!(
            check_comment(Verdict::Case, " Fråga Anna ").unwrap(),
            "Fråga Anna"
        );
        assert!(check_comment(Verdict::Fine, "rad\nrad").is_err());
    }

    #[test]
    fn verdicts_round_trip() {
        for v in [Verdict::Fine, Verdict::Case] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
        }
        assert_eq!(Verdict::parse("ok"), None);
    }
}
