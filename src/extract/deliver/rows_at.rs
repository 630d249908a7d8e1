//! Rows at given positions of an extract, for the screens that show a few members at a time
//! (a caller's batch, a page in the browser) and for the list handed on from a call list:
//! only the chunks that hold them are read, and each is authenticated before any row of it is
//! returned.

use time::OffsetDateTime;

use super::{Opened, chunks, damaged_or_gone};
use crate::audit::Actor;
use crate::context::Context;
use crate::crypto::DataKey;
use crate::extract::{CHUNK_ROWS, Error, ExtractId, container};
use crate::policy::Principal;
use crate::register::Row;
use crate::store::extracts::{self as rows, ExtractRow};

/// The rows at `positions` (ascending, each in the extract) of an opened extract, each chunk
/// that holds one authenticated before any row of it is returned; a chunk that fails to open
/// fails the whole read (nothing is shown).
pub(in crate::extract) async fn rows_at(
    state: &Context,
    who: &Principal,
    opened: &Opened,
    positions: &[i64],
    now: OffsetDateTime,
) -> Result<Vec<(i64, Row)>, Error> {
    let id = ExtractId::parse(&opened.row.id)?;
    let columns = opened.request.fields.len();
    let mut out = Vec::with_capacity(positions.len());
    for seq in chunks_holding(positions) {
        let batch = state.store.find_chunks(id.as_str(), seq, 1).await?;
        let sealed = batch
            .into_iter()
            .next()
            .filter(|(found, _)| *found == seq)
            .map(|(_, sealed)| sealed);
        let at = Chunk {
            key: &opened.key,
            id: &id,
            seq,
            count: opened.chunk_count,
            columns,
        };
        if let Err(e) = at.pick(sealed.as_deref(), positions, &mut out) {
            return Err(damaged_or_gone(state, &id, &Actor::user(who.user_id()), e, now).await);
        }
    }
    Ok(out)
}

/// The rows at `positions` (ascending) of the live extract `row`, read in the caller's
/// transaction and opened with its data key `key`; every chunk that holds one is authenticated
/// first. A chunk missing or failing is `Error::Damaged` (the caller decides what that means).
pub(in crate::extract) async fn rows_at_in(
    tx: &mut crate::store::Tx,
    row: &ExtractRow,
    key: &DataKey,
    columns: usize,
    positions: &[i64],
) -> Result<Vec<(i64, Row)>, Error> {
    let id = ExtractId::parse(&row.id)?;
    let mut out = Vec::with_capacity(positions.len());
    for seq in chunks_holding(positions) {
        let sealed = rows::find_chunk_in(tx, id.as_str(), seq).await?;
        let at = Chunk {
            key,
            id: &id,
            seq,
            count: row.chunk_count.unwrap_or(0),
            columns,
        };
        at.pick(sealed.as_deref(), positions, &mut out)?;
    }
    Ok(out)
}

/// The chunks (by `seq`, ascending, each once) that hold `positions`.
fn chunks_holding(positions: &[i64]) -> Vec<i64> {
    let per = i64::try_from(CHUNK_ROWS).unwrap_or(i64::MAX);
    let mut seqs: Vec<i64> = positions.iter().map(|p| p / per).collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// One stored chunk of an extract, to open with its data key.
struct Chunk<'a> {
    key: &'a DataKey,
    id: &'a ExtractId,
    seq: i64,
    /// The extract's chunk count (the last chunk is sealed as the last).
    count: i64,
    columns: usize,
}

impl Chunk<'_> {
    /// Authenticates `sealed` (`None`: the chunk is missing) and appends its rows at those of
    /// `positions` it holds to `out`; any fault is `Error::Damaged`, and nothing is appended.
    fn pick(
        &self,
        sealed: Option<&[u8]>,
        positions: &[i64],
        out: &mut Vec<(i64, Row)>,
    ) -> Result<(), Error> {
        let per = i64::try_from(CHUNK_ROWS).unwrap_or(i64::MAX);
        let sealed = sealed.ok_or(Error::Damaged("a chunk is missing"))?;
        let plain = chunks::open_chunk(self.key, self.id, self.seq, self.count, sealed)?;
        let rows = container::decode_rows(&plain, self.columns)?;
        let mut picked = Vec::new();
        for p in positions.iter().filter(|p| **p / per == self.seq) {
            let at = usize::try_from(p - self.seq * per).unwrap_or(usize::MAX);
            let row = rows
                .get(at)
                .cloned()
                .ok_or(Error::Damaged("a position past its chunk"))?;
            picked.push((*p, row));
        }
        out.extend(picked);
        Ok(())
    }
}
