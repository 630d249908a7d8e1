//! The process's own metrics, under the names every Prometheus client library uses so that
//! stock dashboards and alerts work: `process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds` and `process_threads`.
//!
//! Read from Linux's `/proc` on each scrape (proc(5)): a few small reads of virtual files.
//! Where a file cannot be read or parsed (another OS, a restricted `/proc`) its metrics are
//! left out of the scrape rather than reported as 0. Never reads another process, and no value
//! here names a user, a path or a request.

use prometheus_client::collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Clock ticks per second in `/proc/self/stat`'s times: USER_HZ, which the kernel fixes at 100
/// for userspace on every architecture Registervakt is built for (`sysconf(_SC_CLK_TCK)`
/// reports the same; the Prometheus Go client's procfs library assumes it too). Reading it
/// from `sysconf` would need `unsafe` or another crate.
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default)]
pub struct Collector;

impl Collector {
    pub fn new() -> Collector {
        Collector
    }
}

/// One scrape's readings; `None` where `/proc` did not say.
#[derive(Debug, Default, PartialEq)]
struct Readings {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    threads: Option<u64>,
    start_time: Option<f64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

impl Readings {
    fn now() -> Readings {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let boot = read("/proc/stat").and_then(|s| parse_boot_time(&s));
        Readings {
            cpu_seconds: stat.as_ref().map(|s| s.cpu_ticks as f64 / USER_HZ),
            resident_bytes: read("/proc/self/status").and_then(|s| parse_resident(&s)),
            virtual_bytes: stat.as_ref().map(|s| s.virtual_bytes),
            threads: stat.as_ref().map(|s| s.threads),
            start_time: stat
                .as_ref()
                .zip(boot)
                .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / USER_HZ),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: read("/proc/self/limits").and_then(|s| parse_max_fds(&s)),
        }
    }
}

impl collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = Readings::now();
        if let Some(v) = r.cpu_seconds {
            let metric = ConstCounter::new(v);
            let e = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds.",
                Some(&Unit::Seconds),
                metric.metric_type(),
            )?;
            metric.encode(e)?;
        }
        let gauges: [(&str, &str, Option<Unit>, Option<f64>); 6] = [
            (
                "process_resident_memory",
                "Resident memory size in bytes.",
                Some(Unit::Bytes),
                r.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory",
                "Virtual memory size in bytes.",
                Some(Unit::Bytes),
                r.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch in seconds.",
                Some(Unit::Seconds),
                r.start_time,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                r.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit).",
                None,
                r.max_fds.map(|v| v as f64),
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                None,
                r.threads.map(|v| v as f64),
            ),
        ];
        for (name, help, unit, value) in &gauges {
            if let Some(v) = value {
                let metric = ConstGauge::new(*v);
                let e =
                    encoder.encode_descriptor(name, help, unit.as_ref(), metric.metric_type())?;
                metric.encode(e)?;
            }
        }
        Ok(())
    }
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
}

/// proc(5): the command name (field 2) is in parentheses and may hold spaces or `)`, so the
/// fields are counted from after the last `)`; field 3 (state) is the first there.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n.checked_sub(3)?)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
    })
}

/// `btime` of `/proc/stat`: boot time in seconds since the epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/self/status`, which the kernel gives in kB (KiB), in bytes.
fn parse_resident(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft limit on the `Max open files` line of `/proc/self/limits` (`None` if unlimited).
fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis_of_the_command_name() {
        // A command name with a space and a `)` in it, as a process may choose.
        let line = "4242 (a) b) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 7 0 \
                    123456 987654321 2048 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            Stat {
                cpu_ticks: 300,
                threads: 7,
                start_ticks: 123456,
                virtual_bytes: 987654321
            }
        );
        assert_eq!(parse_stat("4242 (no closing S 1"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn status_limits_and_boot_time_are_read_from_their_lines() {
        let status = "Name:\tregistervakt\nVmPeak:\t  9000 kB\nVmRSS:\t   51200 kB\n";
        assert_eq!(parse_resident(status), Some(51200 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_fds(unlimited), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1767225600\n"),
            Some(1767225600)
        );
    }

    #[test]
    fn this_process_is_read_on_linux() {
        let r = Readings::now();
        assert!(r.resident_bytes.is_some_and(|b| b > 0), "{r:?}");
        assert!(r.cpu_seconds.is_some(), "{r:?}");
        assert!(r.open_fds.is_some_and(|n| n >= 3), "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = r.start_time.unwrap();
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{r:?}"
        );
    }
}
