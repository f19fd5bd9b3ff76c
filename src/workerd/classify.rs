//! Turning the evidence of how a run ended into a job outcome. Pure, table-tested.
//!
//! The loader (in its own isolate) tells how the user's code ended; the node adds what only it
//! can see: its own deadline timer, the cgroup's OOM counter and how the process died. The
//! order follows reliability.md §2.2: the user's deadline first, then the kernel's OOM record,
//! then the loader's report. Only positive evidence of our own fault is [`Classified::OurFault`]
//! (retried once, never signed); a process that died by a signal we did not send is
//! [`Classified::Crashed`]: retried once in a fresh process, and the user's if it happens again.

use crate::domain::JobOutcome;

/// How the user's code ended, as the loader saw it (`js/protocol.js`, header `…-end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The user's response, whole; the body is the output.
    Ok(Vec<u8>),
    /// The response body grew past the cap.
    TooLarge,
    /// The handler threw, rejected, never settled, or its body stream errored.
    Exception,
    /// The module did not load or evaluate, or has no fetch handler.
    LoadFailed,
}

/// What happened to one job in one process, before classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The loader answered.
    Ended(End),
    /// The user's budget ran out first; we killed the process.
    DeadlineExceeded,
    /// The chain's answer window closed before the user's budget did: we stopped the job for a
    /// reason of ours, so it has no outcome.
    WindowClosed,
    /// The process went away while serving the job, and we did not kill it.
    ProcessDied {
        /// The signal that ended it, if one did.
        signal: Option<i32>,
        /// Its exit status, if it exited.
        code: Option<i32>,
    },
    /// The loader answered something it never sends for a job: our own loader broke.
    LoaderFault(&'static str),
}

/// A classified end of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// An outcome to sign, with its output (empty unless success).
    Outcome(JobOutcome, Vec<u8>),
    /// The process died on its own while running the job: possibly ours (a host OOM kill, a
    /// workerd fault), possibly the user's. Retried once in a fresh process; a second crash
    /// with the same code is the user's abnormal end (outcome 7).
    Crashed(String),
    /// Positive evidence that the fault is ours: retried once, never signed.
    OurFault(&'static str),
}

/// Classifies one run.
pub fn classify(evidence: Evidence, oom_killed: bool) -> Classified {
    use Classified::{Crashed, OurFault, Outcome};
    match evidence {
        Evidence::DeadlineExceeded => Outcome(JobOutcome::Timeout, Vec::new()),
        Evidence::WindowClosed => OurFault("the answer window closed while the job ran"),
        _ if oom_killed => Outcome(JobOutcome::MemoryExceeded, Vec::new()),
        Evidence::Ended(End::Ok(body)) => Outcome(JobOutcome::Success, body),
        Evidence::Ended(End::TooLarge) => Outcome(JobOutcome::OutputTooLarge, Vec::new()),
        Evidence::Ended(End::Exception) => Outcome(JobOutcome::UncaughtException, Vec::new()),
        Evidence::Ended(End::LoadFailed) => Outcome(JobOutcome::SyntaxError, Vec::new()),
        Evidence::ProcessDied { signal, code } => Crashed(match (signal, code) {
            (Some(signal), _) => format!("workerd killed by signal {signal}"),
            (None, Some(code)) => format!("workerd exited with status {code}"),
            (None, None) => "workerd ended".to_owned(),
        }),
        Evidence::LoaderFault(reason) => OurFault(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_maps_to_outcomes_in_priority_order() {
        use Classified::{Crashed, OurFault, Outcome};
        use JobOutcome::*;
        let ok = || Evidence::Ended(End::Ok(b"hi".to_vec()));
        let died = |signal, code| Evidence::ProcessDied { signal, code };
        let cases = [
            (ok(), false, Outcome(Success, b"hi".to_vec())),
            (ok(), true, Outcome(MemoryExceeded, vec![])),
            (
                Evidence::Ended(End::Exception),
                false,
                Outcome(UncaughtException, vec![]),
            ),
            (
                Evidence::Ended(End::LoadFailed),
                false,
                Outcome(SyntaxError, vec![]),
            ),
            (
                Evidence::Ended(End::TooLarge),
                false,
                Outcome(OutputTooLarge, vec![]),
            ),
            (
                Evidence::Ended(End::TooLarge),
                true,
                Outcome(MemoryExceeded, vec![]),
            ),
            (Evidence::DeadlineExceeded, true, Outcome(Timeout, vec![])),
            (
                Evidence::WindowClosed,
                true,
                OurFault("the answer window closed while the job ran"),
            ),
            (died(None, None), true, Outcome(MemoryExceeded, vec![])),
            (
                died(Some(11), None),
                false,
                Crashed("workerd killed by signal 11".into()),
            ),
            (
                died(None, Some(1)),
                false,
                Crashed("workerd exited with status 1".into()),
            ),
            (Evidence::LoaderFault("x"), false, OurFault("x")),
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
