//! Building an extract: one streamed read of the register, sealed chunk by chunk.
//!
//! Guarantees: only a [`Grant`] starts a build; memory holds one window of [`CHUNK_ROWS`] rows
//! plus the sealed chunks of two store transactions (one being written while the next is
//! sealed), whatever the extract's size (G5). Rows are delivered in a keyed order within each
//! window (an [`OrderKey`] per extract, never stored), and each member's position goes into the
//! disclosure ledger with their pseudonym and the row's keyed tag (`fingerprint`), so a leaked
//! file's rows and their order point at its extract. More members than the grant covers fails
//! the build: the list is never cut short silently. The data key is stored (wrapped) only by
//! the transaction that makes the extract live, with its `extract.snapshot` event; until then
//! the chunks written are unreadable by anyone, and a failed or abandoned build's chunks are
//! deleted.
//! A build writes only under its attempt number: once a sweeper has taken it over, the old
//! builder's lease renewal, chunks, failure and `live` are all refused.
//! A build neither starts nor goes live while the clock reads earlier than the audit log
//! (`audit::clock`): it fails as `clock_behind`. A store that is only busy ("database is
//! locked") never fails a build: each write is tried again with a doubling pause, and if the
//! store stays busy the build is left to the sweeper, which builds it again.
//! A register that does not answer when a build starts (down, unreachable, refusing) does not
//! fail it at once either: the read is tried [`REGISTER_TRIES`] times with a doubling pause
//! (`register.limits.build_retry_pause_secs`), the lease renewed before each pause, and the
//! requester and the approvers are told once that the extract waits for the register (notice
//! `extract_waiting_register`). Only then does it fail as `register_error`. A read that breaks
//! off after its first row, or one cancelled for its time limit, is not tried again: the
//! first may have released rows of a register that has since changed, the second would only
//! be as slow again.

use futures::StreamExt as _;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::fingerprint::TagColumns;
use super::request::Request;
use super::{
    BUILD_LEASE_SECS, CHUNK_ROWS, CHUNKS_PER_TRANSACTION, Error, ExtractId, REGISTER_TRIES,
    container, lifecycle,
};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::{DataKey, OrderKey};
use crate::nouns::Field;
use crate::policy::Grant;
use crate::store::extracts::{self as rows, FinishedBuild};

/// Builds the extract in the background as build `attempt` (the number `start_build` or a
/// take-over returned); a failure is recorded and the requester told.
pub fn spawn(state: Context, id: ExtractId, attempt: i64, grant: Grant, request: Request) {
    tokio::spawn(async move {
        match build(&state, &id, attempt, &grant, &request).await {
            Ok(Some(rows)) => {
                tracing::info!(extract = %id, rows, "extract is live");
                if request.processor.is_some() {
                    let now = time::OffsetDateTime::now_utc();
                    if let Err(e) = super::handover::offer(&state, &id, now).await {
                        tracing::error!(extract = %id, error = %e, "the hand-over could not be offered to the processor");
                    }
                }
            }
            Ok(None) => tracing::warn!(extract = %id, "build abandoned: taken over or ended"),
            // Still busy after every retry: the request stays approved. The lease runs out
            // and the sweeper builds it again from nothing (up to MAX_BUILD_ATTEMPTS).
            Err(e) if is_busy(&e) => {
                tracing::warn!(extract = %id, error = %e, "the store stayed busy; the sweeper will build the extract again");
            }
            Err(e) => {
                tracing::error!(extract = %id, error = %e, "extract build failed");
                if let Err(e2) = record_failure(&state, &id, attempt, &e).await {
                    // The lease runs out and the sweeper retries or fails it.
                    tracing::error!(extract = %id, error = %e2, "could not record the failed build");
                }
            }
        }
    });
}

/// The stable reason word stored and audited for a failed build.
fn failure_reason(e: &Error) -> &'static str {
    match e {
        Error::Register(_) => "register_error",
        Error::Conflict("too_many_rows", _) => "too_many_rows",
        Error::Frozen(_) => "frozen",
        Error::Clock(audit::clock::Error::Behind { .. }) => "clock_behind",
        Error::Clock(_) => "store_error",
        Error::Store(_) | Error::Audit(_) => "store_error",
        _ => "internal_error",
    }
}

