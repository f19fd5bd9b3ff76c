//! Job counters and the phase histogram: how many jobs were accepted, refused, ended (by
//! outcome code) or left unsigned, which infrastructure faults happened, and how long each
//! phase of a job took.
//!
//! Owned by [`super::Metrics`]; written by the scheduler, the pipeline and the HTTP routes
//! through atomics (no actor is ever waited on to count).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::labels::{Fault, Phase, Refusal, Source, Unsigned};

/// Phase buckets: 0.1 ms doubling to ≈ 52 s (20 buckets + `+Inf`), so both a warm hand-over
/// (≈ 0.1 ms) and a 30 s job land in a bucket of their own order.
pub(super) const PHASE_BUCKETS: (f64, f64, u16) = (0.0001, 2.0, 20);

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

/// Labels of an admitted job.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Where the job came from.
    pub source: Source,
}

/// Labels of a refused job.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// Where the job came from.
    pub source: Source,
    /// Why it was refused.
    pub reason: Refusal,
}

/// Labels of an infrastructure fault.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    /// What failed.
    pub cause: Fault,
}

/// The job families.
#[derive(Debug)]
pub(super) struct JobMetrics {
    pub(super) accepted: Family<SourceLabels, Counter>,
    pub(super) refused: Family<RefusedLabels, Counter>,
    pub(super) ended: Family<EndLabels, Counter>,
    pub(super) unsigned: Family<UnsignedLabels, Counter>,
    pub(super) faults: Family<FaultLabels, Counter>,
    pub(super) retries: Counter,
    pub(super) phases: Family<PhaseLabels, Histogram>,
}

impl JobMetrics {
    /// Registers every job family in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            accepted: Family::default(),
            refused: Family::default(),
            ended: Family::default(),
            unsigned: Family::default(),
            faults: Family::default(),
            retries: Counter::default(),
            phases: Family::new_with_constructor(|| {
                let (start, factor, count) = PHASE_BUCKETS;
                Histogram::new(exponential_buckets(start, factor, count))
            }),
        };
        registry.register(
            "executor_job_phase_seconds",
            "Time of each phase of a job",
            metrics.phases.clone(),
        );
        registry.register(
            "executor_jobs_accepted",
            "Jobs admitted to run, by source",
            metrics.accepted.clone(),
        );
        registry.register(
            "executor_jobs_refused",
            "Jobs refused before they ran (nothing signed), by source and reason",
            metrics.refused.clone(),
        );
        registry.register(
            "executor_jobs_ended",
            "Jobs that ended with an outcome (signed), by source and outcome code",
            metrics.ended.clone(),
        );
        registry.register(
            "executor_jobs_unsigned",
            "Jobs that ended without an outcome (nothing signed), by source and cause",
            metrics.unsigned.clone(),
        );
        registry.register(
            "executor_infrastructure_faults",
            "Runs that failed by the node's own fault, by cause (each is retried once)",
            metrics.faults.clone(),
        );
        registry.register(
            "executor_job_retries",
            "Runs repeated once on positive evidence of the node's own fault",
            metrics.retries.clone(),
        );
        metrics.start_at_zero();
        metrics
    }

    /// Creates every bounded series at 0, so that each is exported from the first scrape and
    /// `increase()` sees a first failure (a series born at 1 shows no increase).
    fn start_at_zero(&self) {
        for &source in Source::ALL {
            let _ = self.accepted.get_or_create(&SourceLabels { source });
            for outcome in 0..=7 {
                let _ = self.ended.get_or_create(&EndLabels { source, outcome });
            }
            for &cause in Unsigned::ALL {
                let _ = self
                    .unsigned
                    .get_or_create(&UnsignedLabels { source, cause });
            }
        }
        for &reason in Refusal::ALL {
            let source = reason.source();
            let _ = self
                .refused
                .get_or_create(&RefusedLabels { source, reason });
        }
        for &cause in Fault::ALL {
            let _ = self.faults.get_or_create(&FaultLabels { cause });
        }
        for &phase in Phase::ALL {
            let _ = self.phases.get_or_create(&PhaseLabels { phase });
        }
    }
}

impl From<&crate::workerd::run::RunError> for Fault {
    fn from(error: &crate::workerd::run::RunError) -> Self {
        use crate::workerd::run::RunError;
        match error {
            RunError::Files { .. } | RunError::Spawn(_) | RunError::Descriptors(_) => Self::Spawn,
            RunError::Launcher { .. } => Self::Launcher,
            RunError::NotServing { .. } => Self::NotServing,
            RunError::NoResource(_) => Self::NoResource,
        }
    }
}

impl Fault {
    /// The fault a classified run shows, if any: a crash, or our loader's broken answer. (A
    /// run stopped because a chain job's window closed is classified as ours too; the caller,
    /// who knows the window, does not count it.)
    pub fn of_classified(classified: &crate::workerd::classify::Classified) -> Option<Self> {
        use crate::workerd::classify::Classified;
        match classified {
            Classified::Outcome(..) => None,
            Classified::Crashed(_) => Some(Self::Crashed),
            Classified::OurFault(_) => Some(Self::Loader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobOutcome;
    use crate::workerd::classify::Classified;
    use crate::workerd::run::RunError;

    #[test]
    fn faults_are_named_by_what_failed() {
        let not_serving = RunError::NotServing {
            stderr: String::new(),
        };
        assert_eq!(Fault::from(&not_serving), Fault::NotServing);
        assert_eq!(
            Fault::from(&RunError::NoResource("cgroup")),
            Fault::NoResource
        );
        let launcher = RunError::Launcher {
            stderr: String::new(),
        };
        assert_eq!(Fault::from(&launcher), Fault::Launcher);
        let crashed = Classified::Crashed("workerd killed by signal 9".into());
        assert_eq!(Fault::of_classified(&crashed), Some(Fault::Crashed));
        let loader = Classified::OurFault("loader answered without an end header");
        assert_eq!(Fault::of_classified(&loader), Some(Fault::Loader));
        let outcome = Classified::Outcome(JobOutcome::Timeout, Vec::new());
        assert_eq!(Fault::of_classified(&outcome), None);
    }
}
