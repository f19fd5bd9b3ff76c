//! The scheduler's book of chain jobs: which jobs it knows (so a log delivered twice runs once),
//! from which block (so a reorg can orphan them), how many outputs they need, whether they
//! selected us, and what to do when each one's answer window closes: never report a job that
//! selected us unless our own output is on chain, since the report would slash us. Pure
//! bookkeeping, unit-tested; the actor owns one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::SpawnHandle;

use super::wanted::Wanted;
use crate::chain::jobs_events::JobId;
use crate::domain::Address;

/// Jobs tracked at once; beyond it new jobs are neither run nor watched (logged), so a flood
/// of `JobCreated` cannot grow the node's memory without bound.
pub(super) const MAX_TRACKED_JOBS: usize = 65_536;
/// Least time left before the answer window closes for a run to be worth starting: the run,
/// the signature and the transaction's inclusion all need some.
pub(super) const SUBMIT_MARGIN: Duration = Duration::from_secs(1);

/// When a chain job's windows close, seen from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChainTiming {
    /// Until the contract stops accepting outputs (execution start + deadline + buffer); a
    /// timeout may be reported after it.
    pub(super) answer_window: Duration,
    /// Whether a run started now can still be answered in time.
    pub(super) worth_running: bool,
}

/// The windows of a job that started (its block's timestamp) at `start_unix`.
pub(super) fn chain_timing(
    start_unix: u64,
    deadline_ms: u64,
    buffer: Duration,
    now_unix_ms: u64,
) -> ChainTiming {
    let buffer_ms = u64::try_from(buffer.as_millis()).unwrap_or(u64::MAX);
    let closes_ms = start_unix
        .saturating_mul(1000)
        .saturating_add(deadline_ms)
        .saturating_add(buffer_ms);
    let answer_window = Duration::from_millis(closes_ms.saturating_sub(now_unix_ms));
    ChainTiming {
        answer_window,
        worth_running: answer_window > SUBMIT_MARGIN,
    }
}

/// One known job.
#[derive(Debug)]
pub(super) struct TrackedJob {
    /// The block of its `JobCreated`.
    pub(super) block_number: u64,
    /// That block's hash: a second delivery from another block is a re-inclusion.
    pub(super) block_hash: [u8; 32],
    /// Outputs that end the job.
    pub(super) selected: usize,
    /// This node is among the selected executors.
    pub(super) ours: bool,
    /// The timeout report scheduled for it (or the end of its bookkeeping once complete).
    pub(super) watch: Option<SpawnHandle>,
    /// Whether its output is still wanted, shared with its run and its output's sender.
    pub(super) wanted: Arc<Wanted>,
    /// Each `JobResponded` seen: who answered, in which block (a reorg can remove some).
    responses: Vec<Response>,
    /// Our output for it is on chain.
    pub(super) answered_by_us: bool,
    /// Every selected executor answered: no timeout report.
    pub(super) complete: bool,
}

impl TrackedJob {
    /// A job just seen in `JobCreated`; `ours` if it selected this node.
    pub(super) fn new(
        block_number: u64,
        block_hash: [u8; 32],
        selected: usize,
        ours: bool,
    ) -> Self {
        Self {
            block_number,
            block_hash,
            selected,
            ours,
            watch: None,
            wanted: Arc::default(),
            responses: Vec::new(),
            answered_by_us: false,
            complete: false,
        }
    }

    /// The job is gone (its block replaced, or its record replaced by a re-inclusion): stops a
    /// pipeline that has not started workerd yet, and any sending of its output.
    pub(super) fn cancel(&self) {
        self.wanted.set_orphaned();
    }
}

/// One `JobResponded` of a job.
#[derive(Debug, Clone, Copy)]
struct Response {
    executor: Address,
    block_number: u64,
    by_us: bool,
}

/// Responses kept per job: the contract takes one per selected executor; a longer list is a
/// misbehaving endpoint, and is not grown.
const MAX_RESPONSES: usize = 256;

/// The state of a job when its run ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RunVerdict {
    /// Still ours to answer: submit.
    Submit,
    /// Our output is already on chain (the job was seen again after a restart).
    AlreadyAnswered,
    /// Its block was replaced, or the book forgot it (window closed).
    Orphaned,
}

/// What the timeout watch does when a job's answer window closes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum WindowEnd {
    /// Every selected executor answered, or the book no longer knows the job.
    Nothing,
    /// Someone did not answer and the report cannot slash us: report it.
    Report,
    /// It selected us and our output is not on chain: reporting it would slash ourselves.
    /// Left to the other nodes (or the job's owner).
    OursUnanswered,
}

/// What to do with a `JobCreated` delivery.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Delivery {
    /// First time: run (if selected) and watch.
    New,
    /// Same job from the same block: already handled.
    Duplicate,
    /// The book is full.
    Full,
}

/// The book itself.
#[derive(Debug, Default)]
pub(super) struct TrackedJobs {
    jobs: HashMap<JobId, TrackedJob>,
}

