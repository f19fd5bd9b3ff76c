//! `JobScheduler` owns job admission: capacity, the bounded queue, each job's deadline, and the
//! pipeline code → cgroup + port → workerd → outcome.
//!
//! Receives: [`ExecuteJob`]. Sends: `FetchCode` to `CodeStore`, `ReserveCgroup` to `CgroupPool`,
//! `ReservePort` to `PortPool`, `RunJob` to `WorkerdRunner`. At most `capacity` jobs run at once
//! and at most `queue` more wait; beyond that a job is refused at once ([`ScheduleError::Busy`])
//! instead of queueing without bound. Infrastructure faults are retried until the deadline and
//! are never turned into an outcome.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, Context, Handler, Recipient, ResponseActFuture, WrapFuture};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::domain::{JobOutcome, TxHash};
use crate::messages::code::{CodeError, FetchCode};
use crate::messages::jobs::{ExecuteJob, Execution, RunJob, ScheduleError};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::workerd::classify::Classified;
use crate::workerd::run::RunSpec;

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
}

/// Job admission and pipelines.
#[derive(Debug)]
pub struct JobScheduler {
    links: SchedulerLinks,
    slots: Arc<Semaphore>,
    admitted_limit: usize,
    admitted: usize,
    next_job: u64,
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
        }
    }
}

impl Actor for JobScheduler {
    type Context = Context<Self>;
}

impl Handler<ExecuteJob> for JobScheduler {
    type Result = ResponseActFuture<Self, Result<Execution, ScheduleError>>;

    fn handle(&mut self, msg: ExecuteJob, _: &mut Context<Self>) -> Self::Result {
        if self.admitted >= self.admitted_limit {
            return Box::pin(actix::fut::ready(Err(ScheduleError::Busy)));
        }
        self.admitted += 1;
        self.next_job += 1;
        let job = Job {
            name: format!("job-{}-{}", std::process::id(), self.next_job),
            code_tx: msg.code_tx,
            input: msg.input,
            accepted: Instant::now(),
            deadline: msg.deadline,
        };
        let pipeline = run_pipeline(self.links.clone(), Arc::clone(&self.slots), job);
        Box::pin(pipeline.into_actor(self).map(|result, act, _| {
            act.admitted -= 1;
            result
        }))
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
