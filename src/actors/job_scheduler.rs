//! `JobScheduler` owns job admission: the chain's and the direct route's slots, the bounded
//! direct queue, each job's budget and waiting bounds, and the pipeline code → workerd process
//! → outcome (`pipeline`).
//!
//! Receives: [`ExecuteJob`] (direct runs); [`ChainJobCreated`], [`ChainJobResponded`],
//! [`ChainReorged`] and [`ServingChanged`] from `ChainListener`. Sends: `FetchCode` to
//! `CodeStore`, `RunInProcess` to `WorkerdRunner`, and a chain job's outcome to `Signer` and
//! `TxSender` (`chain_job`).
//! Chain jobs have `job_capacity` slots of their own (what the node announced on chain), so
//! direct-run traffic can never starve a job the contract assigned; they run only while the
//! node is registered; each is known once (by id and block hash) in a bounded book, timed from
//! its block's timestamp, and its output is not submitted if a reorg orphaned it meanwhile.
//! Direct runs have `direct_run_capacity` slots and at most `queue` more wait; beyond that a
//! run is refused at once ([`ScheduleError::Busy`]) instead of queueing without bound.

mod chain_job;
mod load;
mod pipeline;
mod receipt;
mod timeout_report;
mod tracked;
mod wanted;

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseActFuture, WrapFuture,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::actors::node_setup::now_unix_ms;
use crate::chain::jobs_events::JobDeadline;
use crate::chain::jobs_events::JobId;
use crate::chain::submit::JobAnchor;
use crate::messages::code::FetchCode;
use crate::messages::jobs::{
    ChainJobCreated, ChainJobResponded, ChainReorged, DirectRun, ExecuteJob, RunInProcess,
    ScheduleError, ServingChanged,
};
use crate::messages::tx::ResyncNonce;
use crate::metrics::{Metrics, Phase, Refusal, Source};
pub use chain_job::ChainLinks;
use chain_job::OutputJob;
use load::OutputsInFlight;
pub use load::{LoadSnapshot, SchedulerLoad};
use pipeline::{run_pipeline, Job, Waits};
pub use receipt::ReceiptLinks;
use tracked::{chain_timing, Delivery, RunVerdict, TrackedJob, TrackedJobs, WindowEnd};

/// Longest a timeout watch waits; beyond it a deadline is treated as never expiring.
const MAX_WATCH: Duration = Duration::from_secs(30 * 24 * 3600);
/// Timeout reports are spread over this window so that nodes do not all race to send them.
const REPORT_JITTER: Duration = Duration::from_secs(2);

/// Where the scheduler sends its work.
#[derive(Debug, Clone)]
pub struct SchedulerLinks {
    /// Code by transaction hash.
    pub code: Recipient<FetchCode>,
    /// Runs in workerd processes.
    pub runner: Recipient<RunInProcess>,
    /// Where job ends are counted.
    pub metrics: Arc<Metrics>,
    /// Signing and submission of chain jobs' outputs.
    pub chain: ChainLinks,
    /// Signing of direct runs' receipts.
    pub receipts: ReceiptLinks,
}

/// How many jobs run at once, by source.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Chain jobs: the `job_capacity` announced on chain, reserved for them.
    pub chain: usize,
    /// Direct runs (`direct_run_capacity`).
    pub direct: usize,
    /// Direct runs that may wait for a slot (`job_queue_capacity`).
    pub direct_queue: usize,
    /// Longest a direct run waits for its slot before it is refused (`direct_run_queue_timeout_ms`).
    pub direct_queue_timeout: Duration,
}

/// Job admission and pipelines.
#[derive(Debug)]
pub struct JobScheduler {
    links: SchedulerLinks,
    chain_slots: Arc<Semaphore>,
    direct_slots: Arc<Semaphore>,
    direct_queue_timeout: Duration,
    /// Direct runs admitted, chain jobs running and reports in flight, shared with readers.
    load: SchedulerLoad,
    /// Output senders alive, for the count of outputs not on chain yet.
    outputs: OutputsInFlight,
    next_job: u64,
    /// Registered on chain: chain jobs are run only then.
    serving: bool,
    chain_jobs: TrackedJobs,
}

impl JobScheduler {
    /// Slots and the direct queue as `capacity` says.
    pub fn new(links: SchedulerLinks, capacity: Capacity) -> Self {
        let tracked = links.metrics.chain.jobs_tracked();
        let direct_slots = Arc::new(Semaphore::new(capacity.direct));
        let direct_limit = capacity.direct + capacity.direct_queue;
        Self {
            links,
            chain_slots: Arc::new(Semaphore::new(capacity.chain)),
            load: SchedulerLoad::new(Arc::clone(&direct_slots), capacity.direct, direct_limit),
            direct_slots,
            outputs: OutputsInFlight::default(),
            direct_queue_timeout: capacity.direct_queue_timeout,
            next_job: 0,
            serving: false,
            chain_jobs: TrackedJobs::counted(tracked),
        }
    }

