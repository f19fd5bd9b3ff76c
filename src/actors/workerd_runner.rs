//! `WorkerdRunner` runs jobs in workerd processes serving our loader and classifies how they
//! ended, the same way in every execution mode.
//!
//! Receives: [`RunInProcess`]. Sends: `ReserveCgroup` to `CgroupPool` and `ReservePort` to
//! `PortPool` when it starts a process (cgroup leases return themselves when a process ends).
//! Owns the one HTTP client used to talk to every workerd (no client per job), the runner
//! settings and the idle warm processes. `cold` starts a process per job (proven serving before
//! the job is handed over); the warm modes keep `warm_processes` started and warmed up ahead
//! of need. A process runs one job at a time; it is ended after its job except in `isolate`,
//! where one that succeeded and proved idle right after goes back to the pool until its job
//! quota. Runs are concurrent futures; a run never blocks the actor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseActFuture, WrapFuture,
};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::ExecutionMode;
use crate::messages::jobs::{Acquired, RunInProcess, RunReport};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::metrics::pools::{retire_reason, ProcessCounts};
use crate::metrics::{Metrics, Retired};
use crate::workerd::classify::classify;
use crate::workerd::process::{JobProcess, ProcessRun};
use crate::workerd::run::{RunError, RunnerSettings};

/// Pause before trying again to start a warm process after a failure.
const RESTART_PAUSE: Duration = Duration::from_secs(1);
/// Longest a new process may take to serve (and, warm, to answer its warm-up request). This is
/// the node's time, never a job's.
const START_LIMIT: Duration = Duration::from_secs(10);

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

/// What starting a process needs, shared (behind an `Arc`) by the refill and the jobs, so
/// preparing a start costs nothing until one is needed.
#[derive(Debug)]
struct ProcessStarter {
    settings: RunnerSettings,
    client: reqwest::Client,
    cgroups: Recipient<ReserveCgroup>,
    ports: Recipient<ReservePort>,
    warm_up: bool,
    started: AtomicU64,
}

impl ProcessStarter {
    /// Reserves a cgroup and a listener, starts a process and waits for positive evidence that
    /// it serves (and, in the warm modes, for its warm-up answer).
    async fn start(&self) -> Result<JobProcess, RunError> {
        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("workerd-{}-{number}", std::process::id());
        let cgroup = match self
            .cgroups
            .send(ReserveCgroup {
                job_name: name.clone(),
            })
            .await
        {
            Ok(Ok(lease)) => lease,
            _ => return Err(RunError::NoResource("cgroup")),
        };
        let Ok(Ok(port)) = self.ports.send(ReservePort).await else {
            return Err(RunError::NoResource("listener"));
        };
        let mut process = JobProcess::start(&self.settings, name, cgroup, port.listener)?;
        let limit = Instant::now() + START_LIMIT;
        if process.wait_serving(limit).await
            && (!self.warm_up || process.warm_up(&self.client, limit).await)
        {
            return Ok(process);
        }
        let launcher_failed =
            process.exit_code() == Some(i32::from(crate::sandbox::launcher::LAUNCH_FAILED));
        let stderr = process.shut_down().await;
        if launcher_failed {
            return Err(RunError::Launcher { stderr });
        }
        Err(RunError::NotServing { stderr })
    }
}

/// The workerd process runner.
#[derive(Debug)]
pub struct WorkerdRunner {
    settings: RunnerSettings,
    client: reqwest::Client,
    pool: PoolSettings,
    idle: VecDeque<JobProcess>,
    starting: usize,
    /// Processes running a job (they may come back in `isolate`).
    busy: usize,
    starter: Arc<ProcessStarter>,
}

