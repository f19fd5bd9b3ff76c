//! `JobScheduler` owns job admission: capacity, the bounded queue, each job's deadline, and the
//! pipeline code → cgroup + port → workerd → outcome.
//!
//! Receives: [`ExecuteJob`] (direct runs); [`ChainJobCreated`], [`ChainJobResponded`],
//! [`ChainReorged`] and [`ServingChanged`] from `ChainListener`. Sends: `FetchCode` to
//! `CodeStore`, `ReserveCgroup` to `CgroupPool`, `ReservePort` to `PortPool`, `RunJob` to
//! `WorkerdRunner`, and a chain job's outcome to `Signer` and `TxSender` (`chain_job`).
//! Chain jobs are run only while the node is registered; each is known once (by id and block
//! hash) in a bounded book, timed from its block's timestamp, and its output is not submitted
//! if a reorg orphaned it meanwhile. At most `capacity` jobs run at once
//! and at most `queue` more wait; beyond that a job is refused at once ([`ScheduleError::Busy`])
//! instead of queueing without bound. Infrastructure faults are retried until the deadline and
//! are never turned into an outcome.

mod chain_job;
mod timeout_report;
mod tracked;

use std::sync::atomic::{AtomicBool, Ordering};
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
use crate::domain::{JobOutcome, TxHash};
use crate::messages::code::{CodeError, FetchCode};
use crate::messages::jobs::{
    ChainJobCreated, ChainJobResponded, ChainReorged, ExecuteJob, Execution, RunJob, RunWarm,
    ScheduleError, ServingChanged,
};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::messages::tx::ResyncNonce;
use crate::workerd::classify::Classified;
use crate::workerd::run::RunSpec;
use crate::workerd::warm::WarmJob;
pub use chain_job::ChainLinks;
use chain_job::OutputJob;
use tracked::{chain_timing, Delivery, RunVerdict, TrackedJob, TrackedJobs, WindowEnd};

/// Longest a timeout watch waits; beyond it a deadline is treated as never expiring.
const MAX_WATCH: Duration = Duration::from_secs(30 * 24 * 3600);
/// Timeout reports are spread over this window so that nodes do not all race to send them.
const REPORT_JITTER: Duration = Duration::from_secs(2);

/// Pause between attempts after an infrastructure fault.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How long past the deadline an actor may take to answer before we call it stuck.
const ACTOR_MARGIN: Duration = Duration::from_secs(1);

/// Where the scheduler sends its work.
#[derive(Debug, Clone)]
pub struct SchedulerLinks {
    /// Code by transaction hash.
    pub code: Recipient<FetchCode>,
    /// Job cgroups.
    pub cgroups: Recipient<ReserveCgroup>,
    /// Loopback listeners.
    pub ports: Recipient<ReservePort>,
    /// Cold workerd runs.
    pub runner: Recipient<RunJob>,
    /// Warm workerd runs (modes `prewarmed` and `isolate`); `None` in `cold` mode.
    pub warm: Option<Recipient<RunWarm>>,
    /// Signing and submission of chain jobs' outputs.
    pub chain: ChainLinks,
}

/// Job admission and pipelines.
#[derive(Debug)]
pub struct JobScheduler {
    links: SchedulerLinks,
    slots: Arc<Semaphore>,
    admitted_limit: usize,
    admitted: usize,
    next_job: u64,
    /// Registered on chain: chain jobs are run only then.
    serving: bool,
    chain_jobs: TrackedJobs,
}

impl JobScheduler {
    /// `capacity` jobs run at once; `queue` more may wait for a slot.
    pub fn new(links: SchedulerLinks, capacity: usize, queue: usize) -> Self {
        Self {
            links,
            slots: Arc::new(Semaphore::new(capacity)),
            admitted_limit: capacity + queue,
            admitted: 0,
            next_job: 0,
            serving: false,
            chain_jobs: TrackedJobs::default(),
        }
    }
}

impl Actor for JobScheduler {
    type Context = Context<Self>;
}

