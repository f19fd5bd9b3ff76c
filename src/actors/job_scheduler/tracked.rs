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
    /// `executor_chain_jobs_tracked`, kept equal to the book's size.
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl TrackedJobs {
    /// An empty book that keeps `gauge` at its size.
    pub(super) fn counted(gauge: prometheus_client::metrics::gauge::Gauge) -> Self {
        Self {
            jobs: HashMap::new(),
            gauge,
        }
    }

    fn count(&self) {
        self.gauge
            .set(i64::try_from(self.jobs.len()).unwrap_or(i64::MAX));
    }

    /// Classifies a delivery and records a new one. A job known from another block (re-included
    /// after a reorg we did not see) replaces the old record; the caller cancels its watch.
    pub(super) fn deliver(
        &mut self,
        job_id: JobId,
        job: TrackedJob,
    ) -> (Delivery, Option<TrackedJob>) {
        let delivery = match self.jobs.get(&job_id) {
            Some(known) if known.block_hash == job.block_hash => (Delivery::Duplicate, None),
            Some(_) => (Delivery::New, self.jobs.insert(job_id, job)),
            None if self.jobs.len() >= MAX_TRACKED_JOBS => (Delivery::Full, None),
            None => (Delivery::New, self.jobs.insert(job_id, job)),
        };
        self.count();
        delivery
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
        match self.remove(job_id) {
            None => WindowEnd::Nothing,
            Some(job) if job.complete => WindowEnd::Nothing,
            Some(job) if job.ours && !job.answered_by_us => WindowEnd::OursUnanswered,
            Some(_) => WindowEnd::Report,
        }
    }

    /// Forgets a job (answered by everyone, reported, or expired).
    pub(super) fn remove(&mut self, job_id: &JobId) -> Option<TrackedJob> {
        let removed = self.jobs.remove(job_id);
        self.count();
        removed
    }

    /// Forgets every job created in block `fork` or later, returning them.
    pub(super) fn orphan_from(&mut self, fork: u64) -> Vec<(JobId, TrackedJob)> {
        let orphaned: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.block_number >= fork)
            .map(|(id, _)| *id)
            .collect();
        let removed = orphaned
            .into_iter()
            .filter_map(|id| self.jobs.remove(&id).map(|job| (id, job)))
            .collect();
        self.count();
        removed
    }
}

#[cfg(test)]
mod tests;
