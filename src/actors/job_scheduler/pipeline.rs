//! One admitted job's pipeline: code → slot → workerd process → outcome, with the two rules
//! that keep a signed outcome true (ARCHITECTURE.md, "Invariants"):
//!
//! - time before the user's code starts is never the user's: fetching the code and waiting for a
//!   slot are bounded by the job's [`Waits`], and running out of them is an infrastructure
//!   fault (never signed); the user's budget is counted by the process from the moment the job
//!   is handed to it;
//! - only positive evidence of our own fault is retried, at most once: a spawn or launcher
//!   failure, a broken loader, a process that died by a signal we did not send. A second crash
//!   of the same job is the user's abnormal end (outcome 7).
//!
//! Receives a [`Job`] from the scheduler; sends `FetchCode` and `RunInProcess`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn};

use super::wanted::Wanted;
use super::SchedulerLinks;
use crate::domain::{JobOutcome, TxHash};
use crate::messages::code::{CodeError, FetchCode, FetchedCode};
use crate::messages::jobs::{Execution, RunInProcess, RunReport, ScheduleError};
use crate::metrics::{Fault, Phase, Source, Unsigned};
use crate::workerd::process::ProcessJob;
use crate::workerd::retry::{self, Step, MAX_RUNS};

/// How long past its bound an actor may take to answer before we call it stuck.
const ACTOR_MARGIN: Duration = Duration::from_secs(1);

/// How long a job may wait before its code starts; all of it is the node's time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waits {
    /// The code transaction is waited for (pending, momentarily inconsistent) until then; a
    /// transaction still unknown then is outcome 1.
    pub(super) code_until: Instant,
    /// A slot is waited for until then; none by then is an infrastructure fault.
    pub(super) slot_until: Instant,
    /// Chain jobs: when the answer window closes (no output is included after it). A run still
    /// going then is stopped, and has no outcome.
    pub(super) hard_stop: Option<Instant>,
}

/// One admitted job.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) name: String,
    pub(super) code_tx: TxHash,
    /// Byte for byte as received; the same bytes are hashed and signed.
    pub(super) input: Arc<[u8]>,
    pub(super) accepted: Instant,
    /// The user's execution budget (the job's deadline).
    pub(super) budget: Duration,
    pub(super) waits: Waits,
    pub(super) source: Source,
    /// Chain jobs: set when running is no longer needed (checked before workerd starts).
    pub(super) cancel: Option<Arc<Wanted>>,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|wanted| wanted.cancelled())
    }

    /// The execution to sign; `total_time` is the user's time, capped at the budget (equal to
    /// it on a timeout).
    fn finish(
        &self,
        links: &SchedulerLinks,
        outcome: JobOutcome,
        output: Vec<u8>,
        user_time: Duration,
    ) -> Execution {
        links.metrics.ended(self.source, outcome.error_code());
        links
            .metrics
            .phase(Phase::EndToEnd, self.accepted.elapsed());
        let total_time = match outcome {
            JobOutcome::Timeout => self.budget,
            _ => user_time.min(self.budget),
        };
        let (job, code_tx, error_code) = (self.name.clone(), self.code_tx, outcome.error_code());
        let total_ms = total_time.as_millis() as u64;
        let waited_ms = (self.accepted.elapsed().saturating_sub(user_time)).as_millis() as u64;
        // Written once the job's answer is on its way: on the actors' thread the line's
        // formatting and write (≈ 50 µs, measured 2026-12-03) came before its signature.
        actix::spawn(async move {
            tokio::task::yield_now().await;
            info!(%job, %code_tx, error_code, total_ms, waited_ms, "Job finished.");
        });
        Execution {
            outcome,
            output,
            total_time,
        }
    }

    /// A verdict on the code before it ran: the time spent looking, capped at the budget.
    fn verdict(&self, links: &SchedulerLinks, outcome: JobOutcome) -> Execution {
        self.finish(links, outcome, Vec::new(), self.accepted.elapsed())
    }

    fn unsigned(&self, links: &SchedulerLinks, cause: Unsigned, reason: String) -> ScheduleError {
        links.metrics.unsigned(self.source, cause);
        warn!(job = %self.name, code_tx = %self.code_tx, ?cause, %reason, "Job has no outcome; nothing is signed.");
        ScheduleError::Infrastructure(reason)
    }
}

