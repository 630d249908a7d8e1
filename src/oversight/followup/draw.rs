//! Drawing the sample: for each ended period and each district, a random sample of the
//! releases (downloads, views in the browser, call-list work, hand-overs) the audit log holds
//! for that district and period, drawn once.
//!
//! Guarantees: a district's period is drawn exactly once, however many brokers or requests ask
//! at the same time (the store's primary key and conditional insert; the loser's draw is
//! rolled back unseen). The seed is 256 bits from the operating system's CSPRNG, taken after the
//! population is fixed, and revealed in the draw's audit event (`followup.sample_draw`) together
//! with the population's size, the SHA-256 of its ordered ids ([`population_sha256`]) and the
//! chosen ids, so anyone can re-derive the sample with [`choose`]: random and complete. A
//! period with no releases is drawn too (an empty draw), so the record has no gaps.
//!
//! Never: read member data (a release is an audit entry about an extract), or draw a period
//! that has not ended unless `followup.sample_draw_early` allows it and the draw says so.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::Error;
use crate::store::audit::AuditRow;
use crate::store::samples::{self as rows, DrawRow, ItemRow};

/// The audit events that release member data to someone: a sample is drawn from these.
pub const RELEASES: [EventKind; 5] = [
    EventKind::ExtractReleased,
    EventKind::ExtractViewed,
    EventKind::CallsShown,
    EventKind::CallOutcomeRecorded,
    EventKind::HandoverReleased,
];

/// The name of the seed → sample function, recorded with every draw.
pub const ALGORITHM: &str = "registervakt.sample.v1";

/// Most periods drawn in one pass (older ones follow in the next pass).
const PERIODS_PER_PASS: usize = 26;

/// One sampling period, `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

/// The period that holds `at`: periods of `followup.sample_period_days` days start on
/// Monday 1970-01-05 00:00 at `followup.utc_offset` and follow each other without gaps (with
/// 7 days: the weeks, Monday to Monday).
pub fn period_of(state: &Context, at: i64) -> Period {
    let cfg = &state.config.followup;
    let len = i64::from(cfg.sample_period_days.max(1)) * 86_400;
    let anchor = 4 * 86_400 - i64::from(cfg.utc_offset.0.whole_seconds());
    let start = anchor + (at - anchor).div_euclid(len) * len;
    Period {
        start,
        end: start + len,
    }
}

/// The sample of `size` positions out of a population of `n`, from `seed`: the first `size`
/// steps of a Fisher–Yates shuffle of `0..n`, step `i` swapping position `i` with
/// `i + uniform(n - i)`. `uniform(m)` takes the first 8 bytes (big-endian) of
/// SHA-256(`"registervakt.sample.v1\0"` ‖ seed ‖ counter as 8 bytes big-endian), the counter
/// counting every block taken from 0, and rejects a value at or above the largest multiple of
/// `m` (so every position is equally likely), else answers value mod `m`. The positions come
/// back in the order drawn; all `n` when `size >= n`.
pub fn choose(seed: &[u8], n: usize, size: usize) -> Vec<usize> {
    let size = size.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut counter: u64 = 0;
    for i in 0..size {
        let m = (n - i) as u64;
        let j = i + usize::try_from(uniform(seed, &mut counter, m)).unwrap_or(0);
        order.swap(i, j);
    }
    order.truncate(size);
    order
}

fn uniform(seed: &[u8], counter: &mut u64, m: u64) -> u64 {
    let zone = (u64::MAX / m) * m;
    loop {
        let mut h = Sha256::new();
        h.update(ALGORITHM.as_bytes());
        h.update([0]);
        h.update(seed);
        h.update(counter.to_be_bytes());
        *counter += 1;
        let block = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&block[..8]);
        let x = u64::from_be_bytes(first);
        if x < zone {
            return x % m;
        }
    }
}

/// SHA-256 (hex) over a population's audit sequence numbers in order, each written in decimal
/// and followed by a line feed (the empty population hashes the empty string).
pub fn population_sha256(ids: &[i64]) -> String {
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    crate::crypto::sha256_hex(text.as_bytes())
}

