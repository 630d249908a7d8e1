//! Delivering a live extract to its requester: CSV, XLSX, or a page in the browser.
//!
//! Guarantees:
//! - Only the requester, and only while their roles still allow requesting in the district
//!   (checked now, C7), the extract is live, before its deadline and within its download limit;
//!   anyone else is told the extract does not exist (C2); an ended one answers 410 (C4).
//! - Every chunk is opened and authenticated before the first byte is sent, and none twice: one
//!   pass opens each chunk and writes its rows into the file (`chunks`), the CSV into a bounded
//!   spool (`spool`: memory up to a cap, beyond it sealed under a key only this process holds),
//!   the XLSX into its workbook; the file is sent only once the pass is through. A swapped,
//!   flipped, reordered or missing chunk sends nothing, counts no download and is audited
//!   `extract.integrity_fail` (D2).
//! - The download counter and the `extract.download` event commit in one transaction after
//!   every chunk has been authenticated and before the response starts (E2); parallel downloads
//!   cannot pass the limit (the counter moves in one conditional UPDATE).
//! - The columns are exactly the approved fields, in the approved order (C3), headed by the
//!   caller's [`FieldNames`]: the ids for the API, each field's name in the requester's
//!   language for the pages (the domain has no catalogue, so the names come in).
//! - Nothing is released while the clock reads earlier than the newest audit entry
//!   (`audit::clock`, 503 `clock_behind`).
//!
//! Must never: send a byte from a chunk that failed to open, put plaintext member data on disk,
//! or name member data in an error.

use futures::StreamExt as _;
use futures::stream::{self, BoxStream};
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::format::FieldNames;
use super::request::Request;
use super::{
    CHUNK_ROWS, Error, ExtractId, ExtractState, ShredReason, VIEW_PAGE_ROWS, container, expire,
    format, lifecycle,
};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::DataKey;
use crate::policy::{Format, Principal};
use crate::register::Row;
use crate::store::extracts::{self as rows, ExtractRow};
use crate::store::shown;

mod chunks;
mod rows_at;
mod spool;

pub(super) use rows_at::{rows_at, rows_at_in};

/// The memory all CSV spools of this process share (`spool::MEMORY_ALL_SPOOLS`): a limit on a
/// resource of the process, like its file descriptors, so it is one for the process.
static SPOOLS: spool::Budget = spool::Budget::new(spool::MEMORY_ALL_SPOOLS);

/// A file ready to send: a server-made name, its media type and its bytes.
pub struct Download {
    pub filename: String,
    pub content_type: &'static str,
    pub body: Body,
}