    /// A handle on the live counts, for readers off the actor (agent port, `/ready`, drain).
    pub fn load(&self) -> SchedulerLoad {
        self.load.clone()
    }

    fn job_name(&mut self) -> String {
        self.next_job += 1;
        format!("job-{}-{}", std::process::id(), self.next_job)
    }
}

impl Actor for JobScheduler {
    type Context = Context<Self>;
}

impl Handler<ExecuteJob> for JobScheduler {
    type Result = ResponseActFuture<Self, Result<DirectRun, ScheduleError>>;

    fn handle(&mut self, msg: ExecuteJob, _: &mut Context<Self>) -> Self::Result {
        if !self.load.admit_direct() {
            self.links.metrics.refused(Source::Direct, Refusal::Busy);
            return Box::pin(actix::fut::ready(Err(ScheduleError::Busy)));
        }
        let accepted = Instant::now();
        let metrics = &self.links.metrics;
        metrics.accepted(Source::Direct);
        metrics.phase(Phase::AdmissionWait, accepted.duration_since(msg.sent));
        let job = Job {
            name: self.job_name(),
            code_tx: msg.code_tx,
            input: msg.input.into(),
            accepted,
            budget: msg.deadline,
            waits: Waits {
                // "Unknown after the deadline" is a verdict for a direct run (outcome 1).
                code_until: accepted + msg.deadline,
                slot_until: accepted + self.direct_queue_timeout,
                hard_stop: None,
            },
            source: Source::Direct,
            cancel: None,
        };
        let links = self.links.clone();
        let slots = Arc::clone(&self.direct_slots);
        let (code_tx, input) = (job.code_tx, Arc::clone(&job.input));
        let signed = async move {
            let execution = run_pipeline(links.clone(), slots, job).await?;
            receipt::sign_receipt(&links.receipts, &links.metrics, code_tx, &input, execution).await
        };
        Box::pin(signed.into_actor(self).map(|result, act, _| {
            act.load.direct_done();
            result
        }))
    }
}

impl Handler<ChainJobCreated> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ChainJobCreated, ctx: &mut Context<Self>) {
        let ChainJobCreated { job, block, seen } = msg;
        let job_id = job.job_id;
        let JobDeadline::Millis(deadline_ms) = job.deadline else {
            return warn!(%job_id, "Deadline beyond 2^64 ms; job not run or watched.");
        };
        let ours = job.selected.contains(&self.links.chain.enclave);
        let record = TrackedJob::new(block.number, block.hash, job.selected.len(), ours);
        let wanted = Arc::clone(&record.wanted);
        match self.chain_jobs.deliver(job_id, record) {
            (Delivery::Duplicate, _) => return,
            (Delivery::Full, _) => {
                if ours {
                    self.links.metrics.refused(Source::Chain, Refusal::BookFull);
                }
                return warn!(%job_id, "Too many chain jobs tracked; job not run or watched.");
            }
            (Delivery::New, replaced) => {
                if let Some(old) = replaced {
                    old.cancel();
                    if let Some(watch) = old.watch {
                        ctx.cancel_future(watch);
                    }
                }
            }
        }
        // The execution start is the block's timestamp, not when we heard of it.
        let Some(start) = block.timestamp else {
            self.chain_jobs.remove(&job_id);
            return warn!(%job_id, block = block.number, "Block of the job is gone (reorg); not run.");
        };
        let buffer = self.links.chain.execution_buffer;
        let timing = chain_timing(start, deadline_ms, buffer, now_unix_ms());
        self.watch_timeout(job_id, timing.answer_window, ctx);
        let links = self.links.chain.clone();
        let answer_by = Instant::now() + timing.answer_window;
        if !ours {
            return;
        }
        if !self.serving {
            self.links
                .metrics
                .refused(Source::Chain, Refusal::NotRegistered);
            return warn!(%job_id, "Selected while not registered; job not run.");
        }
        if !timing.worth_running {
            self.links.metrics.refused(Source::Chain, Refusal::TooLate);
            return warn!(%job_id, block = block.number, "Selected, but the answer window has closed; job not run.");
        }
        // The user's budget starts when the code starts; waiting for the code and a slot is
        // ours, bounded by the answer window: past it no output can be included, so a run still
        // going then is stopped and has no outcome. (Whether to start at all keeps a margin:
        // `worth_running`.)
        let hard_stop = answer_by;
        let deadline = Duration::from_millis(deadline_ms);
        let accepted = Instant::now();
        let admitted = Job {
            name: self.job_name(),
            code_tx: job.code_tx,
            input: job.inputs.into(),
            accepted,
            budget: deadline,
            waits: Waits {
                code_until: hard_stop.min(accepted + deadline),
                slot_until: hard_stop,
                hard_stop: Some(hard_stop),
            },
            source: Source::Chain,
            cancel: Some(Arc::clone(&wanted)),
        };
        self.load.chain_started();
        self.links.metrics.accepted(Source::Chain);
        let admission = accepted.duration_since(seen);
        self.links.metrics.phase(Phase::AdmissionWait, admission);
        info!(%job_id, code_tx = %job.code_tx, deadline_ms, block = block.number, "Selected for a chain job.");
        let pipeline = run_pipeline(self.links.clone(), Arc::clone(&self.chain_slots), admitted);
        ctx.spawn(pipeline.into_actor(self).map(move |result, act, ctx| {
            act.load.chain_done();
            match act.chain_jobs.verdict(&job_id, &block.hash) {
                RunVerdict::Submit => {}
                RunVerdict::AlreadyAnswered => {
                    return info!(%job_id, "Our output is already on chain; nothing to submit.")
                }
                RunVerdict::Orphaned => {
                    return warn!(%job_id, block = block.number, "Job's block was replaced (reorg) or its window closed; output not submitted.")
                }
            }
            match result {
                Err(ScheduleError::Cancelled) => {}
                Ok(execution) => {
                    let anchor = JobAnchor {
                        number: block.number,
                        hash: block.hash,
                    };
                    let output = OutputJob {
                        job_id,
                        anchor,
                        execution,
                        answer_by,
                        wanted,
                        metrics: Arc::clone(&act.links.metrics),
                    };
                    let sender = act.outputs.started(Arc::clone(&output.wanted), &act.load);
                    let report = chain_job::report_output(links, output).into_actor(act);
                    ctx.spawn(report.map(move |(), act, _| act.outputs.ended(sender, &act.load)));
                }
                Err(error) => warn!(%job_id, %error, "Chain job has no outcome; not submitted."),
            }
        }));
    }
}

