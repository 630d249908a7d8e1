//! Which released extracts hold a leaked file's rows, and how well each one fits: coverage
//! (the share of the file's rows it held) and order (the longest run of its own keyed order).
//!
//! Guarantees: reads only; each extract's ledger is read on its own — its rows in order, or its
//! members looked up when the file's keys are few against its size — so the answer never needs
//! an index across extracts, and both ways give the same pairs. Memory is one extract's matched
//! rows at a time (8 bytes each) beside the file's keys.

use super::leaked::{self, Key, Keyed};
use super::{Error, KeyKind};
use crate::store::Store;
use crate::store::trace::{KEYS_PER_STATEMENT, LedgerExtract, LedgerKey};

/// Ledger rows read per statement when an extract's ledger is read in order.
const LEDGER_PAGE_ROWS: i64 = 8192;
/// An extract's ledger is looked up member by member when it holds more than this many rows
/// per distinct key of the file; else it is read in order (a keyed lookup costs about as much
/// as reading this many rows).
const LOOKUP_COST_ROWS: i64 = 4;

/// One extract's numbers against the file.
pub(super) struct Scored {
    pub(super) extract_id: String,
    pub(super) matched: usize,
    pub(super) in_order: usize,
    pub(super) coverage: f64,
    pub(super) order: f64,
    pub(super) score: f64,
}

/// Every released extract in `districts` that shares rows with the file, scored, best first;
/// and how many there are.
pub(super) async fn score(
    store: &Store,
    keyed: &Keyed,
    districts: Option<&[String]>,
) -> Result<(usize, Vec<Scored>), Error> {
    let distinct = distinct_keys(keyed).count();
    let total = keyed.rows.max(1) as f64;
    let mut scored = Vec::new();
    for extract in store.list_released_extracts(districts).await? {
        let pairs = ledger_pairs(store, keyed, distinct, &extract).await?;
        if !pairs.is_empty() {
            scored.push(scored_pairs(extract.id, pairs, total));
        }
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.matched.cmp(&a.matched))
            .then(a.extract_id.cmp(&b.extract_id))
    });
    Ok((scored.len(), scored))
}

/// The file's keys, each once, in order.
fn distinct_keys(keyed: &Keyed) -> impl Iterator<Item = &Key> {
    let mut last = None;
    keyed.by_key.iter().filter_map(move |(k, _)| {
        let new = last != Some(k);
        last = Some(k);
        new.then_some(k)
    })
}

/// `(file row, ledger position)` of every file row the extract held: its member lookups when
/// the file's `distinct` keys are few against its size (member numbers only), else its ledger
/// in order.
async fn ledger_pairs(
    store: &Store,
    keyed: &Keyed,
    distinct: usize,
    extract: &LedgerExtract,
) -> Result<Vec<(u32, u32)>, Error> {
    let mut pairs = Vec::new();
    let mut add = |position: i64, value: &[u8]| {
        let key = leaked::key_of(value);
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        let from = keyed.by_key.partition_point(|(k, _)| *k < key);
        for (k, row) in keyed.by_key.get(from..).unwrap_or_default() {
            if *k != key {
                break;
            }
            pairs.push((*row, position));
        }
    };
    let few = (distinct as i64).saturating_mul(LOOKUP_COST_ROWS) < extract.members;
    if keyed.kind == KeyKind::MemberId && few {
        let mut keys = distinct_keys(keyed).peekable();
        while keys.peek().is_some() {
            let part: Vec<Key> = keys.by_ref().take(KEYS_PER_STATEMENT).copied().collect();
            for (position, value) in store.find_members_in(&extract.id, &part).await? {
                add(position, &value);
            }
        }
        return Ok(pairs);
    }
    let column = match keyed.kind {
        KeyKind::MemberId => LedgerKey::Member,
        KeyKind::RowTag => LedgerKey::Row,
    };
    let mut from = 0;
    loop {
        let page = store
            .ledger_page(&extract.id, column, from, LEDGER_PAGE_ROWS)
            .await?;
        let Some(last) = page.last().map(|(p, _)| *p) else {
            break;
        };
        for (position, value) in &page {
            add(*position, value);
        }
        if (page.len() as i64) < LEDGER_PAGE_ROWS {
            break;
        }
        from = last + 1;
    }
    Ok(pairs)
}

fn scored_pairs(extract_id: String, mut p: Vec<(u32, u32)>, total: f64) -> Scored {
    p.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut matched = 0;
    let mut last = None;
    for (row, _) in &p {
        if last != Some(*row) {
            matched += 1;
            last = Some(*row);
        }
    }
    let in_order = longest_rising_run(p.iter().map(|(_, pos)| i64::from(*pos)));
    let coverage = matched as f64 / total;
    let order = in_order as f64 / matched.max(1) as f64;
    Scored {
        extract_id,
        matched,
        in_order,
        coverage,
        order,
        score: coverage * (0.5 + 0.5 * order),
    }
}

fn longest_rising_run(values: impl Iterator<Item = i64>) -> usize {
    let mut tails: Vec<i64> = Vec::new();
    for v in values {
        let at = tails.partition_point(|&t| t < v);
        match tails.get_mut(at) {
            Some(t) => *t = v,
            None => tails.push(v),
        }
    }
    tails.len()
}

/// About how many of `n` rows stand in order by chance (2·√n, the expected longest rising run
/// of a random order; Vershik–Kerov), at most `n`.
pub fn chance_in_order(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).round() as usize).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_rising_run_is_found_among_noise() {
        assert_eq!(longest_rising_run([].into_iter()), 0);
        assert_eq!(longest_rising_run([5, 1, 2, 9, 3, 4].into_iter()), 4);
        assert_eq!(longest_rising_run([3, 3, 3].into_iter()), 1);
        // A row with several positions (two people of one name) counts once: positions of one
        // row come in falling order.
        assert_eq!(longest_rising_run([7, 2, 8, 3].into_iter()), 2);
    }

    #[test]
    fn chance_order_is_about_twice_the_root() {
        assert_eq!(chance_in_order(100), 20);
        assert_eq!(chance_in_order(1), 1);
        assert_eq!(chance_in_order(0), 0);
    }
}
