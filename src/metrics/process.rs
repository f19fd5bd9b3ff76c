//! The node process's own resources, read from `/proc/self` at each scrape: resident and
//! virtual memory, open and allowed file descriptors, threads, CPU time. Names follow the
//! Prometheus client libraries' process collector (`process_*`), so stock dashboards work.
//!
//! A [`Collector`] registered once; reads the kernel's files, sends nothing. A value that
//! cannot be read is left out of that scrape (never a made-up zero).

use std::path::Path;

use nix::sys::resource::{getrlimit, getrusage, Resource, UsageWho};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Reads `/proc/self` on every scrape.
#[derive(Debug, Default)]
pub(super) struct ProcessCollector;

/// What one scrape read.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    threads: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    cpu_seconds: Option<f64>,
}

impl Sample {
    fn read(proc_self: &Path) -> Self {
        let status = std::fs::read_to_string(proc_self.join("status")).unwrap_or_default();
        let open_fds = std::fs::read_dir(proc_self.join("fd"))
            .ok()
            .map(|entries| entries.count() as f64);
        let max_fds = getrlimit(Resource::RLIMIT_NOFILE)
            .ok()
            .map(|(soft, _)| soft as f64);
        let cpu_seconds = getrusage(UsageWho::RUSAGE_SELF).ok().map(|usage| {
            let seconds =
                |time: nix::sys::time::TimeVal| time.tv_sec() as f64 + time.tv_usec() as f64 / 1e6;
            seconds(usage.user_time()) + seconds(usage.system_time())
        });
        Self {
            resident_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024.0),
            virtual_bytes: status_kib(&status, "VmSize:").map(|kib| kib * 1024.0),
            threads: status_kib(&status, "Threads:"),
            open_fds,
            max_fds,
            cpu_seconds,
        }
    }
}

/// The number after `key` in `/proc/<pid>/status` (`VmRSS:   1234 kB` → 1234).
fn status_kib(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sample = Sample::read(Path::new("/proc/self"));
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory of the node process",
                sample.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory of the node process",
                sample.virtual_bytes,
            ),
            (
                "process_threads",
                "Threads of the node process",
                sample.threads,
            ),
            (
                "process_open_fds",
                "Open file descriptors of the node process",
                sample.open_fds,
            ),
            (
                "process_max_fds",
                "Most file descriptors the node process may open (soft limit)",
                sample.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            // The encoder appends `_total`.
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time of the node process",
                None,
                MetricType::Counter,
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let sample = Sample::read(Path::new("/proc/self"));
        assert!(sample.resident_bytes.is_some_and(|bytes| bytes > 0.0));
        assert!(sample.threads.is_some_and(|threads| threads >= 1.0));
        // stdin, stdout, stderr at least, and the directory being read.
        assert!(sample.open_fds.is_some_and(|fds| fds >= 3.0));
    }

    #[test]
    fn a_missing_proc_reads_as_absent_not_zero() {
        let sample = Sample::read(Path::new("/nonexistent/proc/self"));
        assert_eq!(sample.resident_bytes, None);
        assert_eq!(sample.threads, None);
        assert_eq!(sample.open_fds, None);
    }
}