/// Fails build `attempt`; nothing happens when a later attempt has taken the build over.
pub(crate) async fn record_failure(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    e: &Error,
) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let reason = failure_reason(e);
    let mut tx = state.store.begin().await?;
    if rows::fail_build(&mut tx, id.as_str(), attempt, reason, now.unix_timestamp()).await? {
        let event = Event::new(
            EventKind::ExtractBuildFailed,
            Actor::system(),
            &format!("extract:{id}"),
            Outcome::Failure,
            json!({ "reason": reason }),
        );
        audit::record(&mut tx, &event, now).await?;
        if let Some(row) = rows::find_extract_in(&mut tx, id.as_str()).await? {
            lifecycle::notify(&mut tx, &row.requester_id, "extract_failed", id, now).await?;
        }
    }
    tx.commit().await?;
    lifecycle::after_commit(state).await;
    Ok(())
}

/// Chunks and ledger rows waiting for their store transaction.
#[derive(Default)]
struct Pending {
    chunks: Vec<(i64, Vec<u8>)>,
    ledger: Vec<(i64, crate::crypto::MemberRef, crate::crypto::RowRef)>,
}

/// Tries of one build step when the store is busy (SQLite's "database is locked": another
/// writer held the lock past `store.busy_timeout_ms`), the first included.
const BUSY_TRIES: u32 = 6;
/// The pause after the first busy try; doubled after each (0.1, 0.2 … 1.6 s): with the
/// default 5 s busy timeout waited inside each try, a step gives up after about 33 s, well
/// inside the build's lease ([`BUILD_LEASE_SECS`]), so a retrying builder is never taken over.
const BUSY_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether `e` is a busy store (`store::Error::is_busy`) however it reached the build.
fn is_busy(e: &Error) -> bool {
    match e {
        Error::Store(e)
        | Error::Audit(audit::Error::Store(e))
        | Error::Clock(audit::clock::Error::Store(e)) => e.is_busy(),
        _ => false,
    }
}

