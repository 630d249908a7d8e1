//! The forwarder: one task tails the store's audit log by `seq` and queues each committed
//! entry; checkpoints are queued by whoever signs them; one task owns the connection and
//! sends what is queued, in order.
//!
//! Guarantees: only committed entries are sent (the tail reads what other transactions
//! committed; appends hold the audit lock until commit, so seqs become visible in order and
//! none is skipped); nothing here is on a request's path — a full queue drops a checkpoint
//! copy and a failing destination drops messages, each counted in `Stats` (the metrics
//! `registervakt_syslog_forwarded_total` and `registervakt_syslog_dropped_total`) and
//! reported by at most one warning line a minute, which names the destination and the cause
//! and never an entry's content.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use super::transport::Link;
use super::{Destination, Message, Origin};
use crate::audit::checkpoint::Checkpoint;
use crate::store::Store;
use crate::store::audit::{AuditRow, AuditSelection};

/// Messages waiting for the connection; beyond this a checkpoint copy is dropped and the tail
/// waits (it holds nothing a request needs).
const QUEUE: usize = 1024;
/// How often the tail looks for new entries.
const TAIL_EVERY: Duration = Duration::from_secs(1);
/// Entries read per query.
const PAGE: i64 = 256;
/// At most one warning line per this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Counters for `/metrics`, and the once-a-minute warning.
#[derive(Clone, Default)]
pub struct Stats {
    pub forwarded: Counter,
    pub dropped: Counter,
    unreported: Arc<AtomicU64>,
    warned_at: Arc<Mutex<Option<Instant>>>,
}

impl Stats {
    fn drop_one(&self, destination: &Destination, cause: &dyn std::fmt::Display) {
        self.dropped.inc();
        self.unreported.fetch_add(1, Ordering::Relaxed);
        self.complain(destination, cause);
    }

    /// One warning line a minute at most, with the drops since the last one.
    fn complain(&self, destination: &Destination, cause: &dyn std::fmt::Display) {
        let mut warned_at = self
            .warned_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *warned_at = Some(Instant::now());
            let dropped = self.unreported.swap(0, Ordering::Relaxed);
            tracing::warn!(
                %destination,
                dropped,
                cause = %cause,
                "audit messages are not reaching syslog (the store's audit log still holds them)"
            );
        }
    }
}

enum Outgoing {
    Entry(AuditRow),
    Checkpoint(Checkpoint),
    Flush(oneshot::Sender<()>),
}

/// The queue's sending end: cheap to clone, never blocks its caller.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Outgoing>,
    destination: Destination,
    stats: Stats,
}

/// The queue's receiving end, until [`Outbox::start`] hands it to its task.
pub struct Outbox {
    rx: mpsc::Receiver<Outgoing>,
    sink: Sink,
    origin: Origin,
}

/// A queue for `destination`; nothing is sent before [`Outbox::start`].
pub fn channel(destination: Destination, origin: Origin, stats: Stats) -> (Sink, Outbox) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let sink = Sink {
        tx,
        destination,
        stats,
    };
    let outbox = Outbox {
        rx,
        sink: sink.clone(),
        origin,
    };
    (sink, outbox)
}

impl Sink {
    /// Queues a copy of a checkpoint, or counts it dropped when the queue is full.
    pub fn checkpoint(&self, checkpoint: &Checkpoint) {
        if self
            .tx
            .try_send(Outgoing::Checkpoint(checkpoint.clone()))
            .is_err()
        {
            self.stats
                .drop_one(&self.destination, &"the syslog queue is full");
        }
    }

    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Waits (up to `limit`) until everything queued before this call was sent or dropped.
    pub async fn flush(&self, limit: Duration) {
        let (done, sent) = oneshot::channel();
        let queued = tokio::time::timeout(limit, async {
            if self.tx.send(Outgoing::Flush(done)).await.is_ok() {
                let _ = sent.await;
            }
        })
        .await;
        if queued.is_err() {
            tracing::warn!(destination = %self.destination, "syslog did not take the last audit messages in time");
        }
    }
}

/// The running forwarder.
pub struct Running {
    sender: tokio::task::JoinHandle<()>,
    tail: tokio::task::JoinHandle<()>,
    stop_tail: oneshot::Sender<()>,
}

impl Outbox {
    /// Starts the sender and the tail; the tail forwards entries after `after_seq`.
    pub fn start(self, store: Store, after_seq: i64) -> Running {
        let Outbox { rx, sink, origin } = self;
        let sender = tokio::spawn(send_all(rx, sink.clone(), origin));
        let (stop_tail, stopped) = oneshot::channel();
        let tail = tokio::spawn(tail(store, sink, after_seq, stopped));
        Running {
            sender,
            tail,
            stop_tail,
        }
    }
}

impl Running {
    /// Forwards what was committed up to now (up to `limit`) and stops the tail.
    pub async fn finish_tail(&mut self, limit: Duration) {
        let (stop, _) = oneshot::channel();
        let _ = std::mem::replace(&mut self.stop_tail, stop).send(());
        if tokio::time::timeout(limit, &mut self.tail).await.is_err() {
            self.tail.abort();
        }
    }

    /// Stops sending (call after [`Sink::flush`]).
    pub fn stop(self) {
        self.tail.abort();
        self.sender.abort();
    }
}

async fn send_all(mut rx: mpsc::Receiver<Outgoing>, sink: Sink, origin: Origin) {
    let mut link = Link::new(sink.destination.clone());
    let max_len = link.destination().max_len();
    while let Some(next) = rx.recv().await {
        let message = match next {
            Outgoing::Entry(row) => Message::entry(&row),
            Outgoing::Checkpoint(c) => Message::checkpoint(&c),
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        match link.send(&message.format(&origin, max_len)).await {
            Ok(()) => {
                sink.stats.forwarded.inc();
            }
            Err(e) => sink.stats.drop_one(link.destination(), &e),
        }
    }
}

/// At once, every second and once more when stopped: queues the entries committed since.
async fn tail(store: Store, sink: Sink, mut after: i64, mut stop: oneshot::Receiver<()>) {
    loop {
        if let Err(e) = queue_new(&store, &sink, &mut after).await {
            // Nothing is lost: the next pass starts again after the last queued seq.
            sink.stats.complain(&sink.destination, &e);
        }
        let stopping = tokio::select! {
            () = tokio::time::sleep(TAIL_EVERY) => false,
            _ = &mut stop => true,
        };
        if stopping {
            if let Err(e) = queue_new(&store, &sink, &mut after).await {
                sink.stats.complain(&sink.destination, &e);
            }
            return;
        }
    }
}

/// Queues every entry after `after`, page by page, waiting for room in the queue.
async fn queue_new(store: &Store, sink: &Sink, after: &mut i64) -> Result<(), String> {
    let all = AuditSelection::default();
    loop {
        let rows = store
            .list_audit_events_page(&all, *after, i64::MAX, PAGE)
            .await
            .map_err(|e| format!("cannot read the audit log: {e}"))?;
        let full_page = rows.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
        for row in rows {
            let seq = row.seq;
            if sink.tx.send(Outgoing::Entry(row)).await.is_err() {
                return Err("the syslog sender stopped".into());
            }
            *after = seq;
        }
        if !full_page {
            return Ok(());
        }
    }
}
