//! `JobScheduler` owns job admission: capacity, the bounded queue, each job's deadline, and the
//! pipeline code → cgroup + port → workerd → outcome.
//!
//! Receives: [`ExecuteJob`] (direct runs), [`ChainJobCreated`] (from `ChainListener`). Sends: `FetchCode` to `CodeStore`, `ReserveCgroup` to `CgroupPool`,
//! `ReservePort` to `PortPool`, `RunJob` to `WorkerdRunner`. At most `capacity` jobs run at once
//! and at most `queue` more wait; beyond that a job is refused at once ([`ScheduleError::Busy`])
//! instead of queueing without bound. Infrastructure faults are retried until the deadline and
//! are never turned into an outcome.

mod chain_job;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseActFuture,
    SpawnHandle, WrapFuture,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::chain::jobs_events::JobDeadline;
use crate::chain::jobs_events::JobId;
use crate::domain::{JobOutcome, TxHash};
use crate::messages::code::{CodeError, FetchCode};
use crate::messages::jobs::{
    ChainJobCreated, ChainJobResponded, ExecuteJob, Execution, RunJob, ScheduleError,
};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::workerd::classify::Classified;
use crate::workerd::run::RunSpec;
pub use chain_job::ChainLinks;

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
    /// workerd runs.
    pub runner: Recipient<RunJob>,
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
    watches: HashMap<JobId, TimeoutWatch>,
}

/// A job that may time out: reported unless every selected executor answers first.
#[derive(Debug)]
struct TimeoutWatch {
    selected: usize,
    handle: SpawnHandle,
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
            watches: HashMap::new(),
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
        let job = msg.job;
        let links = self.links.chain.clone();
        let JobDeadline::Millis(deadline_ms) = job.deadline else {
            return warn!(job_id = %job.job_id, "Deadline beyond 2^64 ms; job not run or watched.");
        };
        self.watch_timeout(job.job_id, job.selected.len(), deadline_ms, ctx);
        if !job.selected.contains(&links.enclave) {
            return;
        }
        let deadline = Duration::from_millis(deadline_ms);
        let Some(admitted) = self.admit(job.code_tx, job.inputs, deadline) else {
            return warn!(job_id = %job.job_id, "Node full; chain job not run.");
        };
        info!(job_id = %job.job_id, code_tx = %job.code_tx, deadline_ms, "Selected for a chain job.");
        let pipeline = run_pipeline(self.links.clone(), Arc::clone(&self.slots), admitted);
        let job_id = job.job_id;
        ctx.spawn(pipeline.into_actor(self).map(move |result, act, ctx| {
            act.admitted -= 1;
            match result {
                Ok(execution) => {
                    ctx.spawn(chain_job::report_output(links, job_id, execution).into_actor(act));
                }
                Err(error) => warn!(%job_id, %error, "Chain job has no outcome; not submitted."),
            }
        }));
    }
}

impl Handler<ChainJobResponded> for JobScheduler {
    type Result = ();

    fn handle(&mut self, msg: ChainJobResponded, ctx: &mut Context<Self>) {
        let complete = self
            .watches
            .get(&msg.job_id)
            .is_some_and(|watch| usize::from(msg.output_count) >= watch.selected);
        if let Some(watch) = complete.then(|| self.watches.remove(&msg.job_id)).flatten() {
            ctx.cancel_future(watch.handle);
        }
    }
}

impl JobScheduler {
    /// After deadline + buffer (+ jitter), reports the job unless every output arrived first.
    fn watch_timeout(
        &mut self,
        job_id: JobId,
        selected: usize,
        deadline_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        let links = self.links.chain.clone();
        let jitter = REPORT_JITTER.mul_f64(rand::random::<f64>());
        let due = Duration::from_millis(deadline_ms) + links.execution_buffer + jitter;
        if due > MAX_WATCH || self.watches.contains_key(&job_id) {
            return;
        }
        let handle = ctx.run_later(due, move |act, ctx| {
            act.watches.remove(&job_id);
            ctx.spawn(chain_job::report_timeout(links, job_id).into_actor(act));
        });
        self.watches
            .insert(job_id, TimeoutWatch { selected, handle });
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
}

impl Job {
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
