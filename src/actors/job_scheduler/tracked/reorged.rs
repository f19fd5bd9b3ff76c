//! Answers taken back by a reorg that replaced only the blocks of the answers, not the job's:
//! the job stays in the book, our answer is no longer on chain, so we must neither think it is
//! (at window end we would report our own job and be slashed) nor leave it unanswered. The
//! book keeps our outcome until the window closes and hands it back to be sent again.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::time::Instant;

use super::TrackedJobs;
use crate::chain::jobs_events::JobId;
use crate::chain::submit::JobAnchor;
use crate::messages::jobs::Execution;

/// What it takes to send our output again.
#[derive(Debug, Clone)]
pub(in crate::actors::job_scheduler) struct KeptOutput {
    pub(in crate::actors::job_scheduler) anchor: JobAnchor,
    pub(in crate::actors::job_scheduler) execution: Execution,
    pub(in crate::actors::job_scheduler) answer_by: Instant,
}

impl TrackedJobs {
    /// Keeps our outcome for `job_id` until its window closes (see [`Self::unanswer_from`]).
    pub(in crate::actors::job_scheduler) fn keep_output(
        &mut self,
        job_id: &JobId,
        kept: KeptOutput,
    ) {
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.kept = Some(kept);
        }
    }

    /// After a reorg from `fork` (jobs created there already forgotten): answers in the
    /// replaced blocks are taken back. Returns our kept outputs to send again, each with the
    /// job's new cancel flag.
    pub(in crate::actors::job_scheduler) fn unanswer_from(
        &mut self,
        fork: u64,
    ) -> Vec<(JobId, KeptOutput, Arc<AtomicBool>)> {
        let mut resend = Vec::new();
        for (job_id, job) in &mut self.jobs {
            if job.completed_in.is_some_and(|block| block >= fork) {
                job.complete = false;
                job.completed_in = None;
            }
            if job.answered_in.is_some_and(|block| block >= fork) {
                job.answered_by_us = false;
                job.answered_in = None;
                job.cancel = Arc::new(AtomicBool::new(false));
                if let Some(kept) = job.kept.clone() {
                    resend.push((*job_id, kept, Arc::clone(&job.cancel)));
                }
            }
        }
        resend
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::super::{RunVerdict, TrackedJob, WindowEnd};
    use super::*;

    #[test]
    fn a_reorg_of_only_our_answer_takes_it_back_and_returns_the_output() {
        let mut book = TrackedJobs::default();
        let id = JobId([1; 32]);
        book.deliver(id, TrackedJob::new(4, [1; 32], 1, true));
        let kept = KeptOutput {
            anchor: JobAnchor {
                number: 4,
                hash: [1; 32],
            },
            execution: Execution {
                outcome: crate::domain::JobOutcome::Success,
                output: b"out".to_vec(),
                total_time: Duration::from_millis(3),
            },
            answer_by: Instant::now(),
        };
        book.keep_output(&id, kept);
        assert!(book.responded(&id, true, 1, 6));
        assert!(book.unanswer_from(7).is_empty(), "a reorg above our answer");
        let resend = book.unanswer_from(6);
        assert_eq!(resend.len(), 1);
        assert_eq!(resend[0].1.execution.output, b"out");
        assert!(!resend[0].2.load(Ordering::Relaxed), "a fresh cancel flag");
        assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::Submit);
        assert_eq!(
            book.close_window(&id),
            WindowEnd::OursUnanswered,
            "never reported by us"
        );
    }
}
