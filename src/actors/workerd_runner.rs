//! `WorkerdRunner` runs jobs in workerd and classifies how they ended: one cold process per job
//! ([`RunJob`]), or a warm process from its pool ([`RunWarm`]).
//!
//! Receives: [`RunJob`], [`RunWarm`]. Sends: `ReserveCgroup` to `CgroupPool` and `ReservePort`
//! to `PortPool` when it starts a warm process (cgroup leases return themselves when a process
//! ends). Owns the one HTTP client used to talk to every workerd (no client per job), the
//! runner settings and, in the warm modes, the idle warm processes: it keeps `warm_processes`
//! of them started ahead of need, so the start is off the job's critical path. A warm process
//! runs one job at a time; in `prewarmed` it is shut down after its job, in `isolate` it goes
//! back to the pool until a doubtful end or its job quota. Runs are concurrent futures; a run
//! never blocks the actor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, ResponseActFuture,
    ResponseFuture, WrapFuture,
};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::ExecutionMode;
use crate::messages::jobs::{RunJob, RunWarm};
use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::workerd::classify::{classify, Classified};
use crate::workerd::run::{run_job, RunError, RunnerSettings};
use crate::workerd::warm::WarmProcess;

/// Pause before trying again to start a warm process after a failure.
const RESTART_PAUSE: Duration = Duration::from_secs(1);
/// Longest a new warm process may take to answer its warm-up request.
const WARM_UP_LIMIT: Duration = Duration::from_secs(10);

/// The warm modes' pool.
#[derive(Debug)]
pub struct WarmSettings {
    /// `prewarmed` or `isolate`.
    pub mode: ExecutionMode,
    /// Idle processes kept ready.
    pub idle_target: usize,
    /// Most idle processes kept: after a burst, `isolate` keeps returning processes up to it and
    /// shuts down the rest.
    pub idle_max: usize,
    /// Jobs a process serves before it is replaced (1 in `prewarmed`).
    pub jobs_per_process: u32,
    /// Where warm processes get their cgroup.
    pub cgroups: Recipient<ReserveCgroup>,
    /// Where warm processes get their listener.
    pub ports: Recipient<ReservePort>,
}

/// What starting a warm process needs, shared (behind an `Arc`) by the refill and the jobs, so
/// preparing a start costs nothing until one is needed.
#[derive(Debug)]
struct ProcessStarter {
    settings: RunnerSettings,
    client: reqwest::Client,
    cgroups: Recipient<ReserveCgroup>,
    ports: Recipient<ReservePort>,
    started: AtomicU64,
}

impl ProcessStarter {
    /// Reserves a cgroup and a listener, starts a warm process and waits for its warm-up answer.
    async fn start(&self) -> Result<WarmProcess, RunError> {
        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("warm-{}-{number}", std::process::id());
        let no_slot = |what: &str| RunError::Descriptors(format!("no {what} for a warm process"));
        let cgroup = match self
            .cgroups
            .send(ReserveCgroup {
                job_name: name.clone(),
            })
            .await
        {
            Ok(Ok(lease)) => lease,
            _ => return Err(no_slot("cgroup")),
        };
        let Ok(Ok(port)) = self.ports.send(ReservePort).await else {
            return Err(no_slot("listener"));
        };
        let mut process = WarmProcess::start(&self.settings, name, cgroup, port.listener)?;
        if process
            .warm_up(&self.client, Instant::now() + WARM_UP_LIMIT)
            .await
        {
            return Ok(process);
        }
        let stderr = process.shut_down().await;
        Err(RunError::Launcher {
            stderr: format!("warm process did not answer its warm-up request: {stderr}"),
        })
    }
}

/// The workerd process runner.
#[derive(Debug)]
pub struct WorkerdRunner {
    settings: RunnerSettings,
    client: reqwest::Client,
    warm: Option<WarmSettings>,
    idle: VecDeque<WarmProcess>,
    starting: usize,
    /// Warm processes running a job (they come back in `isolate`).
    busy: usize,
    /// Present in the warm modes.
    starter: Option<Arc<ProcessStarter>>,
}

