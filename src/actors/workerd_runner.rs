//! `WorkerdRunner` runs jobs in workerd processes serving our loader and classifies how they
//! ended, the same way in every execution mode.
//!
//! Receives: [`RunInProcess`]. Sends: through its `starter`, `ReserveCgroup` to `CgroupPool`
//! and `ReservePort` to `PortPool` when it starts a process (cgroup leases return themselves
//! when a process ends). Owns the runner settings, the idle processes and the jobs waiting for
//! one (each process owns its HTTP client: `workerd::run::process_client`). `cold` starts a
//! process per job (proven serving before the job is handed over); the warm modes keep
//! `warm_processes` started and warmed up ahead of need. A job that finds no idle process waits
//! for the next one to be ready (a start under way, or in `isolate` a process passing its
//! after-job check) instead of starting its own, so starts never pile up beyond the jobs that
//! need them; a process started for a waiting job is handed over without its warm-up. A process
//! runs one job at a time; it is ended after its job except in `isolate`, where one that
//! succeeded goes back to the pool until its job quota, once it proved idle and roomy: a check
//! made after the job's answer, never on its path. Runs are concurrent futures; a run never
//! blocks the actor.

mod shutdown;
mod starter;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseActFuture, WrapFuture,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::ExecutionMode;
use crate::messages::jobs::{Acquired, RunInProcess, RunReport};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::metrics::pools::{retire_reason, ProcessCounts};
use crate::metrics::{Metrics, Retired};
use crate::workerd::classify::classify;
use crate::workerd::process::{JobProcess, ProcessRun};
use crate::workerd::quota::JobQuotas;
use crate::workerd::run::{RunError, RunnerSettings};
pub use shutdown::ShutDownPool;
use starter::{ProcessStarter, START_LIMIT};

/// Pause before trying again to start a warm process after a failure.
const RESTART_PAUSE: Duration = Duration::from_secs(1);
/// Longest a job waits for a process: a start, then its warm-up, with a margin.
const WAIT_LIMIT: Duration = Duration::from_secs(2 * START_LIMIT.as_secs() + 1);

/// The pool's shape for the execution mode.
#[derive(Debug)]
pub struct PoolSettings {
    /// `cold`, `prewarmed` or `isolate`.
    pub mode: ExecutionMode,
    /// Idle processes kept ready (0 in `cold`).
    pub idle_target: usize,
    /// Most idle processes kept: after a burst, `isolate` keeps returning processes up to it and
    /// shuts down the rest.
    pub idle_max: usize,
    /// Jobs a process serves before it is replaced (1 but in `isolate`).
    pub jobs_per_process: u32,
    /// Where processes get their cgroup.
    pub cgroups: Recipient<ReserveCgroup>,
    /// Where processes get their listener.
    pub ports: Recipient<ReservePort>,
    /// Where the pool's counts, ended processes and OOM kills are published.
    pub metrics: Arc<Metrics>,
}

/// A job waiting for a process: it gets the next ready one, or the error of a failed start.
type Waiter = oneshot::Sender<Result<JobProcess, RunError>>;

/// How a job gets its process.
enum Acquire {
    /// An idle process, at once (boxed: a process is large, a receiver small).
    Idle(Box<JobProcess>),
    /// The next process ready.
    Waiting(oneshot::Receiver<Result<JobProcess, RunError>>),
}

/// The workerd process runner.
#[derive(Debug)]
pub struct WorkerdRunner {
    settings: RunnerSettings,
    pool: PoolSettings,
    /// Ready processes, the one idle longest first. Jobs take it: workerd finishes some of a
    /// job's cleanup after the answer, and taking the most recently used one instead was not
    /// faster at low load (README, "Where the node's own time went").
    idle: VecDeque<JobProcess>,
    /// Jobs waiting for a process, oldest first.
    waiters: VecDeque<Waiter>,
    /// Starts under way (warm-ups included).
    starting: usize,
    /// Processes running a job or being checked after it (they may come back in `isolate`).
    busy: usize,
    /// Of `busy`: processes being checked after their job, back (or ended) within the ping
    /// limit.
    settling: usize,
    /// `ShutDownPool` arrived: nothing is started or kept any more.
    closing: bool,
    /// Starts and ends under way (`starting` and the processes being ended): a shutdown waits
    /// for them, so a start that finishes after it cannot leave a process or cgroup behind.
    unsettled: Arc<AtomicUsize>,
    starter: Arc<ProcessStarter>,
}