impl TrackedJobs {
    /// Classifies a delivery and records a new one. A job known from another block (re-included
    /// after a reorg we did not see) replaces the old record; the caller cancels its watch.
    pub(super) fn deliver(
        &mut self,
        job_id: JobId,
        job: TrackedJob,
    ) -> (Delivery, Option<TrackedJob>) {
        match self.jobs.get(&job_id) {
            Some(known) if known.block_hash == job.block_hash => (Delivery::Duplicate, None),
            Some(_) => (Delivery::New, self.jobs.insert(job_id, job)),
            None if self.jobs.len() >= MAX_TRACKED_JOBS => (Delivery::Full, None),
            None => (Delivery::New, self.jobs.insert(job_id, job)),
        }
    }

    /// Sets the job's watch handle.
    pub(super) fn set_watch(&mut self, job_id: JobId, watch: SpawnHandle) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.watch = Some(watch);
        }
    }

    /// What to do with the output of a run of `job_id` from `block_hash`.
    pub(super) fn verdict(&self, job_id: &JobId, block_hash: &[u8; 32]) -> RunVerdict {
        match self.jobs.get(job_id) {
            Some(job) if &job.block_hash != block_hash => RunVerdict::Orphaned,
            Some(job) if job.answered_by_us => RunVerdict::AlreadyAnswered,
            Some(_) => RunVerdict::Submit,
            None => RunVerdict::Orphaned,
        }
    }

    /// Records a `JobResponded` by `executor` in `block_number`: ours cancels a pending run;
    /// a full set ends the timeout watch's purpose. Returns whether the job is now complete.
    pub(super) fn responded(
        &mut self,
        job_id: &JobId,
        executor: Address,
        by_us: bool,
        output_count: u8,
        block_number: u64,
    ) -> bool {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        let response = Response {
            executor,
            block_number,
            by_us,
        };
        if let Some(known) = job.responses.iter_mut().find(|r| r.executor == executor) {
            *known = response;
        } else if job.responses.len() < MAX_RESPONSES {
            job.responses.push(response);
        }
        if by_us {
            job.answered_by_us = true;
            job.wanted.set_answered();
        }
        job.complete |= usize::from(output_count) >= job.selected;
        job.complete
    }

    /// After a reorg from `fork` (jobs created from it on already orphaned): forgets the
    /// responses in the replaced blocks, so that the job is incomplete again and, if ours was
    /// among them, ours to answer again (its sender sends it again; at the window's end the
    /// job is never reported by us). Returns the jobs whose own answer was removed.
    pub(super) fn forget_responses_from(&mut self, fork: u64) -> Vec<JobId> {
        let mut ours_removed = Vec::new();
        for (id, job) in &mut self.jobs {
            let before = job.responses.len();
            let our_answer_removed = job
                .responses
                .iter()
                .any(|r| r.by_us && r.block_number >= fork);
            job.responses.retain(|r| r.block_number < fork);
            if job.responses.len() != before {
                job.complete = job.responses.len() >= job.selected;
            }
            if our_answer_removed {
                job.answered_by_us = false;
                ours_removed.push(*id);
            }
            // Ours and not seen answered: an output included just before the reorg may be
            // gone before its log reached us. A needless resend is refused as a duplicate.
            if job.ours && !job.answered_by_us {
                job.wanted.answer_removed();
            }
        }
        ours_removed
    }

    /// Forgets a job whose answer window closed and says whether to report it.
    pub(super) fn close_window(&mut self, job_id: &JobId) -> WindowEnd {
        match self.jobs.remove(job_id) {
            None => WindowEnd::Nothing,
            Some(job) if job.complete => WindowEnd::Nothing,
            Some(job) if job.ours && !job.answered_by_us => WindowEnd::OursUnanswered,
            Some(_) => WindowEnd::Report,
        }
    }

    /// Forgets a job (answered by everyone, reported, or expired).
    pub(super) fn remove(&mut self, job_id: &JobId) -> Option<TrackedJob> {
        self.jobs.remove(job_id)
    }

    /// Forgets every job created in block `fork` or later, returning them.
    pub(super) fn orphan_from(&mut self, fork: u64) -> Vec<(JobId, TrackedJob)> {
        let orphaned: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.block_number >= fork)
            .map(|(id, _)| *id)
            .collect();
        orphaned
            .into_iter()
            .filter_map(|id| self.jobs.remove(&id).map(|job| (id, job)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Address = Address([1; 20]);
    const OTHER: Address = Address([2; 20]);

    fn tracked(block_number: u64, hash: u8) -> TrackedJob {
        TrackedJob::new(block_number, [hash; 32], 1, false)
    }

    #[test]
    fn the_window_counts_from_the_block_timestamp_not_from_arrival() {
        let buffer = Duration::from_secs(10);
        let on_time = chain_timing(1_000, 5_000, buffer, 1_000_000);
        assert_eq!(on_time.answer_window, Duration::from_millis(15_000));
        assert!(on_time.worth_running);
        // Seen 14.5 s after its block (a restart): too late to run, a timeout report is due soon.
        let late = chain_timing(1_000, 5_000, buffer, 1_014_500);
        assert_eq!(late.answer_window, Duration::from_millis(500));
        assert!(!late.worth_running);
        let past = chain_timing(1_000, 5_000, buffer, 2_000_000);
        assert_eq!(past.answer_window, Duration::ZERO);
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        let timing = chain_timing(u64::MAX, u64::MAX, Duration::MAX, 0);
        assert_eq!(timing.answer_window, Duration::from_millis(u64::MAX));
    }

    #[test]
    fn a_second_delivery_from_the_same_block_is_a_duplicate() {
        let mut book = TrackedJobs::default();
        let id = JobId([1; 32]);
        assert_eq!(book.deliver(id, tracked(5, 1)).0, Delivery::New);
        assert_eq!(book.deliver(id, tracked(5, 1)).0, Delivery::Duplicate);
        let (delivery, replaced) = book.deliver(id, tracked(6, 2));
        assert_eq!(delivery, Delivery::New);
        assert_eq!(replaced.map(|job| job.block_number), Some(5));
        assert_eq!(book.verdict(&id, &[2; 32]), RunVerdict::Submit);
        assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::Orphaned);
    }

    #[test]
    fn our_own_output_cancels_a_pending_run_and_a_full_set_completes_the_job() {
        let mut book = TrackedJobs::default();
        let id = JobId([1; 32]);
        let mut job = tracked(5, 1);
        job.selected = 2;
        let wanted = Arc::clone(&job.wanted);
        book.deliver(id, job);
        assert!(
            !book.responded(&id, OTHER, false, 1, 6),
            "one of two outputs"
        );
        assert!(!wanted.cancelled());
        assert!(book.responded(&id, US, true, 2, 6));
        assert!(wanted.cancelled());
        assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::AlreadyAnswered);
        assert_eq!(book.close_window(&id), WindowEnd::Nothing, "complete");
        assert_eq!(book.close_window(&id), WindowEnd::Nothing, "forgotten");
    }

    #[test]
    fn a_job_that_selected_us_is_reported_only_once_our_output_is_on_chain() {
        let mut book = TrackedJobs::default();
        let (missed, answered, other) = (JobId([1; 32]), JobId([2; 32]), JobId([3; 32]));
        for id in [missed, answered] {
            let mut job = TrackedJob::new(5, [1; 32], 2, true);
            job.selected = 2;
            book.deliver(id, job);
        }
        book.deliver(other, tracked(5, 1));
        // Ours and one of two outputs, ours: a report slashes only the other executor.
        book.responded(&answered, US, true, 1, 6);
        assert_eq!(book.close_window(&missed), WindowEnd::OursUnanswered);
        assert_eq!(book.close_window(&answered), WindowEnd::Report);
        assert_eq!(book.close_window(&other), WindowEnd::Report);
    }

    #[test]
    fn a_reorg_orphans_jobs_from_the_fork_on() {
        let mut book = TrackedJobs::default();
        book.deliver(JobId([1; 32]), tracked(4, 1));
        book.deliver(JobId([2; 32]), tracked(5, 2));
        book.deliver(JobId([3; 32]), tracked(6, 3));
        let mut orphaned: Vec<u64> = book
            .orphan_from(5)
            .into_iter()
            .map(|(_, job)| job.block_number)
            .collect();
        orphaned.sort_unstable();
        assert_eq!(orphaned, [5, 6]);
        assert_eq!(book.verdict(&JobId([1; 32]), &[1; 32]), RunVerdict::Submit);
        assert_eq!(
            book.verdict(&JobId([2; 32]), &[2; 32]),
            RunVerdict::Orphaned
        );
    }

    #[test]
    fn a_reorg_removing_only_our_answer_makes_the_job_ours_to_answer_again() {
        let mut book = TrackedJobs::default();
        let id = JobId([1; 32]);
        let job = TrackedJob::new(5, [1; 32], 2, true);
        let wanted = Arc::clone(&job.wanted);
        book.deliver(id, job);
        book.responded(&id, OTHER, false, 1, 6);
        assert!(book.responded(&id, US, true, 2, 7), "both answered");
        // Block 7 (our answer) is replaced; the job (block 5) and the other answer stay.
        assert_eq!(book.forget_responses_from(7), [id]);
        assert!(!wanted.cancelled(), "our output is wanted again");
        assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::Submit);
        // Were it never answered again, reporting it would slash us.
        assert_eq!(book.close_window(&id), WindowEnd::OursUnanswered);
    }

    #[test]
    fn a_reorg_removing_another_answer_makes_the_job_reportable_again() {
        let mut book = TrackedJobs::default();
        let id = JobId([1; 32]);
        book.deliver(id, tracked(5, 1));
        assert!(book.responded(&id, OTHER, false, 1, 8));
        assert!(book.forget_responses_from(9).is_empty(), "block 8 stays");
        assert_eq!(book.forget_responses_from(8), Vec::<JobId>::new());
        assert_eq!(book.close_window(&id), WindowEnd::Report);
    }
}
