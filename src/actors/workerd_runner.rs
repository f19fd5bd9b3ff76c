//! `WorkerdRunner` runs one job in one workerd process and classifies how it ended.
//!
//! Receives: [`RunJob`]. Sends: nothing (the cgroup lease returns itself to `CgroupPool` when
//! the run ends). Owns the one HTTP client used to talk to every workerd (no client per job) and
//! the runner settings. Runs are concurrent futures; a run never blocks the actor.

use actix::{Actor, Context, Handler, ResponseFuture};
use tracing::{debug, warn};

use crate::messages::jobs::RunJob;
use crate::workerd::classify::{classify, Classified};
use crate::workerd::run::{run_job, RunError, RunnerSettings};

/// The workerd process runner.
#[derive(Debug)]
pub struct WorkerdRunner {
    settings: RunnerSettings,
    client: reqwest::Client,
}

impl WorkerdRunner {
    /// Builds the shared client: no proxy (job traffic never leaves loopback), no redirects, no
    /// idle pool (every job is a new server).
    pub fn new(settings: RunnerSettings) -> Result<Self, RunError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|error| RunError::Descriptors(error.to_string()))?;
        Ok(Self { settings, client })
    }
}

impl Actor for WorkerdRunner {
    type Context = Context<Self>;
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
