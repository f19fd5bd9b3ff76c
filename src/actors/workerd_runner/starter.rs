//! Starting a workerd process for the runner: a cgroup and a listener reserved, workerd started
//! and proven serving ([`ProcessStarter::start_serving`]), and in the warm modes warmed up
//! ([`ProcessStarter::warm_up`]). Shared behind an `Arc` by the pool's starts and the jobs, so
//! preparing a start costs nothing until one is needed.
//!
//! Sends `ReserveCgroup` to `CgroupPool` and `ReservePort` to `PortPool`; owns only a counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::Recipient;
use tokio::time::Instant;

use crate::messages::pool::{ReserveCgroup, ReservePort};
use crate::workerd::process::JobProcess;
use crate::workerd::quota::JobQuotas;
use crate::workerd::run::{RunError, RunnerSettings};

/// Longest a new process may take to serve, and then to answer its warm-up. This is the node's
/// time, never a job's.
pub(super) const START_LIMIT: Duration = Duration::from_secs(10);

/// What starting a process needs.
#[derive(Debug)]
pub(super) struct ProcessStarter {
    pub(super) settings: RunnerSettings,
    pub(super) cgroups: Recipient<ReserveCgroup>,
    pub(super) ports: Recipient<ReservePort>,
    /// Warm modes warm a process up before it waits idle.
    pub(super) warm_up: bool,
    pub(super) quotas: JobQuotas,
    pub(super) started: AtomicU64,
}

impl ProcessStarter {
    /// Reserves a cgroup and a listener, starts a process and waits for positive evidence that
    /// it serves, then warms it up in the warm modes.
    pub(super) async fn start(&self) -> Result<JobProcess, RunError> {
        let process = self.start_serving().await?;
        self.warm_up(process).await
    }

    /// Reserves a cgroup and a listener, starts a process and waits for workerd's own report
    /// that it serves: enough to hand a job over (what `cold` always does).
    pub(super) async fn start_serving(&self) -> Result<JobProcess, RunError> {
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
        let quota = self.quotas.of(number);
        let mut process =
            JobProcess::start(&self.settings, name, cgroup, port.listener, quota).await?;
        if process.wait_serving(Instant::now() + START_LIMIT).await {
            return Ok(process);
        }
        Err(Self::failed(process).await)
    }

    /// Sends the warm-up requests (only in the warm modes); a process that does not answer them
    /// is ended.
    pub(super) async fn warm_up(&self, mut process: JobProcess) -> Result<JobProcess, RunError> {
        if !self.warm_up || process.warm_up(Instant::now() + START_LIMIT).await {
            return Ok(process);
        }
        Err(Self::failed(process).await)
    }

    /// Ends a process that did not serve and says why.
    async fn failed(mut process: JobProcess) -> RunError {
        let launcher_failed =
            process.exit_code() == Some(i32::from(crate::sandbox::launcher::LAUNCH_FAILED));
        let stderr = process.shut_down().await;
        if launcher_failed {
            return RunError::Launcher { stderr };
        }
        RunError::NotServing { stderr }
    }
}
