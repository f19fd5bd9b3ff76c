//! Accumulates samples: HdrHistograms of the latencies (microseconds, 3 significant digits),
//! counts by outcome code and by transport failure, and the raw points behind the time series
//! and the latency-over-time plot.
//!
//! Owns the measurements of one run; receives [`Sample`]s from the load loop; the report and the
//! plots read it.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::{Failure, Outcome, Sample};

/// Longest latency the histograms hold exactly; longer ones saturate to it.
const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Raw points kept for plots and the time series (≈ 16 MB); later ones are counted only.
const MAX_POINTS: usize = 1_000_000;

/// One measured request, as plotted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    /// Scheduled send, seconds from the start of the run.
    pub(crate) at_s: f64,
    /// Latency in milliseconds.
    pub(crate) latency_ms: f64,
    /// Outcome 0 with the expected output.
    pub(crate) ok: bool,
}

/// The measurements of one run.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// Answered requests (any outcome code), µs.
    pub(crate) latency: Histogram<u64>,
    /// Answered requests from their scheduled send, µs; differs from `latency` only when the
    /// target measures its own span (chain mode).
    pub(crate) from_schedule: Histogram<u64>,
    pub(crate) outcomes: BTreeMap<u8, u64>,
    pub(crate) failures: BTreeMap<Failure, u64>,
    /// Outcome 0 whose output is not what the workload returns.
    pub(crate) unexpected_output: u64,
    pub(crate) warmup_requests: u64,
    pub(crate) points: Vec<Point>,
    pub(crate) points_dropped: u64,
    /// Latest end of a measured request, from the start of the run.
    pub(crate) last_end: Duration,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            latency: histogram(),
            from_schedule: histogram(),
            outcomes: BTreeMap::new(),
            failures: BTreeMap::new(),
            unexpected_output: 0,
            warmup_requests: 0,
            points: Vec::new(),
            points_dropped: 0,
            last_end: Duration::ZERO,
        }
    }

    pub(crate) fn record(&mut self, sample: &Sample) {
        if sample.warmup {
            self.warmup_requests += 1;
            return;
        }
        self.last_end = self.last_end.max(sample.scheduled + sample.from_schedule);
        let ok = match sample.outcome {
            Outcome::Answered { code, output_ok } => {
                self.latency.saturating_record(micros(sample.latency));
                self.from_schedule
                    .saturating_record(micros(sample.from_schedule));
                *self.outcomes.entry(code).or_default() += 1;
                if code == 0 && !output_ok {
                    self.unexpected_output += 1;
                }
                code == 0 && output_ok
            }
            Outcome::Failed(failure) => {
                *self.failures.entry(failure).or_default() += 1;
                false
            }
        };
        if self.points.len() < MAX_POINTS {
            self.points.push(Point {
                at_s: sample.scheduled.as_secs_f64(),
                latency_ms: sample.latency.as_secs_f64() * 1000.0,
                ok,
            });
        } else {
            self.points_dropped += 1;
        }
    }

    /// Measured requests (warm-up excluded).
    pub(crate) fn requests(&self) -> u64 {
        self.outcomes.values().sum::<u64>() + self.transport_errors()
    }

    pub(crate) fn transport_errors(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Requests that did not end in outcome 0 with the expected output.
    pub(crate) fn errors(&self) -> u64 {
        let failed_outcomes: u64 = self
            .outcomes
            .iter()
            .filter(|(code, _)| **code != 0)
            .map(|(_, count)| count)
            .sum();
        failed_outcomes + self.transport_errors() + self.unexpected_output
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
        .expect("1 µs..1 h at 3 significant digits is a valid histogram")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, outcome: Outcome, warmup: bool) -> Sample {
        Sample {
            scheduled: Duration::from_millis(ms),
            latency: Duration::from_millis(ms),
            from_schedule: Duration::from_millis(ms),
            outcome,
            warmup,
        }
    }

    #[test]
    fn counts_by_outcome_failure_and_warmup() {
        let ok = Outcome::Answered {
            code: 0,
            output_ok: true,
        };
        let mut recorder = Recorder::new();
        recorder.record(&sample(5, ok, true));
        recorder.record(&sample(10, ok, false));
        recorder.record(&sample(
            20,
            Outcome::Answered {
                code: 0,
                output_ok: false,
            },
            false,
        ));
        recorder.record(&sample(
            30,
            Outcome::Answered {
                code: 4,
                output_ok: false,
            },
            false,
        ));
        recorder.record(&sample(40, Outcome::Failed(Failure::Busy), false));
        assert_eq!(recorder.warmup_requests, 1);
        assert_eq!(recorder.requests(), 4);
        assert_eq!(recorder.outcomes, BTreeMap::from([(0, 2), (4, 1)]));
        assert_eq!(recorder.failures, BTreeMap::from([(Failure::Busy, 1)]));
        assert_eq!(recorder.unexpected_output, 1);
        assert_eq!(recorder.errors(), 3);
        assert_eq!(recorder.latency.len(), 3, "failures have no latency");
        assert_eq!(recorder.points.len(), 4);
        assert_eq!(recorder.last_end, Duration::from_millis(80));
    }
}