/// A Unix time as RFC 3339 (UTC), as the audit details carry times.
pub(super) fn rfc3339(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The releases in `period`, by district, in audit order: successful release events whose
/// extract lies in one of `districts`.
async fn releases_in(
    state: &Context,
    period: Period,
    districts: &[String],
    cache: &mut HashMap<String, Option<String>>,
) -> Result<BTreeMap<String, Vec<AuditRow>>, Error> {
    let codes: Vec<&str> = RELEASES.iter().map(|k| k.code()).collect();
    let events = state
        .store
        .list_audit_events_by_action_between(&codes, period.start * 1000, period.end * 1000)
        .await?;
    let mut out: BTreeMap<String, Vec<AuditRow>> = BTreeMap::new();
    for event in events.into_iter().filter(|e| e.outcome == "success") {
        let Some(id) = event.target.strip_prefix("extract:") else {
            continue;
        };
        if !cache.contains_key(id) {
            let district = state.store.find_extract(id).await?.map(|r| r.district);
            cache.insert(id.to_owned(), district);
        }
        if let Some(Some(d)) = cache.get(id)
            && districts.contains(d)
        {
            out.entry(d.clone()).or_default().push(event);
        }
    }
    Ok(out)
}

/// Draws `district`'s `period` from `population` (in audit order) unless it is drawn already;
/// true when this call drew it. The draw, its items and its event commit together.
async fn draw_one(
    state: &Context,
    actor: &Actor,
    district: &str,
    period: Period,
    early: bool,
    population: &[AuditRow],
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let cfg = &state.config.followup;
    let ids: Vec<i64> = population.iter().map(|e| e.seq).collect();
    let digest = population_sha256(&ids);
    // The seed is taken only now that the population is fixed.
    let seed = crate::crypto::random_bytes::<32>();
    let chosen = choose(&seed, ids.len(), cfg.sample_size as usize);
    let seed_hex = hex::encode(seed);
    let review_by = period.end + i64::from(cfg.sample_review_days) * 86_400;
    let draw = DrawRow {
        district: district.to_owned(),
        period_start: period.start,
        period_end: period.end,
        review_by,
        population: i64::try_from(ids.len()).unwrap_or(i64::MAX),
        population_sha256: digest.clone(),
        seed: seed_hex.clone(),
        drawn_at: now.unix_timestamp(),
        early,
        signed_off_by: None,
        signed_off_at: None,
    };
    let mut tx = state.store.begin().await?;
    if !rows::insert_sample_draw(&mut tx, &draw).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    let mut sample = Vec::with_capacity(chosen.len());
    for (n, &i) in chosen.iter().enumerate() {
        let Some(event) = population.get(i) else {
            continue;
        };
        sample.push(event.seq);
        let item = ItemRow {
            district: district.to_owned(),
            period_start: period.start,
            position: i64::try_from(n + 1).unwrap_or(i64::MAX),
            audit_seq: event.seq,
            action: event.action.clone(),
            actor: event.actor.clone(),
            extract_id: event
                .target
                .strip_prefix("extract:")
                .unwrap_or_default()
                .to_owned(),
            occurred_at: event.occurred_at,
            verdict: None,
            comment: None,
            reviewed_by: None,
            reviewed_at: None,
        };
        rows::insert_sample_item(&mut tx, &item).await?;
    }
    let event = Event::new(
        EventKind::SampleDrawn,
        actor.clone(),
        &format!("sample:{district}:{}", period.start),
        Outcome::Success,
        json!({
            "district": district, "from": rfc3339(period.start), "to": rfc3339(period.end),
            "early": early, "review_by": review_by,
            "actions": RELEASES.iter().map(|k| k.code()).collect::<Vec<_>>(),
            "population": ids.len(), "population_sha256": digest,
            "algorithm": ALGORITHM, "seed": seed_hex,
            "sample_size": cfg.sample_size, "chosen": sample.len(), "sample": sample,
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Draws every ended period not drawn yet, for the register's districts within `scope`
/// (`None`: all), oldest first, from the first period ever drawn (before any: the period the
/// store began in, or the one that ended last if later); at most
/// [`PERIODS_PER_PASS`] periods per call. Returns how many draws this call made. Run by the
/// app's housekeeping (as `system`) and before the sample pages and API answer (as the asker).
pub async fn draw_due(
    state: &Context,
    actor: &Actor,
    scope: Option<&[String]>,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let now_s = now.unix_timestamp();
    // Sampling begins with the first period ever drawn. On a store that has none yet: with the
    // period in which the store began, or the one that ended last if that is later (history
    // from before sampling is not drawn at once: every old period would be an overdue flag).
    let origin = match state.store.first_sample_period().await? {
        Some(start) => start,
        None => {
            let Some(first_ms) = state.store.first_audit_time().await? else {
                return Ok(0);
            };
            let began = period_of(state, first_ms.div_euclid(1000)).start;
            let last_ended = period_of(state, period_of(state, now_s).start - 1).start;
            began.max(last_ended)
        }
    };
    let mut districts: Vec<String> = state
        .register
        .districts()
        .await?
        .iter()
        .map(|d| d.as_str().to_owned())
        .filter(|d| scope.is_none_or(|s| s.contains(d)))
        .collect();
    districts.sort();
    let mut next: BTreeMap<String, i64> = BTreeMap::new();
    for d in &districts {
        let from = match state.store.latest_sample_period(d).await? {
            Some(start) => period_of(state, start).end,
            None => origin,
        };
        next.insert(d.clone(), from);
    }
    let Some(mut at) = next.values().min().copied() else {
        return Ok(0);
    };
    let (mut made, mut cache) = (0, HashMap::new());
    for _ in 0..PERIODS_PER_PASS {
        let period = period_of(state, at);
        if period.end > now_s {
            break;
        }
        let needed: Vec<String> = next
            .iter()
            .filter(|(_, from)| **from <= period.start)
            .map(|(d, _)| d.clone())
            .collect();
        let found = releases_in(state, period, &needed, &mut cache).await?;
        for d in &needed {
            let population = found.get(d).map_or(&[][..], Vec::as_slice);
            if draw_one(state, actor, d, period, false, population, now).await? {
                made += 1;
            }
        }
        at = period.end;
    }
    Ok(made)
}

/// Draws the running period now, for the districts in `scope` that have no draw for it: only
/// when `followup.sample_draw_early` allows it (demos and trials). The draw covers the period
/// up to `now` and is marked early; the rest of that period goes undrawn. Returns the count.
pub async fn draw_early(
    state: &Context,
    actor: &Actor,
    scope: Option<&[String]>,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    if !state.config.followup.sample_draw_early {
        return Err(Error::Conflict(
            "early_draw_off",
            "drawing before the period ends is switched off (followup.sample_draw_early)".into(),
        ));
    }
    let now_s = now.unix_timestamp();
    let running = period_of(state, now_s);
    let period = Period {
        start: running.start,
        end: now_s.max(running.start + 1),
    };
    let districts: Vec<String> = state
        .register
        .districts()
        .await?
        .iter()
        .map(|d| d.as_str().to_owned())
        .filter(|d| scope.is_none_or(|s| s.contains(d)))
        .collect();
    let found = releases_in(state, period, &districts, &mut HashMap::new()).await?;
    let mut made = 0;
    for d in &districts {
        let population = found.get(d).map_or(&[][..], Vec::as_slice);
        if draw_one(state, actor, d, period, true, population, now).await? {
            made += 1;
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_population_always_give_the_same_sample() {
        let seed = [7u8; 32];
        let a = choose(&seed, 1000, 10);
        assert_eq!(a, choose(&seed, 1000, 10));
        assert_eq!(a.len(), 10);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "no position is drawn twice");
        assert!(a.iter().all(|&i| i < 1000));
        // A longer sample starts with the shorter one: the steps are the same.
        assert_eq!(&choose(&seed, 1000, 20)[..10], &a[..]);
    }

    #[test]
    fn another_seed_gives_another_sample() {
        assert_ne!(choose(&[1u8; 32], 1000, 10), choose(&[2u8; 32], 1000, 10));
    }

    #[test]
    fn a_small_population_is_drawn_whole_and_an_empty_one_gives_nothing() {
        let mut all = choose(&[3u8; 32], 3, 10);
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2]);
        assert!(choose(&[3u8; 32], 0, 3).is_empty());
    }

    #[test]
    fn the_function_is_pinned_so_a_recorded_draw_can_be_rederived_by_anyone() {
        // Fixed vector: a change to `choose` would make old draws impossible to re-derive.
        let seed = [0u8; 32];
        let once = choose(&seed, 100, 5);
        assert_eq!(once, choose(&seed, 100, 5));
        assert_eq!(once, PINNED.to_vec(), "{once:?}");
    }

    const PINNED: [usize; 5] = [45, 48, 93, 62, 59];

    #[test]
    fn every_position_is_about_equally_likely() {
        let mut hits = [0u32; 10];
        for s in 0..20_000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_be_bytes());
            hits[choose(&seed, 10, 1)[0]] += 1;
        }
        assert!(hits.iter().all(|&h| (1700..2300).contains(&h)), "{hits:?}");
    }

    #[test]
    fn the_population_hash_binds_the_ids_and_their_order() {
        assert_eq!(population_sha256(&[]), crate::crypto::sha256_hex(b""));
        assert_eq!(
            population_sha256(&[1, 2]),
            crate::crypto::sha256_hex(b"1\n2\n")
        );
        assert_ne!(population_sha256(&[1, 2]), population_sha256(&[2, 1]));
        assert_ne!(population_sha256(&[12]), population_sha256(&[1, 2]));
    }
}
