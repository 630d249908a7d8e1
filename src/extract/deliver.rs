//! Delivering a live extract to its requester: CSV, XLSX, or a page in the browser.
//!
//! Guarantees:
//! - Only the requester, and only while their roles still allow requesting in the district
//!   (checked now, C7), the extract is live, before its deadline and within its download limit;
//!   anyone else is told the extract does not exist (C2); an ended one answers 410 (C4).
//! - Every chunk is opened and authenticated before the first byte is sent; a swapped, flipped,
//!   reordered or missing chunk sends nothing and is audited `extract.integrity_fail` (D2).
//! - The download counter and the `extract.download` event commit in one transaction before
//!   the response starts (E2); parallel downloads cannot pass the limit (the counter moves in
//!   one conditional UPDATE).
//! - The columns are exactly the approved fields, in the approved order (C3), headed by the
//!   caller's [`FieldNames`]: the ids for the API, each field's name in the requester's
//!   language for the pages (the domain has no catalogue, so the names come in).
//! - Nothing is released while the clock reads earlier than the newest audit entry
//!   (`audit::clock`, 503 `clock_behind`).
//!
//! Must never: send a byte from a chunk that failed to open, or name member data in an error.

use futures::StreamExt as _;
use futures::stream::{self, BoxStream};
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::format::FieldNames;
use super::request::Request;
use super::{
    Error, ExtractId, ExtractState, ShredReason, VIEW_PAGE_ROWS, container, expire, format,
    lifecycle,
};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::DataKey;
use crate::policy::{Format, Principal};
use crate::register::Row;
use crate::store::Store;
use crate::store::extracts::{self as rows, ExtractRow};

/// Chunks fetched from the store per query while streaming.
const CHUNKS_PER_FETCH: i64 = 8;

/// A file ready to send: a server-made name, its media type and its bytes.
pub struct Download {
    pub filename: String,
    pub content_type: &'static str,
    pub body: Body,
}

