//! The audit chain verifier. The input builds a valid chain (entry contents from the bytes),
//! which must verify; then one change chosen by the input — an edited field, a deleted,
//! swapped or renumbered entry — which must not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registervakt::audit::chain::{GENESIS, entry_hash};
use registervakt::audit::verify::Verifier;
use registervakt::store::audit::AuditRow;

fn chain_of(data: &[u8]) -> Vec<AuditRow> {
    let mut rows: Vec<AuditRow> = Vec::new();
    let mut prev = GENESIS.to_owned();
    for (i, piece) in data.chunks(12).take(48).enumerate() {
        let text = String::from_utf8_lossy(piece).into_owned();
        let seq = i64::try_from(i).unwrap_or(0) + 1;
        let mut row = AuditRow {
            seq,
            occurred_at: seq * 1000,
            actor: format!("user:{}", text.len()),
            action: "extract.download".into(),
            target: format!("extract:{seq}"),
            outcome: "ok".into(),
            details: text,
            prev_hash: prev.clone(),
            entry_hash: String::new(),
        };
        row.entry_hash = entry_hash(&row);
        prev.clone_from(&row.entry_hash);
        rows.push(row);
    }
    rows
}

fn verifies(rows: &[AuditRow]) -> bool {
    let mut v = Verifier::new();
    rows.iter().all(|r| v.push(r.as_entry()).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let Some((&at, rest)) = rest.split_first() else {
        return;
    };
    let rows = chain_of(rest);
    assert!(verifies(&rows), "an untouched chain must verify");
    if rows.is_empty() {
        return;
    }
    let i = usize::from(at) % rows.len();
    let mut bad = rows.clone();
    match how % 5 {
        0 => bad[i].details.push('x'),
        1 => bad[i].occurred_at += 1,
        2 => {
            bad.remove(i);
            if i == bad.len() {
                return; // dropping the last entry leaves a shorter valid chain (checkpoints catch it)
            }
        }
        3 => {
            let j = (i + 1) % rows.len();
            if i == j {
                return;
            }
            bad.swap(i, j);
        }
        _ => bad[i].seq += 1,
    }
    assert!(!verifies(&bad), "a changed chain must not verify (change {}, entry {i})", how % 5);
});