impl WorkerdRunner {
    /// Builds the shared client: no proxy (job traffic never leaves loopback), no redirects, no
    /// idle pool (every job is a new server or a new isolate). `warm` turns on the warm pool.
    pub fn new(settings: RunnerSettings, warm: Option<WarmSettings>) -> Result<Self, RunError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|error| RunError::Descriptors(error.to_string()))?;
        let starter = warm.as_ref().map(|warm| {
            Arc::new(ProcessStarter {
                settings: settings.clone(),
                client: client.clone(),
                cgroups: warm.cgroups.clone(),
                ports: warm.ports.clone(),
                started: AtomicU64::new(0),
            })
        });
        Ok(Self {
            settings,
            client,
            warm,
            idle: VecDeque::new(),
            starting: 0,
            busy: 0,
            starter,
        })
    }

    /// Processes that count against the target: in `isolate` busy ones come back, in
    /// `prewarmed` they do not.
    fn pooled(&self) -> usize {
        let returning = match self.warm.as_ref().map(|warm| warm.mode) {
            Some(ExecutionMode::Isolate) => self.busy,
            _ => 0,
        };
        self.idle.len() + self.starting + returning
    }

    /// Starts warm processes until the pool reaches its target.
    fn refill(&mut self, ctx: &mut Context<Self>) {
        let Some(target) = self.warm.as_ref().map(|warm| warm.idle_target) else {
            return;
        };
        while self.pooled() < target {
            self.starting += 1;
            let start = self.start_process();
            ctx.spawn(start.into_actor(self).map(|started, act, ctx| {
                act.starting -= 1;
                match started {
                    Ok(process) => act.idle.push_back(process),
                    Err(error) => {
                        warn!(%error, "Cannot start a warm workerd process; retrying shortly.");
                        ctx.run_later(RESTART_PAUSE, |act, ctx| act.refill(ctx));
                    }
                }
            }));
        }
    }

    /// A future that starts one warm process; it does nothing until polled.
    fn start_process(
        &self,
    ) -> impl std::future::Future<Output = Result<WarmProcess, RunError>> + 'static {
        let starter = self.starter.clone();
        async move {
            match starter {
                Some(starter) => starter.start().await,
                None => Err(RunError::Descriptors("no warm pool".into())),
            }
        }
    }

    /// Puts a process back in the pool or shuts it down, and tops the pool up.
    fn settle(&mut self, process: WarmProcess, reusable: bool, ctx: &mut Context<Self>) {
        self.busy = self.busy.saturating_sub(1);
        let keep = self.warm.as_ref().is_some_and(|warm| {
            reusable
                && process.jobs_served() < warm.jobs_per_process
                && self.idle.len() + self.busy < warm.idle_max
        });
        if keep {
            self.idle.push_back(process);
        } else {
            let name = process.name().to_owned();
            ctx.spawn(
                async move {
                    let stderr = process.shut_down().await;
                    if !reusable {
                        debug!(process = %name, stderr = %stderr.escape_debug(), "Warm process ended.");
                    }
                }
                .into_actor(self),
            );
        }
        self.refill(ctx);
    }
}

impl Actor for WorkerdRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refill(ctx);
    }
}

impl Handler<RunJob> for WorkerdRunner {
    type Result = ResponseFuture<Result<Classified, RunError>>;

    fn handle(&mut self, msg: RunJob, _: &mut Context<Self>) -> Self::Result {
        let settings = self.settings.clone();
        let client = self.client.clone();
        Box::pin(async move {
            let RunJob { spec, cgroup } = msg;
            let name = spec.name.clone();
            let (evidence, stderr) = run_job(&settings, &client, spec).await?;
            // Read the kernel's record before the lease goes back and the cgroup is removed.
            let oom_killed = cgroup.oom_killed().unwrap_or_else(|error| {
                warn!(job = %name, %error, "Cannot read the job's OOM counter.");
                false
            });
            drop(cgroup);
            let classified = classify(evidence, oom_killed);
            debug!(job = %name, ?classified, stderr = %stderr.escape_debug(), "Job run ended.");
            Ok(classified)
        })
    }
}

impl Handler<RunWarm> for WorkerdRunner {
    type Result = ResponseActFuture<Self, Result<Classified, RunError>>;

    fn handle(&mut self, msg: RunWarm, ctx: &mut Context<Self>) -> Self::Result {
        let idle = self.idle.pop_front();
        let start = idle.is_none().then(|| self.start_process());
        // A fresh process for a second try: lazy, nothing is reserved unless it is awaited.
        let fresh = self.start_process();
        self.busy += 1;
        self.refill(ctx);
        let client = self.client.clone();
        let cap = self.settings.max_output_bytes;
        let recycle_above = self.settings.memory_limit_bytes / 2;
        let run = async move {
            let mut process = match (idle, start) {
                (Some(process), _) => process,
                (None, Some(start)) => start.await?,
                (None, None) => return Err(RunError::Descriptors("no warm process".into())),
            };
            let name = msg.job.name.clone();
            let mut run = process
                .run(&client, msg.job.clone(), cap, recycle_above)
                .await;
            if run.oom_killed && run.reused {
                // Not proof against this job: earlier jobs' memory may still have been held.
                // The verdict comes from a process that runs nothing else.
                warn!(job = %name, process = %process.name(), "OOM in a reused process; running the job again in a fresh one.");
                let _ = process.shut_down().await;
                process = fresh.await?;
                run = process.run(&client, msg.job, cap, recycle_above).await;
            }
            let classified = classify(run.evidence, run.oom_killed);
            debug!(job = %name, process = %process.name(), ?classified, "Job run ended.");
            Ok((process, run.reusable, classified))
        };
        Box::pin(run.into_actor(self).map(|result, act, ctx| match result {
            Ok((process, reusable, classified)) => {
                act.settle(process, reusable, ctx);
                Ok(classified)
            }
            Err(error) => {
                act.busy = act.busy.saturating_sub(1);
                act.refill(ctx);
                Err(error)
            }
        }))
    }
}
