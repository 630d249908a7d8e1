//! What the machine and this process report about themselves while a benchmark runs: the load
//! average (`/proc/loadavg`), printed at the start and end of every run so a figure taken on a
//! busy machine says so, and the bytes this process has written (`/proc/self/io`), read before
//! and after one step — until the process's writes settle — to give the bytes that step wrote.
//!
//! Guarantees: read-only; a missing or unreadable file (not Linux, a locked-down `/proc`) gives
//! "unknown", never an error, so a benchmark never fails for want of these figures. The byte
//! counters cover every thread of the process, so a step's figure includes whatever else the
//! process wrote meanwhile (its background tasks) — the benchmarks run one step at a time.

use std::time::Duration;

/// The three load averages (1, 5, 15 minutes) and the running/total tasks, as the kernel gives
/// them, or "unknown".
pub(super) fn load_average() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(text) => {
            let parts: Vec<&str> = text.split_whitespace().collect();
            match parts.as_slice() {
                [one, five, fifteen, tasks, ..] => format!(
                    "{one} {five} {fifteen} (1, 5, 15 min; {tasks} tasks running/total), \
                     {} logical CPUs",
                    super::connector::cpus()
                ),
                _ => "unknown".to_owned(),
            }
        }
        Err(_) => "unknown".to_owned(),
    }
}

/// This process's write counters from `/proc/self/io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Written {
    /// `wchar`: bytes passed to `write`-like system calls, whether or not they reached storage.
    pub wchar: u64,
    /// `write_bytes`: bytes this process caused to be sent to storage (counted when the page is
    /// dirtied, so an fsync-less write still counts).
    pub write_bytes: u64,
}

impl Written {
    /// The counters now, or `None` where `/proc/self/io` cannot be read.
    pub(super) fn now() -> Option<Written> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        parse_io(&text)
    }

    /// What was written between `before` and `self`.
    pub(super) fn since(self, before: Written) -> Written {
        Written {
            wchar: self.wchar.saturating_sub(before.wchar),
            write_bytes: self.write_bytes.saturating_sub(before.write_bytes),
        }
    }
}

/// How long the process must write nothing before a step's writes count as finished.
const QUIET: Duration = Duration::from_millis(200);
/// The longest [`settle`] waits.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Runs `step` and returns its result with the bytes the process wrote from its start until its
/// writes settled ([`settle`]); `None` where the counters cannot be read.
pub(super) async fn measure_written<T, F>(step: F) -> (T, Option<Written>)
where
    F: std::future::Future<Output = T>,
{
    let before = Written::now();
    let out = step.await;
    let after = settle().await;
    let written = match (before, after) {
        (Some(b), Some(a)) => Some(a.since(b)),
        _ => None,
    };
    (out, written)
}

/// Below this many bytes in [`QUIET`], `wchar` counts as still: the async runtime's wake-ups
/// (8-byte `eventfd` writes) never stop while anything waits.
const STILL_WCHAR: u64 = 64 * 1024;

/// Waits until the process has written nothing to files for [`QUIET`] — `write_bytes` unchanged,
/// `wchar` grown by less than [`STILL_WCHAR`] — at most [`SETTLE_LIMIT`], and returns the
/// counters then. An extract is live once its commit is visible, but SQLite then checkpoints
/// its log into the database file on the builder's connection: those writes belong to the
/// build, and left running they would be counted against (and slow) the next step.
pub(super) async fn settle() -> Option<Written> {
    let started = std::time::Instant::now();
    let mut mark = Written::now()?;
    let mut marked_at = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = Written::now()?;
        let busy = now.write_bytes != mark.write_bytes
            || now.wchar.saturating_sub(mark.wchar) >= STILL_WCHAR;
        if busy {
            mark = now;
            marked_at = std::time::Instant::now();
        }
        if marked_at.elapsed() >= QUIET || started.elapsed() >= SETTLE_LIMIT {
            return Some(now);
        }
    }
}

fn parse_io(text: &str) -> Option<Written> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(Written {
        wchar: field("wchar:")?,
        write_bytes: field("write_bytes:")?,
    })
}

/// Megabytes (10^6 bytes) with one decimal.
pub(super) fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// "median (min–max)" of the bytes written by each of several runs, both counters, or
/// "unknown" when any run could not read them.
pub(super) fn written_summary(runs: &[Option<Written>]) -> (String, String) {
    let all: Option<Vec<Written>> = runs.iter().copied().collect();
    match all {
        Some(all) if !all.is_empty() => {
            let summary = |pick: fn(&Written) -> u64| {
                let mut v: Vec<u64> = all.iter().map(pick).collect();
                v.sort_unstable();
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                let (lo, mid, hi) = (at(0), at(v.len() / 2), at(v.len().saturating_sub(1)));
                if lo == hi {
                    mb(mid)
                } else {
                    format!("{} ({}–{})", mb(mid), mb(lo), mb(hi))
                }
            };
            (summary(|w| w.wchar), summary(|w| w.write_bytes))
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_counters_are_read_from_proc_self_io() {
        let text = "rchar: 10\nwchar: 2048\nsyscr: 1\nsyscw: 2\nread_bytes: 0\n\
                    write_bytes: 4096\ncancelled_write_bytes: 0\n";
        assert_eq!(
            parse_io(text),
            Some(Written {
                wchar: 2048,
                write_bytes: 4096
            })
        );
        assert_eq!(parse_io("rchar: 10\n"), None);
    }

    #[test]
    fn written_is_summarised_as_median_and_range_in_megabytes() {
        let w = |mb: u64| {
            Some(Written {
                wchar: mb * 1_000_000,
                write_bytes: mb * 2_000_000,
            })
        };
        let (wchar, storage) = written_summary(&[w(3), w(1), w(2)]);
        assert_eq!(wchar, "2.0 MB (1.0 MB–3.0 MB)");
        assert_eq!(storage, "4.0 MB (2.0 MB–6.0 MB)");
        assert_eq!(written_summary(&[w(1), None]).0, "unknown");
    }

    #[test]
    fn the_load_average_names_three_figures_or_unknown() {
        let text = load_average();
        assert!(text == "unknown" || text.contains("1, 5, 15 min"), "{text}");
    }
}
