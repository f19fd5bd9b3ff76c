//! One workerd process serving our loader, in its own cgroup, on a listener we bound. Every
//! execution mode uses it: `cold` starts one for a job and ends it after, `prewarmed` starts it
//! ahead of the job, `isolate` keeps it for further jobs.
//!
//! Owns the child process, its cgroup lease, its directory and its control pipe. A process runs
//! one job at a time (a busy isolate blocks the whole process). The user's budget starts only
//! when the job is handed to a process that has proven it serves (its control pipe said it
//! listens, or it answered its warm-up): starting, warming and waiting are never the user's
//! time. Shutting down kills and reaps it, removes its files and returns the cgroup.

use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::classify::{End, Evidence};
use super::config::PING_HEADER;
use super::exchange::{loader_answer, loader_request, warm_up, Lost};
use super::fork_thread::on_fork_thread;
use super::run::{
    loader_url, pipe_cloexec, process_client, read_capped, spawn, wait_listening,
    write_process_files, Receiver, RunError, RunnerSettings, STDERR_KEEP,
};
use crate::code::form::for_loader;
use crate::messages::pool::CgroupLease;
use crate::sandbox::command::JobJail;

/// How long a process whose connection broke may take to exit by itself, so that its own exit
/// status (evidence) is not replaced by our kill.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// How long a process that is to serve again may take to answer a liveness check after a job.
const PING_LIMIT: Duration = Duration::from_millis(250);

/// One job for a process.
#[derive(Debug, Clone)]
pub struct ProcessJob {
    /// For logs.
    pub name: String,
    /// The user's code, byte for byte, in any form (`crate::code::form`).
    pub code: Arc<[u8]>,
    /// POSTed raw to the user's worker, byte for byte.
    pub input: Arc<[u8]>,
    /// The user's execution budget, counted from when the job is handed to the process.
    pub budget: Duration,
    /// A chain job's answer window: past it, the run is stopped whatever its budget (and the
    /// job has no outcome, since stopping it was our decision).
    pub hard_stop: Option<Instant>,
}

/// A started workerd serving the loader.
#[derive(Debug)]
pub struct JobProcess {
    name: String,
    child: Child,
    cgroup: CgroupLease,
    /// This process's own client ([`process_client`]).
    client: reqwest::Client,
    url: reqwest::Url,
    dir: PathBuf,
    control: Option<Receiver>,
    stderr: Option<JoinHandle<String>>,
    jobs_served: u32,
    /// Jobs it may serve in all (`isolate`'s quota, given by the pool at start; 1 elsewhere).
    job_quota: u32,
}

/// How a run ended, beyond its evidence.
#[derive(Debug)]
pub struct ProcessRun {
    /// What happened.
    pub evidence: Evidence,
    /// The kernel's OOM record for the process's cgroup.
    pub oom_killed: bool,
    /// The process may serve another job if [`JobProcess::still_fit`] says so: it was to serve
    /// again, the job succeeded and no OOM kill happened. Checked after the job's answer, off
    /// its path.
    pub reuse_candidate: bool,
    /// The process had served other jobs before this one: an OOM kill then does not prove that
    /// this job used the memory (isolates of earlier jobs may not be collected yet).
    pub reused: bool,
    /// From handing the job over to its end, capped at the budget.
    pub user_time: Duration,
    /// The cgroup's peak memory (the process's, workerd's own included), if the kernel has it.
    pub peak_memory: Option<u64>,
}

impl JobProcess {
    /// Writes the process's files and starts workerd in `cgroup`, serving `listener`, to serve
    /// at most `job_quota` jobs. Returns once spawned; [`Self::wait_serving`] tells when it
    /// serves.
    ///
    /// Both happen on the fork thread ([`on_fork_thread`]): a start begins whenever a job takes
    /// a warm process, and on the caller's thread (the actors') the writes and the fork (which
    /// copies the node's page tables) delayed the answers of jobs in flight.
    pub async fn start(
        settings: &RunnerSettings,
        name: String,
        cgroup: CgroupLease,
        listener: TcpListener,
        job_quota: u32,
    ) -> Result<Self, RunError> {
        let client = process_client()?;
        let dir = settings.job_root.join(&name);
        let started = {
            let settings = settings.clone();
            let dir = dir.clone();
            let procs = cgroup.procs_files();
            let slot = cgroup.slot();
            on_fork_thread(move || {
                write_process_files(&dir)?;
                let started = Self::spawn_in(&settings, &dir, &procs, slot, listener);
                if started.is_err() {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                started
            })
            .await
            .map_err(|error| RunError::Spawn(std::io::Error::other(error)))?
        };
        let (mut child, control, port) = started?;
        let stderr = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(read_capped(pipe, STDERR_KEEP)));
        Ok(Self {
            name,
            child,
            cgroup,
            client,
            url: loader_url(port)?,
            dir,
            control: Some(control),
            stderr,
            jobs_served: 0,
            job_quota: job_quota.max(1),
        })
    }

    fn spawn_in(
        settings: &RunnerSettings,
        dir: &std::path::Path,
        cgroup_procs: &[PathBuf],
        slot: u32,
        listener: TcpListener,
    ) -> Result<(Child, Receiver, u16), RunError> {
        let descriptors = |error: std::io::Error| RunError::Descriptors(error.to_string());
        let port = listener.local_addr().map_err(descriptors)?.port();
        let (control_read, control_write) = pipe_cloexec()?;
        let control = Receiver::from_owned_fd(control_read).map_err(descriptors)?;
        let job = JobJail {
            cgroup_procs,
            slot,
            dir,
        };
        let child = spawn(settings, job, listener.into(), control_write)?;
        Ok((child, control, port))
    }