impl JobScheduler {
    /// Admits a job and returns its pipeline, or `None` when the node is full.
    fn admit(&mut self, code_tx: TxHash, input: Vec<u8>, deadline: Duration) -> Option<Job> {
        if self.admitted >= self.admitted_limit {
            return None;
        }
        self.admitted += 1;
        self.next_job += 1;
        Some(Job {
            name: format!("job-{}-{}", std::process::id(), self.next_job),
            code_tx,
            input,
            accepted: Instant::now(),
            deadline,
            cancel: None,
        })
    }
}

impl Handler<ExecuteJob> for JobScheduler {
    type Result = ResponseActFuture<Self, Result<Execution, ScheduleError>>;

    fn handle(&mut self, msg: ExecuteJob, _: &mut Context<Self>) -> Self::Result {
        let Some(job) = self.admit(msg.code_tx, msg.input, msg.deadline) else {
            return Box::pin(actix::fut::ready(Err(ScheduleError::Busy)));
        };
        let pipeline = run_pipeline(self.links.clone(), Arc::clone(&self.slots), job);
        Box::pin(pipeline.into_actor(self).map(|result, act, _| {
            act.admitted -= 1;
            result
        }))
    }
}

impl Handler<ChainJobCreated> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ChainJobCreated, ctx: &mut Context<Self>) {
        let ChainJobCreated { job, block } = msg;
        let job_id = job.job_id;
        let JobDeadline::Millis(deadline_ms) = job.deadline else {
            return warn!(%job_id, "Deadline beyond 2^64 ms; job not run or watched.");
        };
        let ours = job.selected.contains(&self.links.chain.enclave);
        let record = TrackedJob::new(block.number, block.hash, job.selected.len(), ours);
        let cancel = Arc::clone(&record.cancel);
        match self.chain_jobs.deliver(job_id, record) {
            (Delivery::Duplicate, _) => return,
            (Delivery::Full, _) => {
                return warn!(%job_id, "Too many chain jobs tracked; job not run or watched.")
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
            return warn!(%job_id, "Selected while not registered; job not run.");
        }
        if !timing.worth_running {
            return warn!(%job_id, block = block.number, "Selected, but the answer window has closed; job not run.");
        }
        let deadline = Duration::from_millis(deadline_ms);
        let Some(mut admitted) = self.admit(job.code_tx, job.inputs, deadline) else {
            return warn!(%job_id, "Node full; chain job not run.");
        };
        admitted.cancel = Some(Arc::clone(&cancel));
        info!(%job_id, code_tx = %job.code_tx, deadline_ms, block = block.number, "Selected for a chain job.");
        let pipeline = run_pipeline(self.links.clone(), Arc::clone(&self.slots), admitted);
        ctx.spawn(pipeline.into_actor(self).map(move |result, act, ctx| {
            act.admitted -= 1;
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
                    let output = OutputJob {
                        job_id,
                        anchor: JobAnchor {
                            number: block.number,
                            hash: block.hash,
                        },
                        execution,
                        answer_by,
                        cancel,
                    };
                    ctx.spawn(chain_job::report_output(links, output).into_actor(act));
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
        self.chain_jobs
            .responded(&msg.job_id, by_us, msg.output_count);
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
    }
}

impl Handler<ServingChanged> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ServingChanged, _: &mut Context<Self>) {
        if self.serving != msg.serving {
            info!(
                serving = msg.serving,
                running = self.admitted,
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
                ctx.spawn(timeout_report::report_timeout(links, job_id).into_actor(act));
            }
            WindowEnd::OursUnanswered => {
                warn!(%job_id, "Our job's window closed without our output on chain; not reporting it (that would slash us).");
            }
        });
        self.chain_jobs.set_watch(job_id, handle);
    }
}

/// One admitted job.
#[derive(Debug)]
struct Job {
    name: String,
    code_tx: TxHash,
    input: Vec<u8>,
    accepted: Instant,
    deadline: Duration,
    /// Chain jobs: set when running is no longer needed (checked before workerd starts).
    cancel: Option<Arc<AtomicBool>>,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|cancel| cancel.load(Ordering::Relaxed))
    }

    fn deadline_at(&self) -> Instant {
        self.accepted + self.deadline
    }

    fn finish(&self, outcome: JobOutcome, output: Vec<u8>) -> Execution {
        let total_time = match outcome {
            JobOutcome::Timeout => self.deadline,
            _ => self.accepted.elapsed().min(self.deadline),
        };
        info!(job = %self.name, code_tx = %self.code_tx, error_code = outcome.error_code(),
            total_ms = total_time.as_millis() as u64, "Job finished.");
        Execution {
            outcome,
            output,
            total_time,
        }
    }
}