/// Runs one build step — a whole store transaction, rolled back if it fails — again while
/// the store is busy, with a doubling pause, up to [`BUSY_TRIES`] tries. A busy store is a
/// moment's contention (a backup, a `registervakt` command, another broker), not a reason
/// to fail a request that was approved.
async fn retry_busy<T, F, Fut>(id: &ExtractId, step: &'static str, mut run: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut pause = BUSY_FIRST_PAUSE;
    let mut tries = 1;
    loop {
        match run().await {
            Err(e) if is_busy(&e) && tries < BUSY_TRIES => {
                tracing::warn!(extract = %id, step, tries, "the store is busy; the build step will be tried again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Where the build is.
struct Progress {
    seq: i64,
    position: i64,
    window: Vec<(u64, String, Vec<Option<String>>)>,
    /// Which cells make each row's ledger tag (the leak trace's key without member numbers).
    tags: TagColumns,
    /// Room for the next chunk's lines, from the one before.
    chunk_room: usize,
}

/// Reads, seals and records the extract as build `attempt`; `Ok(None)` if the lease was lost
/// on the way (a sweeper took the build over, or it ended): nothing more is then written.
///
/// Reading and sealing go on while the chunks sealed before are written ([`write_behind`]):
/// two sets of pending rows take turns, one filled while the other is written, so memory holds
/// at most two transactions' chunks. Both halves end before this returns, so no write of a
/// build lands after it has failed or been abandoned.
pub async fn build(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    grant: &Grant,
    request: &Request,
) -> Result<Option<u64>, Error> {
    let started = OffsetDateTime::now_utc();
    // No member data is read while the clock reads earlier than the audit log.
    retry_busy(id, "clock check", || async {
        Ok(audit::clock::check(&state.store, started).await?)
    })
    .await?;
    let Some((first, rest)) = first_row(state, id, attempt, grant, request, started).await? else {
        return Ok(None);
    };
    let (full, to_write) = mpsc::channel(1);
    // The second set: the first is the one `read_and_seal` starts filling.
    let (empty, spares) = mpsc::channel(1);
    let _ = empty.try_send(Pending::default());
    let rows = futures::stream::iter(first).chain(rest);
    let (sealed, written) = tokio::join!(
        read_and_seal(state, id, grant, rows, full, spares),
        write_behind(state, id, attempt, to_write, empty),
    );
    // The writes' answer first: a lost lease or a failed write is what stopped the reading.
    if !written? {
        return Ok(None);
    }
    let Some(Sealed { key, done, pending }) = sealed? else {
        return Ok(None);
    };
    let finishing = || finish(state, id, attempt, grant, &key, &done, &pending);
    if !retry_busy(id, "finish", finishing).await? {
        return Ok(None);
    }
    Ok(Some(done.total))
}

/// What reading and sealing leave for the transaction that makes the extract live.
struct Sealed {
    key: DataKey,
    done: Finished,
    /// The last chunks and ledger rows, fewer than a transaction's worth.
    pending: Pending,
}

/// Reads the register's rows and seals them chunk by chunk; each transaction's worth of
/// chunks goes to `full`, and the next is filled in a set taken from `spares` (so the one
/// before must have been written first). `Ok(None)` when the writes stopped (their answer
/// says why): reading stops at the next chunk.
async fn read_and_seal(
    state: &Context,
    id: &ExtractId,
    grant: &Grant,
    mut stream: impl futures::Stream<Item = Result<crate::register::Row, crate::register::Error>>
    + Unpin,
    full: mpsc::Sender<Pending>,
    mut spares: mpsc::Receiver<Pending>,
) -> Result<Option<Sealed>, Error> {
    let columns = output_columns(grant);
    let key = DataKey::generate();
    let order = OrderKey::generate();
    let mut progress = Progress {
        seq: 0,
        position: 0,
        window: Vec::with_capacity(CHUNK_ROWS),
        tags: TagColumns::for_fields(grant.fields()),
        chunk_room: 0,
    };
    let mut pending = Pending::default();
    let mut total: u64 = 0;
    while let Some(row) = stream.next().await {
        let mut row = row?;
        total += 1;
        if total > grant.max_rows() {
            return Err(Error::Conflict(
                "too_many_rows",
                "more members match now than the approval covers; ask again".into(),
            ));
        }
        let member_id = row.first_mut().and_then(Option::take).unwrap_or_default();
        let cells = columns
            .iter()
            .map(|c| match c {
                Column::MemberId => Some(member_id.clone()),
                Column::At(i) => row.get_mut(*i).and_then(Option::take),
            })
            .collect();
        progress
            .window
            .push((order.rank(&member_id), member_id, cells));
        if progress.window.len() == CHUNK_ROWS {
            seal_window(state, id, &key, &mut progress, &mut pending, false)?;
            if full.is_closed() {
                return Ok(None);
            }
            if pending.chunks.len() >= CHUNKS_PER_TRANSACTION {
                let Some(next) = spares.recv().await else {
                    return Ok(None);
                };
                if full
                    .send(std::mem::replace(&mut pending, next))
                    .await
                    .is_err()
                {
                    return Ok(None);
                }
            }
        }
    }
    seal_window(state, id, &key, &mut progress, &mut pending, true)?;
    let done = Finished {
        chunk_count: progress.seq,
        total,
    };
    Ok(Some(Sealed { key, done, pending }))
}

/// Writes each set of pending rows that comes from `full`, in order, one transaction each
/// ([`flush`]), and hands the emptied set back to `empty`. True once `full` has closed with
/// everything written; false (and nothing more written) as soon as the lease is lost.
async fn write_behind(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    mut full: mpsc::Receiver<Pending>,
    empty: mpsc::Sender<Pending>,
) -> Result<bool, Error> {
    while let Some(mut pending) = full.recv().await {
        let written = || flush(state, id, attempt, &pending);
        if !retry_busy(id, "write", written).await? {
            return Ok(false);
        }
        pending.chunks.clear();
        pending.ledger.clear();
        // The reading may have ended meanwhile; then nobody needs the set again.
        let _ = empty.send(pending).await;
    }
    Ok(true)
}

/// A register read with the row it began with (`None`: the register holds no such member).
type Started = (
    Option<Result<crate::register::Row, crate::register::Error>>,
    futures::stream::BoxStream<'static, Result<crate::register::Row, crate::register::Error>>,
);

/// Starts the build's register read, trying again while the register does not answer (see
/// the module's header); `Ok(None)` when the lease was lost while waiting.
async fn first_row(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    grant: &Grant,
    request: &Request,
    started: OffsetDateTime,
) -> Result<Option<Started>, Error> {
    let filter = request.filter(grant.required_consents());
    let pause_secs = state.config.register.limits.build_retry_pause_secs;
    let mut pause = std::time::Duration::from_secs(pause_secs);
    let mut tries = 1;
    loop {
        let mut rows = state
            .register
            .rows_for_grant(grant, &filter, started.date())?;
        match rows.next().await {
            Some(Err(e)) if register_down(&e) && tries < REGISTER_TRIES => {
                tracing::warn!(extract = %id, tries, error = %e, "the member register does not answer; the build waits and tries again");
                let waiting = || wait_for_register(state, id, attempt, tries == 1);
                if !retry_busy(id, "wait for the register", waiting).await? {
                    return Ok(None);
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            first => return Ok(Some((first, rows))),
        }
    }
}

/// Whether the register failed to answer at all (down, unreachable, refusing the read), as
/// opposed to a statement cancelled for its time limit or a mapping that does not fit.
fn register_down(e: &crate::register::Error) -> bool {
    use crate::register::Error as R;
    use crate::store::register::Error as S;
    matches!(
        e,
        R::Unreachable { .. } | R::Store(S::Query(_) | S::Connect { .. })
    )
}

/// Renews the lease for the pause ahead and, on the first wait, tells the requester and the
/// approvers that the extract waits for the register; false when the lease was lost.
async fn wait_for_register(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    tell: bool,
) -> Result<bool, Error> {
    let now = OffsetDateTime::now_utc();
    let lease = now.unix_timestamp() + BUILD_LEASE_SECS;
    let mut tx = state.store.begin().await?;
    if !rows::renew_build_lease(&mut tx, id.as_str(), attempt, lease).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    if tell {
        let Some(row) = rows::find_extract_in(&mut tx, id.as_str()).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        let mut told = vec![row.requester_id];
        for decision in rows::list_decisions_in(&mut tx, id.as_str()).await? {
            if decision.verdict == "approve" && !told.contains(&decision.approver_id) {
                told.push(decision.approver_id);
            }
        }
        for user in &told {
            lifecycle::notify(&mut tx, user, "extract_waiting_register", id, now).await?;
        }
    }
    tx.commit().await?;
    if tell {
        lifecycle::after_commit(state).await;
    }
    Ok(true)
}

/// Newest notices looked through for a build's waiting notice: a user's notices of the last
/// few minutes, however busy.
const WAITING_LOOK_BACK: i64 = 50;

/// When `user_id` was last told that extract `id` waits for the register (unix seconds), for
/// the extract's page while it is being built; `None` when they were not.
pub async fn waiting_for_register(
    state: &Context,
    user_id: &str,
    id: &ExtractId,
) -> Result<Option<i64>, Error> {
    let notices = state.store.list_notices(user_id, WAITING_LOOK_BACK).await?;
    Ok(notices
        .into_iter()
        .find(|n| {
            n.kind == "extract_waiting_register" && n.extract_id.as_deref() == Some(id.as_str())
        })
        .map(|n| n.created_at))
}

/// Where each output column comes from in a streamed row (member id is always at 0).
enum Column {
    MemberId,
    At(usize),
}

fn output_columns(grant: &Grant) -> Vec<Column> {
    let mut next = 1;
    grant
        .fields()
        .iter()
        .map(|f| {
            if *f == Field::MemberId {
                Column::MemberId
            } else {
                next += 1;
                Column::At(next - 1)
            }
        })
        .collect()
}

/// Orders the window by the keyed rank, seals it as chunk `seq` and queues its ledger rows.
fn seal_window(
    state: &Context,
    id: &ExtractId,
    key: &DataKey,
    progress: &mut Progress,
    pending: &mut Pending,
    last: bool,
) -> Result<(), Error> {
    progress.window.sort_unstable_by_key(|(rank, _, _)| *rank);
    // The lines of the chunk before take about as much room: room enough, so that the buffer
    // (member data) is not copied as it grows.
    let mut plaintext = container::Lines::with_capacity(progress.chunk_room);
    for (_, member_id, cells) in progress.window.drain(..) {
        plaintext.push(&cells);
        let member = state.pseudonyms.member_ref(&member_id);
        let tag = progress.tags.row_ref(&state.pseudonyms, &cells);
        pending.ledger.push((progress.position, member, tag));
        progress.position += 1;
    }
    progress.chunk_room = plaintext
        .lines_len()
        .saturating_add(plaintext.lines_len() / 4);
    let plaintext = plaintext.finish();
    let sealed = key.seal(&plaintext, &id.chunk_aad(progress.seq, last))?;
    pending.chunks.push((progress.seq, sealed));
    progress.seq += 1;
    Ok(())
}

/// Renews the lease and writes the queued chunks and ledger rows, in one transaction; false
/// (and nothing written) if the lease was lost. The caller empties `pending` once it is
/// written, so a try the store was too busy for can be made again with the same rows.
async fn flush(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    pending: &Pending,
) -> Result<bool, Error> {
    let lease = OffsetDateTime::now_utc().unix_timestamp() + BUILD_LEASE_SECS;
    let mut tx = state.store.begin().await?;
    if !rows::renew_build_lease(&mut tx, id.as_str(), attempt, lease).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    rows::insert_chunks(&mut tx, id.as_str(), &pending.chunks).await?;
    rows::insert_disclosures(&mut tx, id.as_str(), &pending.ledger).await?;
    tx.commit().await?;
    Ok(true)
}

/// How much a build wrote.
#[derive(Clone, Copy)]
struct Finished {
    chunk_count: i64,
    total: u64,
}

/// The last chunks, the wrapped key, `live`, the audit event and the notice: one transaction.
async fn finish(
    state: &Context,
    id: &ExtractId,
    attempt: i64,
    grant: &Grant,
    key: &DataKey,
    done: &Finished,
    pending: &Pending,
) -> Result<bool, Error> {
    let Finished { chunk_count, total } = *done;
    let now = OffsetDateTime::now_utc();
    let wrapped = state.keyring.wrap(key, &id.key_owner())?;
    let key_id = key.id().to_string();
    let expires_at = now.unix_timestamp() + i64::from(grant.lifetime_minutes()) * 60;
    let row_count = i64::try_from(total).unwrap_or(i64::MAX);
    let mut tx = state.store.begin().await?;
    // An extract frozen while it was being built never goes live, nor one whose deadline
    // would be set from a clock that reads earlier than the audit log.
    lifecycle::refuse_if_frozen_in(&mut tx).await?;
    audit::clock::check_in(&mut tx, now).await?;
    let finished = FinishedBuild {
        row_count,
        chunk_count,
        key_id: &key_id,
        wrapped_key: &wrapped,
        live_at: now.unix_timestamp(),
        expires_at,
    };
    // The row first: a build taken over writes nothing, not even its last chunks.
    if !rows::finish_build(&mut tx, id.as_str(), attempt, &finished).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    rows::insert_chunks(&mut tx, id.as_str(), &pending.chunks).await?;
    rows::insert_disclosures(&mut tx, id.as_str(), &pending.ledger).await?;
    rows::index_disclosed_members(&mut tx, id.as_str()).await?;
    let fields: Vec<&str> = grant.fields().iter().map(|f| f.as_str()).collect();
    let event = Event::new(
        EventKind::ExtractBuilt,
        Actor::system(),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({
            "rows": row_count, "chunks": chunk_count, "data_key_id": key_id,
            "kek_id": state.keyring.active_key_id().to_string(),
            "purpose": grant.purpose().as_str(), "district": grant.district().as_str(),
            "fields": fields, "approved_by": grant.approved_by(),
            "expires_at": expires_at, "request_hash": grant.request_hash(),
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    lifecycle::notify(&mut tx, grant.user_id(), "extract_ready", id, now).await?;
    tx.commit().await?;
    lifecycle::after_commit(state).await;
    Ok(true)
}
