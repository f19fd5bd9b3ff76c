//! The run's results as JSON: the configuration, counts, throughput, latency percentiles in
//! milliseconds (p50/p90/p99/p99.9/max), the error breakdown by outcome code and by transport
//! failure, and a time series; plus the short human summary.
//!
//! Owns the report format and its percentile math; reads the [`Recorder`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{LoopKind, Plan};
use crate::recorder::{Point, Recorder};
use crate::workloads::Workload;

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the report")]
    Encode(#[from] serde_json::Error),
}

/// What was run, as recorded in the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunConfig {
    /// `direct` or `chain`.
    pub(crate) mode: &'static str,
    /// The node URL (direct) or the JSON-RPC URL (chain).
    pub(crate) target: String,
    pub(crate) workload: Workload,
    pub(crate) code_tx: String,
    #[serde(rename = "loop")]
    pub(crate) loop_kind: LoopConfig,
    pub(crate) warmup_s: f64,
    pub(crate) duration_s: Option<f64>,
    pub(crate) requests: Option<u64>,
    pub(crate) timeout_s: f64,
    /// CPUs of the machine loadgen ran on (it shares them with the node when run locally).
    pub(crate) host_cpus: usize,
    /// Chain mode: the deadline each job is created with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job_deadline_ms: Option<u64>,
}

/// The loop, as recorded in the report.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum LoopConfig {
    Open {
        rate_per_s: f64,
        max_in_flight: usize,
    },
    Closed {
        concurrency: usize,
    },
}

impl RunConfig {
    /// The plan's part of the configuration; the caller fills in mode, target and code.
    pub(crate) fn from_plan(plan: &Plan, workload: Workload) -> Self {
        Self {
            mode: "",
            target: String::new(),
            workload,
            code_tx: String::new(),
            loop_kind: match plan.kind {
                LoopKind::Open {
                    rate,
                    max_in_flight,
                } => LoopConfig::Open {
                    rate_per_s: rate,
                    max_in_flight,
                },
                LoopKind::Closed { concurrency } => LoopConfig::Closed { concurrency },
            },
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: plan.duration.map(|d| d.as_secs_f64()),
            requests: plan.requests,
            timeout_s: plan.timeout.as_secs_f64(),
            host_cpus: std::thread::available_parallelism().map_or(0, usize::from),
            job_deadline_ms: None,
        }
    }
}

/// The report file.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) config: RunConfig,
    pub(crate) started_at_unix_s: u64,
    pub(crate) counts: Counts,
    /// From the end of the warm-up to the end of the last measured request.
    pub(crate) elapsed_s: f64,
    /// Measured requests per second over `elapsed_s`.
    pub(crate) throughput_per_s: f64,
    /// Outcome-0 answers with the expected output per second.
    pub(crate) success_per_s: f64,
    /// Answered requests (any outcome code); chain mode: createJob receipt → JobResponded.
    pub(crate) latency_ms: Option<Percentiles>,
    /// Chain mode: scheduled createJob → JobResponded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) from_schedule_ms: Option<Percentiles>,
    /// Outcome code (0..=7) → count.
    pub(crate) outcomes: BTreeMap<String, u64>,
    /// Requests without an outcome, by cause.
    pub(crate) transport_errors: BTreeMap<String, u64>,
    pub(crate) time_series_bucket_s: f64,
    pub(crate) time_series: Vec<Bucket>,
    /// Measured requests beyond the kept raw points (absent from plots and the time series).
    pub(crate) points_dropped: u64,
    pub(crate) plots: Plots,
}

/// Request counts of the measured phase.
#[derive(Debug, Serialize)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) warmup_requests: u64,
    pub(crate) answered: u64,
    /// Non-zero outcomes + transport errors + unexpected outputs.
    pub(crate) errors: u64,
    pub(crate) transport_errors: u64,
    pub(crate) unexpected_output: u64,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: u64,
    pub(crate) min: f64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p99_9: f64,
    pub(crate) max: f64,
}

/// One slice of the run, by scheduled send time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bucket {
    pub(crate) start_s: f64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// The plot files, relative to the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Plots {
    pub(crate) latency_over_time: String,
    pub(crate) latency_distribution: String,
}

impl Percentiles {
    /// `None` for an empty histogram; values are microseconds.
    pub(crate) fn from_micros(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Self {
            count: histogram.len(),
            min: ms(histogram.min()),
            mean: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.5)),
            p90: ms(histogram.value_at_quantile(0.9)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        })
    }
}