async fn run_pipeline(
    links: SchedulerLinks,
    slots: Arc<Semaphore>,
    job: Job,
) -> Result<Execution, ScheduleError> {
    let deadline = job.deadline_at();
    let code = links.code.send(FetchCode {
        code_tx: job.code_tx,
        deadline,
    });
    // `CodeStore` answers by the deadline itself (`Unavailable` if the chain kept failing); the
    // margin only guards against a stuck actor. Neither is the user's timeout.
    let code = match tokio::time::timeout_at(deadline + ACTOR_MARGIN, code).await {
        Err(_) => {
            return Err(ScheduleError::Infrastructure(
                "code store did not answer".into(),
            ))
        }
        Ok(Err(_)) => return Err(ScheduleError::Infrastructure("code store stopped".into())),
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(CodeError::InvalidCodeTx(_)))) => {
            return Ok(job.finish(JobOutcome::InvalidCodeTx, Vec::new()))
        }
        Ok(Ok(Err(CodeError::InvalidCalldata(_)))) => {
            return Ok(job.finish(JobOutcome::InvalidCalldata, Vec::new()))
        }
        Ok(Ok(Err(CodeError::Unavailable))) => {
            warn!(job = %job.name, code_tx = %job.code_tx, "Code transaction unavailable until the deadline.");
            return Err(ScheduleError::Infrastructure(
                "chain RPC unavailable".into(),
            ));
        }
    };
    // No free slot before the deadline is the node's fault, not the user's: no outcome.
    let Ok(Ok(_slot)) = tokio::time::timeout_at(deadline, slots.acquire_owned()).await else {
        warn!(job = %job.name, "No execution slot freed before the deadline.");
        return Err(ScheduleError::Infrastructure(
            "no execution slot before the deadline".into(),
        ));
    };
    if job.cancelled() {
        return Err(ScheduleError::Cancelled);
    }
    loop {
        match attempt(&links, &job, &code, deadline).await {
            Ok(Classified::Outcome(outcome, output)) => return Ok(job.finish(outcome, output)),
            Ok(Classified::Infrastructure(reason)) | Err(reason) => {
                warn!(job = %job.name, reason = %reason, "Job attempt failed; retrying within the deadline.");
                if Instant::now() + RETRY_PAUSE >= deadline {
                    return Err(ScheduleError::Infrastructure(reason.to_string()));
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// One sandboxed run. `Err` carries an infrastructure reason.
async fn attempt(
    links: &SchedulerLinks,
    job: &Job,
    code: &Arc<[u8]>,
    deadline: Instant,
) -> Result<Classified, &'static str> {
    let name = job.name.clone();
    if let Some(warm) = &links.warm {
        let job = WarmJob {
            name,
            code: Arc::clone(code),
            input: job.input.clone(),
            deadline,
        };
        return match warm.send(RunWarm { job }).await {
            Ok(Ok(classified)) => Ok(classified),
            Ok(Err(error)) => {
                warn!(%error, "Warm workerd could not run the job.");
                Err("warm workerd could not be run")
            }
            Err(_) => Err("runner stopped"),
        };
    }
    let cgroup = match links
        .cgroups
        .send(ReserveCgroup {
            job_name: name.clone(),
        })
        .await
    {
        Ok(Ok(lease)) => lease,
        _ => return Err("no job cgroup available"),
    };
    let Ok(Ok(port)) = links.ports.send(ReservePort).await else {
        return Err("no loopback port available");
    };
    let spec = RunSpec {
        name,
        code: Arc::clone(code),
        input: job.input.clone(),
        deadline,
        cgroup_procs: cgroup.procs_files(),
        listener: port.listener,
    };
    match links.runner.send(RunJob { spec, cgroup }).await {
        Ok(Ok(classified)) => Ok(classified),
        Ok(Err(error)) => {
            warn!(job = %job.name, %error, "workerd could not be run.");
            Err("workerd could not be run")
        }
        Err(_) => Err("runner stopped"),
    }
}