impl WorkerdRunner {
    /// Builds the shared client: no proxy (job traffic never leaves loopback), no redirects, no
    /// idle pool (every job is a new isolate, often a new server).
    pub fn new(settings: RunnerSettings, pool: PoolSettings) -> Result<Self, RunError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|error| RunError::Descriptors(error.to_string()))?;
        let starter = Arc::new(ProcessStarter {
            settings: settings.clone(),
            client: client.clone(),
            cgroups: pool.cgroups.clone(),
            ports: pool.ports.clone(),
            warm_up: pool.mode != ExecutionMode::Cold,
            started: AtomicU64::new(0),
        });
        Ok(Self {
            settings,
            client,
            pool,
            idle: VecDeque::new(),
            starting: 0,
            busy: 0,
            starter,
        })
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

    /// Starts warm processes until the pool reaches its target (and publishes the counts).
    fn refill(&mut self, ctx: &mut Context<Self>) {
        while self.pooled() < self.pool.idle_target {
            self.starting += 1;
            let starter = Arc::clone(&self.starter);
            let start = async move { starter.start().await };
            ctx.spawn(start.into_actor(self).map(|started, act, ctx| {
                act.starting -= 1;
                match started {
                    // Started after the pool's shutdown: nothing must be left behind.
                    Ok(process) if act.pool.idle_target == 0 => {
                        ctx.spawn(
                            async move {
                                let _ = process.shut_down().await;
                            }
                            .into_actor(act),
                        );
                    }
                    Ok(process) => {
                        act.idle.push_back(process);
                        act.publish();
                    }
                    // Shutting down: the start was cut short on purpose.
                    Err(error) if act.pool.idle_target == 0 => {
                        debug!(%error, "Warm start ended by the pool's shutdown.");
                    }
                    Err(error) => {
                        act.publish();
                        warn!(%error, "Cannot start a warm workerd process; retrying shortly.");
                        ctx.run_later(RESTART_PAUSE, |act, ctx| act.refill(ctx));
                    }
                }
            }));
        }
        self.publish();
    }

    /// Puts a process back in the pool or shuts it down, and tops the pool up.
    fn settle(&mut self, process: JobProcess, reusable: bool, ctx: &mut Context<Self>) {
        self.busy = self.busy.saturating_sub(1);
        let keep = reusable
            && process.jobs_served() < self.pool.jobs_per_process
            && self.idle.len() + self.busy < self.pool.idle_max;
        if keep {
            self.idle.push_back(process);
        } else {
            let served = process.jobs_served();
            let reason = retire_reason(served, self.pool.jobs_per_process, reusable);
            self.pool.metrics.pools().retired(reason);
            let name = process.name().to_owned();
            ctx.spawn(
                async move {
                    let stderr = process.shut_down().await;
                    debug!(process = %name, reusable, stderr = %stderr.escape_debug(), "workerd process ended.");
                }
                .into_actor(self),
            );
        }
        self.refill(ctx);
    }

    /// Kills every idle process and waits for each to be reaped and its files removed: a clean
    /// shutdown leaves no process, cgroup or directory behind.
    async fn shut_down_idle(idle: Vec<JobProcess>) {
        futures::future::join_all(idle.into_iter().map(JobProcess::shut_down)).await;
    }
}

impl Actor for WorkerdRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refill(ctx);
    }
}

/// Ends the pool before the node exits; answered once every idle process is gone. Sent by
/// `main` on shutdown.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct ShutDownPool;

impl Handler<ShutDownPool> for WorkerdRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: ShutDownPool, _: &mut Context<Self>) -> Self::Result {
        self.pool.idle_target = 0;
        self.pool.idle_max = 0;
        let idle: Vec<_> = self.idle.drain(..).collect();
        for _ in &idle {
            self.pool.metrics.pools().retired(Retired::Shutdown);
        }
        self.publish();
        Box::pin(Self::shut_down_idle(idle).into_actor(self))
    }
}

impl Handler<RunInProcess> for WorkerdRunner {
    type Result = ResponseActFuture<Self, Result<RunReport, RunError>>;

    fn handle(&mut self, msg: RunInProcess, ctx: &mut Context<Self>) -> Self::Result {
        let idle = self.idle.pop_front();
        self.busy += 1;
        self.refill(ctx);
        let starter = Arc::clone(&self.starter);
        let client = self.client.clone();
        let cap = self.settings.max_output_bytes;
        let recycle_above = self.settings.memory_limit_bytes / 2;
        let isolate = self.pool.mode == ExecutionMode::Isolate;
        let quota = self.pool.jobs_per_process;
        let metrics = Arc::clone(&self.pool.metrics);
        let run = async move {
            let asked = Instant::now();
            let warm = idle.is_some();
            let mut process = match idle {
                Some(process) => process,
                None => starter.start().await?,
            };
            let acquired = Acquired {
                warm,
                took: asked.elapsed(),
            };
            let serve_again = |process: &JobProcess| isolate && process.jobs_served() + 1 < quota;
            let name = msg.job.name.clone();
            let again = serve_again(&process);
            let mut run: ProcessRun = process
                .run(&client, msg.job.clone(), cap, recycle_above, again)
                .await;
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
                run = process
                    .run(&client, msg.job, cap, recycle_above, again)
                    .await;
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
            Ok((process, run.reusable, report))
        };
        Box::pin(run.into_actor(self).map(|result, act, ctx| match result {
            Ok((process, reusable, report)) => {
                act.settle(process, reusable, ctx);
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