impl Report {
    /// Builds the report; `chain` adds the from-schedule percentiles.
    pub(crate) fn new(config: RunConfig, recorder: &Recorder, plan: &Plan, plots: Plots) -> Self {
        let elapsed_s = recorder.last_end.saturating_sub(plan.warmup).as_secs_f64();
        let per_s = |count: u64| {
            if elapsed_s > 0.0 {
                count as f64 / elapsed_s
            } else {
                0.0
            }
        };
        let width = bucket_width(elapsed_s + plan.warmup.as_secs_f64());
        let success = recorder.outcomes.get(&0).copied().unwrap_or(0) - recorder.unexpected_output;
        let chain = config.mode == "chain";
        Self {
            started_at_unix_s: unix_now(),
            counts: Counts {
                requests: recorder.requests(),
                warmup_requests: recorder.warmup_requests,
                answered: recorder.outcomes.values().sum(),
                errors: recorder.errors(),
                transport_errors: recorder.transport_errors(),
                unexpected_output: recorder.unexpected_output,
            },
            elapsed_s,
            throughput_per_s: per_s(recorder.requests()),
            success_per_s: per_s(success),
            latency_ms: Percentiles::from_micros(&recorder.latency),
            from_schedule_ms: if chain {
                Percentiles::from_micros(&recorder.from_schedule)
            } else {
                None
            },
            outcomes: recorder
                .outcomes
                .iter()
                .map(|(code, count)| (code.to_string(), *count))
                .collect(),
            transport_errors: recorder
                .failures
                .iter()
                .map(|(failure, count)| (failure.key(), *count))
                .collect(),
            time_series_bucket_s: width,
            time_series: time_series(&recorder.points, width),
            points_dropped: recorder.points_dropped,
            plots,
            config,
        }
    }

    /// Writes the report as pretty JSON, creating the folder.
    pub(crate) fn write(&self, path: &Path) -> Result<(), ReportError> {
        let text = serde_json::to_string_pretty(self)?;
        let write = || {
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, text + "\n")
        };
        write().map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The few lines printed at the end of a run.
    pub(crate) fn summary(&self, out: &mut impl Write) -> std::io::Result<()> {
        let config = &self.config;
        writeln!(
            out,
            "{} {} {}: {} requests in {:.2} s ({} warm-up left out), {:.1}/s, {} errors",
            config.mode,
            config.workload.name(),
            match config.loop_kind {
                LoopConfig::Open { rate_per_s, .. } => format!("open loop at {rate_per_s}/s"),
                LoopConfig::Closed { concurrency } =>
                    format!("closed loop, {concurrency} in flight"),
            },
            self.counts.requests,
            self.elapsed_s,
            self.counts.warmup_requests,
            self.throughput_per_s,
            self.counts.errors,
        )?;
        for (label, percentiles) in [
            ("latency", &self.latency_ms),
            ("from schedule", &self.from_schedule_ms),
        ] {
            if let Some(p) = percentiles {
                writeln!(
                    out,
                    "  {label} ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
                    p.p50, p.p90, p.p99, p.p99_9, p.max
                )?;
            }
        }
        writeln!(
            out,
            "  outcomes {:?}  transport errors {:?}  unexpected output {}",
            self.outcomes, self.transport_errors, self.counts.unexpected_output
        )
    }
}

/// A round bucket width giving at most ~120 buckets over `span_s`.
fn bucket_width(span_s: f64) -> f64 {
    const WIDTHS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
    WIDTHS
        .into_iter()
        .find(|width| span_s / width <= 120.0)
        .unwrap_or(600.0)
}

/// Per-bucket counts and nearest-rank percentiles of the raw points.
pub(crate) fn time_series(points: &[Point], width: f64) -> Vec<Bucket> {
    let mut buckets: BTreeMap<u64, (Vec<f64>, u64)> = BTreeMap::new();
    for point in points {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = (point.at_s / width).floor() as u64;
        let (latencies, errors) = buckets.entry(index).or_default();
        latencies.push(point.latency_ms);
        *errors += u64::from(!point.ok);
    }
    buckets
        .into_iter()
        .map(|(index, (mut latencies, errors))| {
            latencies.sort_by(f64::total_cmp);
            Bucket {
                start_s: index as f64 * width,
                requests: latencies.len() as u64,
                errors,
                p50_ms: nearest_rank(&latencies, 0.5),
                p99_ms: nearest_rank(&latencies, 0.99),
                max_ms: latencies.last().copied().unwrap_or(0.0),
            }
        })
        .collect()
}

/// The nearest-rank `quantile` of ascending `sorted` values (0 when empty).
pub(crate) fn nearest_rank(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests;