pub enum Body {
    /// Streamed piece by piece from its spool, every chunk already authenticated (CSV).
    Stream(BoxStream<'static, Result<Vec<u8>, Error>>),
    /// Built whole in memory and wiped after sending (XLSX).
    Whole(Zeroizing<Vec<u8>>),
}

/// An extract that passed every check, with its data key unwrapped.
pub(super) struct Opened {
    pub row: ExtractRow,
    pub request: Request,
    pub key: DataKey,
    pub chunk_count: i64,
}

/// The requester's extract, through every check of [`unlock`].
async fn open(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    format: Format,
    now: OffsetDateTime,
) -> Result<Opened, Error> {
    let row = lifecycle::find_own(state, who, id).await?;
    unlock(state, who, row, format, now).await
}

/// The checks every data path makes, in order, for `who` (the requester, or a caller of a call
/// list, whom the caller of this function has found assigned); the data key is unwrapped last.
/// A call list opens only as [`Format::CallList`], and nothing else opens as one.
pub(super) async fn unlock(
    state: &Context,
    who: &Principal,
    row: ExtractRow,
    format: Format,
    now: OffsetDateTime,
) -> Result<Opened, Error> {
    let id = ExtractId::parse(&row.id)?;
    if row.state != ExtractState::Live {
        return Err(lifecycle::unavailable(&row));
    }
    lifecycle::refuse_if_frozen(state).await?;
    if let Some(sink) = &state.checkpoints {
        // No release while the second audit sink cannot be written (E4, fail closed).
        sink.probe().await?;
    }
    // No release while the clock reads earlier than the audit log: a deadline would look
    // further away than it is (`audit::clock`).
    audit::clock::check(&state.store, now).await?;
    if row.expires_at.is_none_or(|t| t <= now.unix_timestamp()) {
        return Err(Error::Gone("expired".into()));
    }
    let request = Request::from_json(&row.request)?;
    if request.processor.is_some() {
        // A hand-over goes to the processor only (`handover`), never to the requester.
        return Err(Error::Conflict(
            "handed_over",
            "this list is handed over to the processor and cannot be downloaded or viewed here"
                .into(),
        ));
    }
    let policy = lifecycle::policy_now(state).await?;
    let fresh = lifecycle::principal_of(state, who.user_id()).await?;
    if let Err(e) = policy
        .permits(
            &fresh,
            crate::policy::Action::ExtractRequest,
            &request.district,
        )
        .await
    {
        return Err(Error::Denied {
            code: e.deny_code(),
            reason: format!(
                "your roles no longer allow member lists in {}",
                request.district
            ),
        });
    }
    lifecycle::refuse_without_passkey(state, &policy, who, &request.purpose, "extract.get", now)
        .await?;
    match (request.call_list, format == Format::CallList) {
        (true, false) => {
            return Err(Error::CallList(
                "call_list_no_file",
                "this extract is a call list: it is worked in Registervakt, never downloaded"
                    .into(),
            ));
        }
        (false, true) => {
            return Err(Error::CallList(
                "not_a_call_list",
                "the extract is not a call list".into(),
            ));
        }
        _ => {}
    }
    let allowed = policy
        .purpose(&request.purpose)
        .is_some_and(|p| p.formats.contains(&format));
    if !allowed {
        return Err(Error::FormatNotAllowed(format.as_str().to_owned()));
    }
    let wrapped = row
        .wrapped_key
        .as_deref()
        .ok_or_else(|| Error::Gone(ExtractState::Shredded.as_str().into()))?;
    let key = state.keyring.unwrap(wrapped, &id.key_owner())?;
    let chunk_count = row.chunk_count.unwrap_or(0);
    Ok(Opened {
        row,
        request,
        key,
        chunk_count,
    })
}

/// What a failed read of the chunks means: if the extract was shredded meanwhile (another
/// download was the last one allowed, or the deadline passed) it is simply gone; otherwise the
/// stored data is damaged, which is audited. Nothing was sent either way.
async fn damaged_or_gone(
    state: &Context,
    id: &ExtractId,
    who: &Actor,
    error: Error,
    now: OffsetDateTime,
) -> Error {
    let still_live = match state.store.find_extract(id.as_str()).await {
        Ok(Some(row)) => row.state == ExtractState::Live && row.wrapped_key.is_some(),
        Ok(None) => false,
        Err(e) => return e.into(),
    };
    if !still_live {
        return Error::Gone(ExtractState::Shredded.as_str().into());
    }
    if matches!(error, Error::Damaged(_)) {
        record_damage(state, id, who, now).await;
    }
    error
}

/// Audits a failed integrity check (nothing was sent).
async fn record_damage(state: &Context, id: &ExtractId, who: &Actor, now: OffsetDateTime) {
    let event = Event::new(
        EventKind::ExtractDamaged,
        who.clone(),
        &format!("extract:{id}"),
        Outcome::Failure,
        json!({ "sent_bytes": 0 }),
    );
    if let Err(e) = audit::record_now(&state.store, &event, now).await {
        tracing::error!(extract = %id, error = %e, "could not audit a damaged extract");
    }
}

/// Releases the extract as a file headed by the field ids; see [`download_named`].
pub async fn download(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    format: Format,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<Download, Error> {
    let ids = FieldNames::ids();
    download_named(state, who, id, format, &ids, client_ip, now).await
}

/// Releases the extract as a file whose header row gives each field as `names` does, after
/// every check and with its audit event committed.
pub async fn download_named(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    format: Format,
    names: &FieldNames,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<Download, Error> {
    if format == Format::View {
        return Err(Error::FormatNotAllowed("view".into()));
    }
    let opened = open(state, who, id, format, now).await?;
    let rows = usize::try_from(opened.row.row_count.unwrap_or(0)).unwrap_or(usize::MAX);
    if format == Format::Xlsx && rows > format::XLSX_MAX_ROWS {
        // Refused before a download is counted: the CSV has no such limit.
        return Err(format::Error::TooManyRows {
            max: format::XLSX_MAX_ROWS,
        }
        .into());
    }
    let Opened {
        row,
        request,
        key,
        chunk_count,
    } = opened;
    let header = names.header(&request.fields);
    let source = chunks::Source {
        store: &state.store,
        id,
        key,
        chunk_count,
        columns: request.fields.len(),
    };
    // The one pass over the chunks: the whole file is made, and every chunk authenticated,
    // before a download is counted or a byte sent.
    let made = match format {
        Format::Xlsx => {
            let info = xlsx_info(state, id, &row, &request).await?;
            let workbook = chunks::XlsxRows(format::XlsxBuilder::new(&header, &info)?);
            chunks::open_all(source, workbook).await.map(Made::Xlsx)
        }
        _ => {
            let spool = spool::Spool::new(
                &state.config.store.data_dir,
                spool::MEMORY_PER_SPOOL,
                &SPOOLS,
            );
            let rows = u64::try_from(row.row_count.unwrap_or(0)).unwrap_or(0);
            let csv = chunks::CsvRows::new(spool, &header, rows)?;
            chunks::open_all(source, csv).await.map(Made::Csv)
        }
    };
    let made = match made {
        Ok(made) => made,
        Err(e) => {
            return Err(damaged_or_gone(state, id, &Actor::user(who.user_id()), e, now).await);
        }
    };
    let mut tx = state.store.begin().await?;
    let Some(used) = rows::take_download(&mut tx, id.as_str(), now.unix_timestamp()).await? else {
        tx.rollback().await?;
        return Err(Error::Gone("download_limit".into()));
    };
    let event = Event::new(
        EventKind::ExtractReleased,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({
            "format": format.as_str(), "download": used, "of": row.max_downloads,
            "rows": row.row_count, "ip": client_ip,
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let last = used >= row.max_downloads;
    let filename = format!("utdrag-{}.{}", id, format.as_str());
    match made {
        Made::Xlsx(bytes) => {
            if last {
                shred_after_last(state.clone(), id.clone()).await;
            }
            Ok(Download {
                filename,
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                body: Body::Whole(bytes),
            })
        }
        Made::Csv(file) => Ok(Download {
            filename,
            content_type: "text/csv; charset=utf-8",
            body: Body::Stream(csv_stream(state.clone(), id.clone(), file, last)),
        }),
    }
}

/// A hand-over's CSV made from every authenticated chunk, not yet counted or sent.
pub struct PreparedHandover(spool::Ready);

/// For a hand-over (`handover::download`): the checks every data path makes that do not depend
/// on a person — live, not frozen, the second audit sink and the clock sound, before the
/// deadline — then the one pass over the chunks into a CSV headed by the field ids. Nothing is
/// counted or sent here.
pub(super) async fn prepare_handover(
    state: &Context,
    id: &ExtractId,
    row: &ExtractRow,
    request: &Request,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<PreparedHandover, Error> {
    if row.state != ExtractState::Live {
        return Err(lifecycle::unavailable(row));
    }
    lifecycle::refuse_if_frozen(state).await?;
    if let Some(sink) = &state.checkpoints {
        sink.probe().await?;
    }
    audit::clock::check(&state.store, now).await?;
    if row.expires_at.is_none_or(|t| t <= now.unix_timestamp()) {
        return Err(Error::Gone("expired".into()));
    }
    let wrapped = row
        .wrapped_key
        .as_deref()
        .ok_or_else(|| Error::Gone(ExtractState::Shredded.as_str().into()))?;
    let key = state.keyring.unwrap(wrapped, &id.key_owner())?;
    let names = FieldNames::ids();
    let header = names.header(&request.fields);
    let source = chunks::Source {
        store: &state.store,
        id,
        key,
        chunk_count: row.chunk_count.unwrap_or(0),
        columns: request.fields.len(),
    };
    let spool = spool::Spool::new(
        &state.config.store.data_dir,
        spool::MEMORY_PER_SPOOL,
        &SPOOLS,
    );
    let rows = u64::try_from(row.row_count.unwrap_or(0)).unwrap_or(0);
    let csv = chunks::CsvRows::new(spool, &header, rows)?;
    match chunks::open_all(source, csv).await {
        Ok(file) => Ok(PreparedHandover(file)),
        Err(e) => Err(damaged_or_gone(state, id, actor, e, now).await),
    }
}

/// The hand-over's file, once its download is counted: the extract is shredded after the
/// last byte.
pub(super) fn send_handover(state: &Context, id: &ExtractId, file: PreparedHandover) -> Download {
    Download {
        filename: format!("utdrag-{id}.csv"),
        content_type: "text/csv; charset=utf-8",
        body: Body::Stream(csv_stream(state.clone(), id.clone(), file.0, true)),
    }
}

/// A file made from every chunk, not yet counted or sent.
enum Made {
    Csv(spool::Ready),
    Xlsx(Zeroizing<Vec<u8>>),
}

/// After the last allowed download: the extract is shredded at once.
async fn shred_after_last(state: Context, id: ExtractId) {
    let now = OffsetDateTime::now_utc();
    if let Err(e) = expire::shred(
        &state,
        &id,
        ShredReason::DownloadLimit,
        &Actor::system(),
        now,
    )
    .await
    {
        tracing::warn!(extract = %id, error = %e, "shred after the last download failed; the sweeper retries");
    }
}

/// The CSV, piece by piece from its spool; shreds after the last download.
fn csv_stream(
    state: Context,
    id: ExtractId,
    file: spool::Ready,
    last: bool,
) -> BoxStream<'static, Result<Vec<u8>, Error>> {
    let tail = stream::once(async move {
        if last {
            shred_after_last(state, id).await;
        }
        Ok(Vec::new())
    });
    file.into_stream().chain(tail).boxed()
}

/// What an XLSX file says about itself: its extract, purpose (the policy's name for it now),
/// deadline and a notice.
async fn xlsx_info(
    state: &Context,
    id: &ExtractId,
    row: &ExtractRow,
    request: &Request,
) -> Result<format::XlsxInfo, Error> {
    let title = lifecycle::policy_now(state)
        .await?
        .purpose(&request.purpose)
        .map_or_else(
            || request.purpose.as_str().to_owned(),
            |p| p.name_sv.clone(),
        );
    let expires = row
        .expires_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_default();
    Ok(format::XlsxInfo {
        extract_id: id.to_string(),
        title,
        expires,
        notice: "Medlemsuppgifter: dela inte, radera alla kopior när arbetet är klart. \
                 Member data: do not share, delete every copy when done."
            .into(),
    })
}

/// One page of an extract for the browser.
#[derive(Debug, Clone)]
pub struct ViewPage {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub page: u64,
    pub pages: u64,
    pub total_rows: u64,
}

/// Shows page `page` (0-based) of a live extract whose purpose allows viewing. Not counted as a
/// download, but audited page by page, and the page's members are recorded in the ledger as
/// shown to `who` in the same transaction as the event.
pub async fn view(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    page: u64,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<ViewPage, Error> {
    let o = open(state, who, id, Format::View, now).await?;
    let total = u64::try_from(o.row.row_count.unwrap_or(0)).unwrap_or(0);
    let per = VIEW_PAGE_ROWS as u64;
    let pages = total.div_ceil(per).max(1);
    if page >= pages {
        return Err(Error::BadInput(format!("there are {pages} pages")));
    }
    let first = page * per;
    let chunk_rows = CHUNK_ROWS as u64;
    let from = i64::try_from(first / chunk_rows).unwrap_or(i64::MAX);
    let to = i64::try_from((first + per - 1).min(total.saturating_sub(1)) / chunk_rows)
        .unwrap_or(i64::MAX);
    let columns = o.request.fields.len();
    let mut rows_out = Vec::new();
    let batch = state
        .store
        .find_chunks(id.as_str(), from, to - from + 1)
        .await?;
    for (seq, sealed) in batch {
        let opened = chunks::open_chunk(&o.key, id, seq, o.chunk_count, &sealed)
            .and_then(|plain| container::decode_rows(&plain, columns));
        match opened {
            Ok(rows) => {
                let base = u64::try_from(seq).unwrap_or(0) * chunk_rows;
                for (i, row) in rows.into_iter().enumerate() {
                    let at = base + i as u64;
                    if at >= first && at < first + per {
                        rows_out.push(row);
                    }
                }
            }
            Err(e) => {
                return Err(damaged_or_gone(state, id, &Actor::user(who.user_id()), e, now).await);
            }
        }
    }
    let event = Event::new(
        EventKind::ExtractViewed,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "page": page, "rows": rows_out.len(), "ip": client_ip }),
    );
    // The members on the page go into the ledger as shown to this person, with the event.
    let mut tx = state.store.begin().await?;
    if !rows_out.is_empty() {
        let position = |p: u64| i64::try_from(p).unwrap_or(i64::MAX);
        let last = first + rows_out.len() as u64 - 1;
        let (first, last) = (position(first), position(last));
        let at = now.unix_timestamp();
        shown::insert_shown(&mut tx, id.as_str(), first, last, who.user_id(), at).await?;
    }
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(ViewPage {
        columns: o
            .request
            .fields
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect(),
        rows: rows_out,
        page,
        pages,
        total_rows: total,
    })
}