impl Handler<ChainJobResponded> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ChainJobResponded, _: &mut Context<Self>) {
        // The job stays in the book until its window closes, so a re-delivered `JobCreated`
        // (after a reconnect or a restart) is still recognised; the watch then reports nothing.
        let by_us = msg.executor == self.links.chain.enclave;
        self.chain_jobs.responded(
            &msg.job_id,
            msg.executor,
            by_us,
            msg.output_count,
            msg.block_number,
        );
        self.outputs.refresh(&self.load);
    }
}

impl Handler<ChainReorged> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ChainReorged, ctx: &mut Context<Self>) {
        // Our own transactions in the replaced blocks may be gone: the nonce comes from the
        // chain again, and a re-created job is a new job (delivered again, run again).
        self.links.chain.resync.do_send(ResyncNonce);
        for (job_id, job) in self.chain_jobs.orphan_from(msg.fork) {
            warn!(%job_id, block = job.block_number, "Job's block was replaced; forgotten until re-delivered.");
            job.cancel();
            if let Some(watch) = job.watch {
                ctx.cancel_future(watch);
            }
        }
        for job_id in self.chain_jobs.forget_responses_from(msg.fork) {
            warn!(%job_id, fork = msg.fork, "Our output's block was replaced; sending it again within the job's window.");
        }
        self.outputs.refresh(&self.load);
    }
}

impl Handler<ServingChanged> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ServingChanged, _: &mut Context<Self>) {
        if self.serving != msg.serving {
            info!(
                serving = msg.serving,
                running = self.load.snapshot().chain_running,
                "Chain job intake changed; jobs in flight finish."
            );
        }
        self.serving = msg.serving;
    }
}

impl JobScheduler {
    /// When the answer window closes (+ jitter), reports the job unless every output arrived
    /// first or the report would slash us.
    fn watch_timeout(&mut self, job_id: JobId, answer_window: Duration, ctx: &mut Context<Self>) {
        let links = self.links.chain.clone();
        let jitter = REPORT_JITTER.mul_f64(rand::random::<f64>());
        let due = answer_window + jitter;
        if due > MAX_WATCH {
            return;
        }
        let handle = ctx.run_later(due, move |act, ctx| match act.chain_jobs.close_window(&job_id) {
            WindowEnd::Nothing => {}
            WindowEnd::Report => {
                let guard = act.load.report_guard();
                let report = async move {
                    timeout_report::report_timeout(links, job_id).await;
                    drop(guard);
                };
                ctx.spawn(report.into_actor(act));
            }
            WindowEnd::OursUnanswered => {
                warn!(%job_id, "Our job's window closed without our output on chain; not reporting it (that would slash us).");
            }
        });
        self.chain_jobs.set_watch(job_id, handle);
    }
}
