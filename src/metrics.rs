//! The node's Prometheus metrics (`GET /metrics`, text format): how jobs ended and why some have
//! no outcome at all.
//!
//! Owns the registry and the metric families; shared (behind an `Arc`) by the scheduler, which
//! counts, and the HTTP layer, which encodes. Families are internally synchronised counters,
//! not actor state: counting never waits on an actor. Labels are bounded enums, never a job id.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Where a job came from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Source {
    /// `POST /api/serverless`.
    Direct,
    /// `JobCreated` on chain.
    Chain,
}

/// Why a job has no outcome (nothing signed).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Unsigned {
    /// The code transaction could not be read from the chain in time.
    CodeUnavailable,
    /// No slot freed within the job's waiting bound.
    NoSlot,
    /// A chain job's answer window closed before it could start or finish.
    WindowClosed,
    /// Our own fault, twice (start, launcher, loader, a crash we may have caused).
    Infrastructure,
}

/// A phase of a job, timed on its own: where the node's time goes.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Phase {
    /// Getting the code (a cache hit costs nothing; a miss is an RPC round).
    CodeFetch,
    /// Waiting for an execution slot.
    SlotWait,
    /// Taking an idle warm process.
    ProcessWarm,
    /// Starting a process on the job's path (`cold`, or a warm pool that ran dry).
    ProcessStart,
    /// The user's code, from hand-over to its end.
    UserExecution,
    /// Classifying and handing the process back (or ending it).
    Settle,
    /// From acceptance to the outcome (signing excluded).
    EndToEnd,
    /// A chain job's signed output handed to `TxSender` → its transaction in the pool
    /// (prepared, and sent in nonce order behind the others).
    Submission,
    /// That transaction in the pool → seen included (a check 100 ms after a send, then
    /// every second): with `Submission`, submission → inclusion.
    Inclusion,
}

/// Labels of a phase.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// Which phase.
    pub phase: Phase,
}

/// Labels of a job's end.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    /// Where the job came from.
    pub source: Source,
    /// The outcome code, 0..=7.
    pub outcome: u8,
}

/// Labels of a job without outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnsignedLabels {
    /// Where the job came from.
    pub source: Source,
    /// Why.
    pub cause: Unsigned,
}

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    jobs_ended: Family<EndLabels, Counter>,
    jobs_unsigned: Family<UnsignedLabels, Counter>,
    retries: Counter,
    phases: Family<PhaseLabels, Histogram>,
    /// Chain and transaction metrics (`metrics_chain.rs`).
    pub chain: crate::metrics_chain::ChainMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let jobs_ended = Family::<EndLabels, Counter>::default();
        let jobs_unsigned = Family::<UnsignedLabels, Counter>::default();
        let retries = Counter::default();
        // 0.1 ms to ≈ 26 s, doubling.
        let phases = Family::<PhaseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 19))
        });
        registry.register(
            "executor_job_phase_seconds",
            "Time of each phase of a job",
            phases.clone(),
        );
        registry.register(
            "executor_jobs_ended",
            "Jobs that ended with an outcome (signed), by source and outcome code",
            jobs_ended.clone(),
        );
        registry.register(
            "executor_jobs_unsigned",
            "Jobs that ended without an outcome (nothing signed), by source and cause",
            jobs_unsigned.clone(),
        );
        registry.register(
            "executor_job_retries",
            "Runs repeated once on positive evidence of the node's own fault",
            retries.clone(),
        );
        let chain = crate::metrics_chain::ChainMetrics::register(&mut registry);
        Self {
            chain,
            registry,
            jobs_ended,
            jobs_unsigned,
            retries,
            phases,
        }
    }
}

impl Metrics {
    /// Counts a job that ended with an outcome.
    pub fn ended(&self, source: Source, outcome: u8) {
        self.jobs_ended
            .get_or_create(&EndLabels { source, outcome })
            .inc();
    }

    /// Counts a job without outcome.
    pub fn unsigned(&self, source: Source, cause: Unsigned) {
        self.jobs_unsigned
            .get_or_create(&UnsignedLabels { source, cause })
            .inc();
    }

    /// Records how long a phase took.
    pub fn phase(&self, phase: Phase, took: std::time::Duration) {
        self.phases
            .get_or_create(&PhaseLabels { phase })
            .observe(took.as_secs_f64());
    }

    /// Counts a retried run.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_unsigned_jobs_are_counted_by_bounded_labels() {
        let metrics = Metrics::default();
        metrics.ended(Source::Chain, 7);
        metrics.ended(Source::Chain, 7);
        metrics.unsigned(Source::Direct, Unsigned::NoSlot);
        metrics.phase(Phase::UserExecution, std::time::Duration::from_millis(3));
        let text = metrics.encode();
        assert!(
            text.contains(r#"executor_jobs_ended_total{source="Chain",outcome="7"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"executor_jobs_unsigned_total{source="Direct",cause="NoSlot"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"executor_job_phase_seconds_bucket{le="0.0032",phase="UserExecution"} 1"#
            ),
            "{text}"
        );
    }
}