impl WorkerdRunner {
    /// The runner for `pool`'s mode; nothing starts until the actor does.
    pub fn new(settings: RunnerSettings, pool: PoolSettings) -> Self {
        let starter = Arc::new(ProcessStarter {
            settings: settings.clone(),
            cgroups: pool.cgroups.clone(),
            ports: pool.ports.clone(),
            warm_up: pool.mode != ExecutionMode::Cold,
            quotas: JobQuotas {
                per_process: pool.jobs_per_process,
                first_generation: pool.idle_target,
            },
            started: AtomicU64::new(0),
        });
        Self {
            settings,
            pool,
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            starting: 0,
            busy: 0,
            settling: 0,
            closing: false,
            unsettled: Arc::new(AtomicUsize::new(0)),
            starter,
        }
    }

    /// Processes that count against the target: in `isolate` busy ones come back.
    fn pooled(&self) -> usize {
        let returning = match self.pool.mode {
            ExecutionMode::Isolate => self.busy,
            _ => 0,
        };
        self.idle.len() + self.starting + returning
    }

    /// Publishes the pool's counts; called after each change of them.
    fn publish(&self) {
        self.pool.metrics.pools().processes(ProcessCounts {
            idle: self.idle.len(),
            busy: self.busy,
            starting: self.starting,
            idle_target: self.pool.idle_target,
        });
    }

    /// Starts processes until the pool reaches its target and every waiting job has a process
    /// on its way (a start, or one being checked after its job).
    fn refill(&mut self, ctx: &mut Context<Self>) {
        // A job that stopped waiting (its bound passed) needs nothing any more.
        self.waiters.retain(|waiter| !waiter.is_closed());
        while !self.closing
            && (self.pooled() < self.pool.idle_target
                || self.starting + self.settling < self.waiters.len())
        {
            self.starting += 1;
            self.unsettled.fetch_add(1, Ordering::Relaxed);
            let starter = Arc::clone(&self.starter);
            let start = async move {
                // A start begins when a job takes an idle process: the job's request goes out
                // first, the start's messages to the pools after it.
                tokio::task::yield_now().await;
                starter.start_serving().await
            };
            ctx.spawn(
                start
                    .into_actor(self)
                    .map(|started, act, ctx| act.serving(started, ctx)),
            );
        }
        self.publish();
    }

    /// A start reached serving: a waiting job gets it at once (a job is waiting, so the
    /// warm-up would only delay it); otherwise it is warmed up first.
    fn serving(&mut self, started: Result<JobProcess, RunError>, ctx: &mut Context<Self>) {
        let process = match started {
            Ok(process) => process,
            Err(error) => return self.start_failed(error, ctx),
        };
        let waiting = self.waiters.iter().any(|waiter| !waiter.is_closed());
        if self.closing || waiting || !self.starter.warm_up {
            self.start_ended();
            return self.offer(process, ctx);
        }
        let starter = Arc::clone(&self.starter);
        let warm = async move { starter.warm_up(process).await };
        ctx.spawn(warm.into_actor(self).map(|warmed, act, ctx| match warmed {
            Ok(process) => {
                act.start_ended();
                act.offer(process, ctx);
            }
            Err(error) => act.start_failed(error, ctx),
        }));
    }

    /// A start reached its end (a process to offer, or a failure).
    fn start_ended(&mut self) {
        self.starting -= 1;
        self.unsettled.fetch_sub(1, Ordering::Relaxed);
    }