    /// Waits for workerd's own report that it listens; false if it exited or took past
    /// `limit`. Positive evidence that the process serves before any job is handed to it.
    pub async fn wait_serving(&mut self, limit: Instant) -> bool {
        match self.control.as_mut() {
            Some(control) => wait_listening(control, limit).await,
            None => false,
        }
    }

    /// Warms the loader's paths up before a user's job arrives (the free function `warm_up`:
    /// a JavaScript and a WASI echo).
    pub async fn warm_up(&mut self, limit: Instant) -> bool {
        warm_up(&self.client, &self.url, limit).await
    }

    /// True when the loader answers a liveness check within [`PING_LIMIT`]: no job's leftover
    /// keeps the process's thread busy.
    async fn answers_ping(&self) -> bool {
        let ping = self
            .client
            .post(self.url.clone())
            .header(PING_HEADER, "1")
            .send();
        let answer = tokio::time::timeout(PING_LIMIT, async {
            let response = ping.await.ok()?;
            let ok = response.status() == reqwest::StatusCode::OK;
            let body = response.bytes().await.ok()?;
            Some(ok && body.as_ref() == b"pong")
        });
        matches!(answer.await, Ok(Some(true)))
    }

    /// The exit status, if the process has already exited on its own.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .and_then(|status| status.code())
    }

    /// Jobs this process has run.
    pub fn jobs_served(&self) -> u32 {
        self.jobs_served
    }

    /// Jobs it may serve in all (at least 1).
    pub fn job_quota(&self) -> u32 {
        self.job_quota
    }

    /// The process's name (its directory and log key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs one job. Never leaves a job running: a job that did not end is killed with its
    /// process; one that ended leaves a process that serves again only if it is a reuse
    /// candidate and [`Self::still_fit`]. `may_serve_again` is false for a process that will
    /// be ended anyway.
    pub async fn run(&mut self, job: ProcessJob, cap: usize, may_serve_again: bool) -> ProcessRun {
        let reused = self.jobs_served > 0;
        self.jobs_served += 1;
        // A bundle that does not decode strictly never reaches the process: it did not load.
        let code = match for_loader(&job.code) {
            Ok(code) => code,
            Err(error) => {
                tracing::debug!(job = %job.name, %error, "bundle refused");
                return ProcessRun {
                    evidence: Evidence::Ended(End::LoadFailed),
                    oom_killed: false,
                    reuse_candidate: may_serve_again,
                    reused,
                    user_time: Duration::ZERO,
                    peak_memory: None,
                };
            }
        };
        let request = loader_request(
            &self.client,
            &self.url,
            code.form,
            &code.bytes,
            &job.input,
            cap,
        );
        let started = Instant::now();
        let budget_ends = started + job.budget;
        let stop = job
            .hard_stop
            .map_or(budget_ends, |hard| hard.min(budget_ends));
        let answer = tokio::select! {
            answer = loader_answer(request, cap) => Some(answer),
            () = tokio::time::sleep_until(stop) => None,
        };
        let user_time = started.elapsed().min(job.budget);
        let evidence = match answer {
            Some(Ok(evidence)) => evidence,
            Some(Err(Lost)) => self.death_evidence(stop).await,
            None if stop < budget_ends => Evidence::WindowClosed,
            None => Evidence::DeadlineExceeded,
        };
        let succeeded = matches!(evidence, Evidence::Ended(End::Ok(_)));
        let ended = matches!(evidence, Evidence::Ended(_));
        if !ended {
            // Stop everything the job started before reading the evidence of how it ended.
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        let oom_killed = self.cgroup.oom_killed().unwrap_or(false);
        let peak_memory = self.cgroup.peak_memory_bytes().ok();
        ProcessRun {
            evidence,
            oom_killed,
            reuse_candidate: may_serve_again && succeeded && !oom_killed,
            reused,
            user_time,
            peak_memory,
        }
    }

    /// Whether a process whose job succeeded may serve another: it answers a liveness check
    /// (nothing of the job keeps its thread busy) and holds well below its limit (memory held by
    /// earlier isolates is freed lazily, so it is recycled before that could push a later job
    /// over). Runs after the job's answer, so it never delays a job.
    pub async fn still_fit(&self, recycle_above_bytes: u64) -> bool {
        let roomy = self
            .cgroup
            .memory_bytes()
            .is_ok_and(|bytes| bytes < recycle_above_bytes);
        roomy && self.answers_ping().await
    }

    /// The connection broke: how did the process end? Waits briefly for its own exit; one
    /// still alive has a loader that failed us.
    async fn death_evidence(&mut self, stop: Instant) -> Evidence {
        let grace = EXIT_GRACE.min(stop.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Evidence::ProcessDied {
                signal: status.signal(),
                code: status.code(),
            },
            _ => Evidence::LoaderFault("connection to the loader lost"),
        }
    }

    /// Kills and reaps the process, removes its files and returns its cgroup; gives back what it
    /// wrote to stderr (for the logs).
    pub async fn shut_down(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let stderr = match self.stderr.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
        // Dropping `self` returns the cgroup lease to the pool.
        stderr
    }
}