pub enum Body {
    /// Streamed chunk by chunk (CSV).
    Stream(BoxStream<'static, Result<Vec<u8>, Error>>),
    /// Built whole in memory and wiped after sending (XLSX).
    Whole(Zeroizing<Vec<u8>>),
}

/// An extract that passed every check, with its data key unwrapped.
struct Opened {
    row: ExtractRow,
    request: Request,
    key: DataKey,
    chunk_count: i64,
}

/// The checks every data path makes, in order; the data key is unwrapped last.
async fn open(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    format: Format,
    now: OffsetDateTime,
) -> Result<Opened, Error> {
    let row = lifecycle::find_own(state, who, id).await?;
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

/// Opens chunk `seq` of `count` and decodes its rows.
fn open_chunk(
    key: &DataKey,
    id: &ExtractId,
    seq: i64,
    count: i64,
    sealed: &[u8],
    columns: usize,
) -> Result<Vec<Row>, Error> {
    container::decode_rows(&open_plain(key, id, seq, count, sealed)?, columns)
}

/// Authenticates and decrypts chunk `seq` of `count`, bound to its place in the extract.
fn open_plain(
    key: &DataKey,
    id: &ExtractId,
    seq: i64,
    count: i64,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    key.open(sealed, &id.chunk_aad(seq, seq + 1 == count))
        .map_err(|_| Error::Damaged("a chunk failed authentication"))
}

/// Pass one: every chunk is present, in order, and authenticates; nothing is kept.
async fn verify_all(store: &Store, id: &ExtractId, o: &Opened) -> Result<(), Error> {
    let columns = o.request.fields.len();
    let mut next = 0;
    while next < o.chunk_count {
        let batch = store
            .find_chunks(id.as_str(), next, CHUNKS_PER_FETCH)
            .await?;
        if batch.is_empty() {
            return Err(Error::Damaged("a chunk is missing"));
        }
        for (seq, sealed) in batch {
            if seq != next {
                return Err(Error::Damaged("a chunk is missing"));
            }
            let plain = open_plain(&o.key, id, seq, o.chunk_count, &sealed)?;
            container::for_each_row(&plain, columns, |_| {})?;
            next += 1;
        }
    }
    let extra = store.find_chunks(id.as_str(), next, 1).await?;
    if o.chunk_count == 0 || !extra.is_empty() {
        return Err(Error::Damaged("the extract has the wrong number of chunks"));
    }
    Ok(())
}

/// What a failed read of the chunks means: if the extract was shredded meanwhile (another
/// download was the last one allowed, or the deadline passed) it is simply gone; otherwise the
/// stored data is damaged, which is audited. Nothing was sent either way.
async fn damaged_or_gone(
    state: &Context,
    id: &ExtractId,
    who: &Principal,
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
async fn record_damage(state: &Context, id: &ExtractId, who: &Principal, now: OffsetDateTime) {
    let event = Event::new(
        EventKind::ExtractDamaged,
        Actor::user(who.user_id()),
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
    if let Err(e) = verify_all(&state.store, id, &opened).await {
        return Err(damaged_or_gone(state, id, who, e, now).await);
    }
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
            "format": format.as_str(), "download": used, "of": opened.row.max_downloads,
            "rows": opened.row.row_count, "ip": client_ip,
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let last = used >= opened.row.max_downloads;
    let filename = format!("utdrag-{}.{}", id, format.as_str());
    let header = names.header(&opened.request.fields);
    match format {
        Format::Xlsx => {
            let bytes = match xlsx(state, id, &opened, &header).await {
                Ok(bytes) => bytes,
                Err(e) => return Err(damaged_or_gone(state, id, who, e, now).await),
            };
            if last {
                shred_after_last(state.clone(), id.clone()).await;
            }
            Ok(Download {
                filename,
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                body: Body::Whole(bytes),
            })
        }
        _ => Ok(Download {
            filename,
            content_type: "text/csv; charset=utf-8",
            body: Body::Stream(csv_stream(state.clone(), id.clone(), opened, &header, last)),
        }),
    }
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

/// The CSV: header (with BOM) first, then one piece per chunk; shreds after the last download.
fn csv_stream(
    state: Context,
    id: ExtractId,
    opened: Opened,
    names: &[&str],
    last: bool,
) -> BoxStream<'static, Result<Vec<u8>, Error>> {
    let mut header = Vec::new();
    format::csv_header(names, &mut header);
    let store = state.store.clone();
    let tail_id = id.clone();
    // The next batch is read (on the store's own thread) while this one is decrypted and
    // formatted: the two halves of a download overlap.
    let body = stream::unfold((opened, 0i64, None::<Fetching>), move |(o, next, ahead)| {
        let store = store.clone();
        let id = id.clone();
        async move {
            if next >= o.chunk_count {
                return None;
            }
            let batch = match ahead {
                Some(fetching) => fetching
                    .await
                    .unwrap_or(Err(Error::Damaged("a chunk read was cancelled"))),
                None => fetch(store.clone(), id.clone(), next).await,
            };
            let following = next + CHUNKS_PER_FETCH;
            let ahead: Option<Fetching> = (batch.is_ok() && following < o.chunk_count)
                .then(|| tokio::spawn(fetch(store, id.clone(), following)));
            let piece = batch.and_then(|b| csv_piece(&id, &o, b));
            let stop = if piece.is_err() {
                o.chunk_count
            } else {
                following
            };
            Some((piece, (o, stop, ahead)))
        }
    });
    let tail = stream::once(async move {
        if last {
            shred_after_last(state, tail_id).await;
        }
        Ok(Vec::new())
    });
    stream::once(async move { Ok(header) })
        .chain(body)
        .chain(tail)
        .boxed()
}

/// A batch being read ahead of the one being formatted.
type Fetching = tokio::task::JoinHandle<Result<Vec<(i64, Vec<u8>)>, Error>>;

/// Up to [`CHUNKS_PER_FETCH`] sealed chunks from `from`.
async fn fetch(store: Store, id: ExtractId, from: i64) -> Result<Vec<(i64, Vec<u8>)>, Error> {
    let batch = store
        .find_chunks(id.as_str(), from, CHUNKS_PER_FETCH)
        .await?;
    if batch.is_empty() {
        // Shredded while this download was streaming (another one was the last allowed):
        // break the response off rather than end it as if the file were complete.
        return Err(Error::Gone(ExtractState::Shredded.as_str().into()));
    }
    Ok(batch)
}

/// The CSV lines of a fetched batch.
fn csv_piece(id: &ExtractId, o: &Opened, batch: Vec<(i64, Vec<u8>)>) -> Result<Vec<u8>, Error> {
    let columns = o.request.fields.len();
    let mut out = Vec::new();
    for (seq, sealed) in batch {
        let plain = open_plain(&o.key, id, seq, o.chunk_count, &sealed)?;
        container::for_each_row(&plain, columns, |cells| format::csv_cells(cells, &mut out))?;
    }
    Ok(out)
}

/// The XLSX, built in memory (bounded by `format::XLSX_MAX_ROWS`), headed by `names`.
async fn xlsx(
    state: &Context,
    id: &ExtractId,
    o: &Opened,
    names: &[&str],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let title = lifecycle::policy_now(state)
        .await?
        .purpose(&o.request.purpose)
        .map_or_else(
            || o.request.purpose.as_str().to_owned(),
            |p| p.name_sv.clone(),
        );
    let expires = o
        .row
        .expires_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_default();
    let info = format::XlsxInfo {
        extract_id: id.to_string(),
        title,
        expires,
        notice: "Medlemsuppgifter: dela inte, radera alla kopior när arbetet är klart. \
                 Member data: do not share, delete every copy when done."
            .into(),
    };
    let mut builder = format::XlsxBuilder::new(names, &info)?;
    let columns = o.request.fields.len();
    let mut next = 0;
    while next < o.chunk_count {
        let batch = state
            .store
            .find_chunks(id.as_str(), next, CHUNKS_PER_FETCH)
            .await?;
        if batch.is_empty() {
            return Err(Error::Damaged("a chunk is missing"));
        }
        for (seq, sealed) in batch {
            for row in open_chunk(&o.key, id, seq, o.chunk_count, &sealed, columns)? {
                builder.push_row(&row)?;
            }
            next = seq + 1;
        }
    }
    Ok(builder.finish()?)
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
/// download, but audited page by page.
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
    let chunk_rows = super::CHUNK_ROWS as u64;
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
        match open_chunk(&o.key, id, seq, o.chunk_count, &sealed, columns) {
            Ok(rows) => {
                let base = u64::try_from(seq).unwrap_or(0) * chunk_rows;
                for (i, row) in rows.into_iter().enumerate() {
                    let at = base + i as u64;
                    if at >= first && at < first + per {
                        rows_out.push(row);
                    }
                }
            }
            Err(e) => return Err(damaged_or_gone(state, id, who, e, now).await),
        }
    }
    let event = Event::new(
        EventKind::ExtractViewed,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "page": page, "rows": rows_out.len(), "ip": client_ip }),
    );
    audit::record_now(&state.store, &event, now).await?;
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