    /// A start failed: a waiting job learns it (its pipeline decides about a retry); otherwise
    /// the pool tries again shortly.
    fn start_failed(&mut self, mut error: RunError, ctx: &mut Context<Self>) {
        self.start_ended();
        if self.closing {
            debug!(%error, "Start ended by the pool's shutdown.");
            return;
        }
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(Err(error)) {
                Ok(()) => return self.refill(ctx),
                Err(Err(unsent)) => error = unsent,
                Err(Ok(_)) => return,
            }
        }
        warn!(%error, "Cannot start a workerd process; retrying shortly.");
        ctx.run_later(RESTART_PAUSE, |act, ctx| act.refill(ctx));
    }

    /// Hands a ready process to the oldest waiting job, or keeps it idle, or ends it.
    fn offer(&mut self, mut process: JobProcess, ctx: &mut Context<Self>) {
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(Ok(process)) {
                Ok(()) => return,
                Err(Ok(unsent)) => process = unsent,
                Err(Err(_)) => return,
            }
        }
        if !self.closing && self.idle.len() < self.pool.idle_max {
            self.idle.push_back(process);
            self.publish();
        } else {
            // Fit to serve, but not wanted (pool full, or shutting down).
            self.end(process, true, ctx);
        }
    }

    /// After a job: a reuse candidate is checked (off the job's path) and then offered again;
    /// anything else is ended. The pool is topped up either way.
    fn settle(&mut self, process: JobProcess, candidate: bool, ctx: &mut Context<Self>) {
        if !candidate || self.closing {
            self.busy = self.busy.saturating_sub(1);
            self.end(process, false, ctx);
            return self.refill(ctx);
        }
        self.settling += 1;
        let recycle_above = self.settings.memory_limit_bytes / 2;
        let check = async move {
            // Spawned from the run's end, the check would start (a cgroup read, the ping's
            // send) in this same poll, before the scheduler on this thread saw the answer.
            tokio::task::yield_now().await;
            let fit = process.still_fit(recycle_above).await;
            (process, fit)
        };
        ctx.spawn(check.into_actor(self).map(|(process, fit), act, ctx| {
            act.settling -= 1;
            act.busy = act.busy.saturating_sub(1);
            let wanted = act.waiters.iter().any(|waiter| !waiter.is_closed())
                || act.idle.len() + act.busy < act.pool.idle_max;
            if fit && wanted && !act.closing {
                act.offer(process, ctx);
            } else {
                act.end(process, fit, ctx);
            }
            act.refill(ctx);
        }));
    }

    /// Ends a process in the background (kill, reap, files, cgroup).
    fn end(&self, process: JobProcess, reusable: bool, ctx: &mut Context<Self>) {
        let reason = if self.closing {
            Retired::Shutdown
        } else {
            retire_reason(process.jobs_served(), process.job_quota(), reusable)
        };
        self.pool.metrics.pools().retired(reason);
        self.publish();
        let name = process.name().to_owned();
        let unsettled = Arc::clone(&self.unsettled);
        unsettled.fetch_add(1, Ordering::Relaxed);
        ctx.spawn(
            async move {
                let stderr = process.shut_down().await;
                unsettled.fetch_sub(1, Ordering::Relaxed);
                debug!(process = %name, reusable, stderr = %stderr.escape_debug(), "workerd process ended.");
            }
            .into_actor(self),
        );
    }
}

impl Actor for WorkerdRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refill(ctx);
    }
}

impl Handler<RunInProcess> for WorkerdRunner {
    type Result = ResponseActFuture<Self, Result<RunReport, RunError>>;

    fn handle(&mut self, msg: RunInProcess, ctx: &mut Context<Self>) -> Self::Result {
        let asked = Instant::now();
        self.busy += 1;
        let acquire = match self.idle.pop_front() {
            Some(process) => Acquire::Idle(Box::new(process)),
            None => {
                let (waiter, ready) = oneshot::channel();
                self.waiters.push_back(waiter);
                Acquire::Waiting(ready)
            }
        };
        self.refill(ctx);
        let starter = Arc::clone(&self.starter);
        let cap = self.settings.max_output_bytes;
        let isolate = self.pool.mode == ExecutionMode::Isolate;
        let metrics = Arc::clone(&self.pool.metrics);
        let run = async move {
            let (warm, mut process) = match acquire {
                Acquire::Idle(process) => (true, *process),
                Acquire::Waiting(ready) => match tokio::time::timeout(WAIT_LIMIT, ready).await {
                    Ok(Ok(Ok(process))) => (false, process),
                    Ok(Ok(Err(error))) => return Err(error),
                    _ => return Err(RunError::NoResource("process")),
                },
            };
            let acquired = Acquired {
                warm,
                took: asked.elapsed(),
            };
            let serve_again =
                |process: &JobProcess| isolate && process.jobs_served() + 1 < process.job_quota();
            let name = msg.job.name.clone();
            let again = serve_again(&process);
            let mut run: ProcessRun = process.run(msg.job.clone(), cap, again).await;
            if run.oom_killed {
                metrics.pools().oom_killed();
            }
            if run.oom_killed && run.reused {
                metrics.pools().retired(Retired::OomReused);
                // Not proof against this job: earlier jobs' memory may still have been held.
                // The verdict comes from a process that runs nothing else.
                warn!(job = %name, process = %process.name(), "OOM in a reused process; running the job again in a fresh one.");
                let _ = process.shut_down().await;
                process = starter.start().await?;
                let again = serve_again(&process);
                run = process.run(msg.job, cap, again).await;
                if run.oom_killed {
                    metrics.pools().oom_killed();
                }
            }
            let classified = classify(run.evidence, run.oom_killed);
            debug!(job = %name, process = %process.name(), ?classified, "Job run ended.");
            let report = RunReport {
                classified,
                user_time: run.user_time,
                acquired,
                peak_memory: run.peak_memory,
            };
            Ok((process, run.reuse_candidate, report))
        };
        Box::pin(run.into_actor(self).map(|result, act, ctx| match result {
            Ok((process, candidate, report)) => {
                act.settle(process, candidate, ctx);
                Ok(report)
            }
            Err(error) => {
                act.busy = act.busy.saturating_sub(1);
                act.refill(ctx);
                Err(error)
            }
        }))
    }
}
