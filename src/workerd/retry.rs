//! The retry-once policy shared by the node's pipeline and `serverless-executor run`: only
//! positive evidence of our own fault is retried, at most once, and a second crash of the same
//! job is the user's abnormal end (outcome 7).
//!
//! Pure: receives one run's result and its number, returns what to do next. Sends nothing.

use std::time::Duration;

use tracing::warn;

use super::classify::Classified;
use crate::domain::JobOutcome;
use crate::messages::jobs::RunReport;

/// Runs of one job: the first, and one retry on positive evidence of our own fault.
pub const MAX_RUNS: u32 = 2;

/// What one run decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The job has an outcome.
    Done {
        /// The outcome.
        outcome: JobOutcome,
        /// Its output (empty unless success).
        output: Vec<u8>,
        /// The user's execution time of the deciding run.
        user_time: Duration,
        /// The deciding run's peak memory, if known.
        peak_memory: Option<u64>,
    },
    /// Our fault (or a first crash): run again if runs are left, else the job has no outcome.
    Fault(String),
}

/// Decides after run number `run` (from 1). `result`'s `Err` is an infrastructure reason (the
/// runner could not run workerd at all).
pub fn after_run(job: &str, run: u32, result: Result<RunReport, String>) -> Step {
    let report = match result {
        Ok(report) => report,
        Err(reason) => return Step::Fault(reason),
    };
    let done = |outcome, output| Step::Done {
        outcome,
        output,
        user_time: report.user_time,
        peak_memory: report.peak_memory,
    };
    match report.classified.clone() {
        Classified::Outcome(outcome, output) => done(outcome, output),
        Classified::Crashed(reason) if run >= MAX_RUNS => {
            warn!(%job, %reason, "workerd died again with this job: the user's abnormal end.");
            done(JobOutcome::UncaughtException, Vec::new())
        }
        Classified::Crashed(reason) => Step::Fault(reason),
        Classified::OurFault(reason) => Step::Fault(reason.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::jobs::Acquired;

    fn report(classified: Classified) -> Result<RunReport, String> {
        Ok(RunReport {
            classified,
            user_time: Duration::from_millis(3),
            acquired: Acquired {
                warm: false,
                took: Duration::ZERO,
            },
            peak_memory: None,
        })
    }

    #[test]
    fn only_a_second_crash_is_the_users() {
        let crashed = || report(Classified::Crashed("signal 11".into()));
        assert_eq!(
            after_run("j", 1, crashed()),
            Step::Fault("signal 11".into())
        );
        assert!(matches!(
            after_run("j", 2, crashed()),
            Step::Done {
                outcome: JobOutcome::UncaughtException,
                ..
            }
        ));
        let ours = || report(Classified::OurFault("loader"));
        assert_eq!(after_run("j", 2, ours()), Step::Fault("loader".into()));
        assert_eq!(
            after_run("j", 1, Err("spawn".into())),
            Step::Fault("spawn".into())
        );
        let ok = report(Classified::Outcome(JobOutcome::Success, b"x".to_vec()));
        assert!(matches!(
            after_run("j", 1, ok),
            Step::Done { outcome: JobOutcome::Success, ref output, .. } if output == b"x"
        ));
    }
}