/// Runs a job to its outcome, or to an infrastructure fault that is never signed.
pub(super) async fn run_pipeline(
    links: SchedulerLinks,
    slots: Arc<Semaphore>,
    job: Job,
) -> Result<Execution, ScheduleError> {
    let fetching = Instant::now();
    let code = fetch_code(&links, &job).await;
    let hit = matches!(&code, Ok(fetched) if fetched.cached);
    let phase = if hit {
        Phase::CodeFetchHit
    } else {
        Phase::CodeFetchMiss
    };
    links.metrics.phase(phase, fetching.elapsed());
    let code = match code {
        Ok(fetched) => fetched.code,
        Err(Fetched::Verdict(outcome)) => return Ok(job.verdict(&links, outcome)),
        Err(Fetched::Unavailable(reason)) => {
            return Err(job.unsigned(&links, Unsigned::CodeUnavailable, reason.into()))
        }
    };
    let waiting = Instant::now();
    let slot = tokio::time::timeout_at(job.waits.slot_until, slots.acquire_owned()).await;
    links.metrics.phase(Phase::SlotWait, waiting.elapsed());
    let Ok(Ok(_slot)) = slot else {
        let cause = match job.waits.hard_stop {
            Some(_) => Unsigned::WindowClosed,
            None => Unsigned::NoSlot,
        };
        return Err(job.unsigned(
            &links,
            cause,
            "no execution slot before the job's waiting bound".into(),
        ));
    };
    if job.cancelled() {
        return Err(ScheduleError::Cancelled);
    }
    let mut last_fault = String::new();
    for run in 1..=MAX_RUNS {
        if job
            .waits
            .hard_stop
            .is_some_and(|stop| Instant::now() >= stop)
        {
            return Err(job.unsigned(
                &links,
                Unsigned::WindowClosed,
                "the answer window closed before the job could run".into(),
            ));
        }
        match retry::after_run(&job.name, run, run_once(&links, &job, &code).await) {
            Step::Done {
                outcome,
                output,
                user_time,
                ..
            } => return Ok(job.finish(&links, outcome, output, user_time)),
            Step::Fault(reason) => last_fault = reason,
        }
        if run < MAX_RUNS {
            links.metrics.retried();
            warn!(job = %job.name, reason = %last_fault, "Our fault, not the job's: running it once more in a fresh process.");
        }
    }
    let window_closed = job
        .waits
        .hard_stop
        .is_some_and(|stop| Instant::now() >= stop);
    let cause = if window_closed {
        Unsigned::WindowClosed
    } else {
        Unsigned::Infrastructure
    };
    Err(job.unsigned(&links, cause, last_fault))
}

/// Why there is no code to run.
enum Fetched {
    /// The chain's definitive answer: an outcome.
    Verdict(JobOutcome),
    /// No answer in time: never an outcome.
    Unavailable(&'static str),
}

async fn fetch_code(links: &SchedulerLinks, job: &Job) -> Result<FetchedCode, Fetched> {
    let until = job.waits.code_until;
    let code = links.code.send(FetchCode {
        code_tx: job.code_tx,
        deadline: until,
    });
    // `CodeStore` answers by the bound itself; the margin only guards against a stuck actor.
    match tokio::time::timeout_at(until + ACTOR_MARGIN, code).await {
        Err(_) => Err(Fetched::Unavailable("code store did not answer")),
        Ok(Err(_)) => Err(Fetched::Unavailable("code store stopped")),
        Ok(Ok(Ok(code))) => Ok(code),
        Ok(Ok(Err(CodeError::InvalidCodeTx(_)))) => {
            Err(Fetched::Verdict(JobOutcome::InvalidCodeTx))
        }
        Ok(Ok(Err(CodeError::InvalidCalldata(_)))) => {
            Err(Fetched::Verdict(JobOutcome::InvalidCalldata))
        }
        Ok(Ok(Err(CodeError::Unavailable))) => Err(Fetched::Unavailable(
            "chain RPC unavailable for the code transaction",
        )),
    }
}

/// One sandboxed run. `Err` carries an infrastructure reason.
async fn run_once(
    links: &SchedulerLinks,
    job: &Job,
    code: &Arc<[u8]>,
) -> Result<RunReport, String> {
    let run = RunInProcess {
        job: ProcessJob {
            name: job.name.clone(),
            code: Arc::clone(code),
            input: Arc::clone(&job.input),
            budget: job.budget,
            hard_stop: job.waits.hard_stop,
        },
    };
    let started = Instant::now();
    match links.runner.send(run).await {
        Ok(Ok(report)) => {
            let metrics = &links.metrics;
            let process = match report.acquired.warm {
                true => Phase::ProcessWarm,
                false => Phase::ProcessStart,
            };
            metrics.phase(process, report.acquired.took);
            metrics.phase(Phase::UserExecution, report.user_time);
            let settle = started
                .elapsed()
                .saturating_sub(report.acquired.took + report.user_time);
            metrics.phase(Phase::Settle, settle);
            let window_closed = job
                .waits
                .hard_stop
                .is_some_and(|stop| Instant::now() >= stop);
            if let Some(fault) = Fault::of_classified(&report.classified) {
                if !window_closed {
                    metrics.fault(fault);
                }
            }
            Ok(report)
        }
        Ok(Err(error)) => {
            links.metrics.fault(Fault::from(&error));
            Err(format!("workerd could not be run: {error}"))
        }
        Err(_) => {
            links.metrics.fault(Fault::RunnerStopped);
            Err("runner stopped".into())
        }
    }
}
