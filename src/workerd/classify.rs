//! Turning run evidence and the cgroup's OOM counter into a job outcome. Pure, table-tested.
//!
//! The order follows reliability.md §2.2: our deadline kill first, then the kernel's OOM
//! record, then what workerd reported. Anything that does not prove a user-caused end is an
//! infrastructure fault, never signed as a user error.

use super::run::Evidence;
use crate::domain::JobOutcome;

/// A classified end of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// An outcome to sign, with its output (empty unless success).
    Outcome(JobOutcome, Vec<u8>),
    /// Not the user's doing: retry within the deadline or report loudly.
    Infrastructure(&'static str),
}

/// Classifies one run.
pub fn classify(evidence: Evidence, oom_killed: bool) -> Classified {
    use Classified::{Infrastructure, Outcome};
    match evidence {
        Evidence::DeadlineExceeded => Outcome(JobOutcome::Timeout, Vec::new()),
        _ if oom_killed => Outcome(JobOutcome::MemoryExceeded, Vec::new()),
        Evidence::OutputTooLarge => Outcome(JobOutcome::OutputTooLarge, Vec::new()),
        Evidence::Responded {
            exception: true, ..
        } => Outcome(JobOutcome::UncaughtException, Vec::new()),
        Evidence::Responded { body, .. } => Outcome(JobOutcome::Success, body),
        // The loader's process marker: the module did not load or evaluate.
        Evidence::LoadFailed => Outcome(JobOutcome::SyntaxError, Vec::new()),
        // workerd exits with status 1 when a module fails to load or evaluate.
        Evidence::ExitedBeforeListening { code: Some(code) } if code != 0 => {
            Outcome(JobOutcome::SyntaxError, Vec::new())
        }
        Evidence::ExitedBeforeListening { .. } => Infrastructure("workerd ended before serving"),
        Evidence::DiedWhileServing => Infrastructure("workerd died while serving"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_maps_to_outcomes_in_priority_order() {
        let ok = Evidence::Responded {
            status: 200,
            body: b"hi".to_vec(),
            exception: false,
        };
        let thrown = Evidence::Responded {
            status: 500,
            body: Vec::new(),
            exception: true,
        };
        let user_500 = Evidence::Responded {
            status: 500,
            body: b"mine".to_vec(),
            exception: false,
        };
        let cases = [
            (
                ok.clone(),
                false,
                Classified::Outcome(JobOutcome::Success, b"hi".to_vec()),
            ),
            (
                user_500,
                false,
                Classified::Outcome(JobOutcome::Success, b"mine".to_vec()),
            ),
            (
                thrown,
                false,
                Classified::Outcome(JobOutcome::UncaughtException, vec![]),
            ),
            (
                ok,
                true,
                Classified::Outcome(JobOutcome::MemoryExceeded, vec![]),
            ),
            (
                Evidence::DeadlineExceeded,
                true,
                Classified::Outcome(JobOutcome::Timeout, vec![]),
            ),
            (
                Evidence::OutputTooLarge,
                false,
                Classified::Outcome(JobOutcome::OutputTooLarge, vec![]),
            ),
            (
                Evidence::OutputTooLarge,
                true,
                Classified::Outcome(JobOutcome::MemoryExceeded, vec![]),
            ),
            (
                Evidence::ExitedBeforeListening { code: Some(1) },
                false,
                Classified::Outcome(JobOutcome::SyntaxError, vec![]),
            ),
            (
                Evidence::ExitedBeforeListening { code: None },
                false,
                Classified::Infrastructure("workerd ended before serving"),
            ),
            (
                Evidence::DiedWhileServing,
                false,
                Classified::Infrastructure("workerd died while serving"),
            ),
        ];
        for (evidence, oom, expected) in cases {
            assert_eq!(
                classify(evidence.clone(), oom),
                expected,
                "{evidence:?} oom={oom}"
            );
        }
    }
}
