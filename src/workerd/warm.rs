//! A warm workerd process (modes `prewarmed` and `isolate`): started before any job arrives,
//! serving the loader worker in its own cgroup, on a listener we bound, with no user code. A
//! job's code and input travel in one request; the loader runs them in a fresh isolate.
//!
//! Owns the child process, its cgroup lease, its directory and the process marker. A process
//! runs one job at a time (a busy isolate blocks the whole process); whoever holds it decides
//! whether it serves again (`isolate`) or is shut down (`prewarmed`, or after any doubtful end).
//! Shutting down kills and reaps it, removes its files and returns the cgroup.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::{
    render_loader_config, render_loader_module, CODE_LENGTH_HEADER, CONFIG_FILE, JOB_MARKER_HEADER,
    LOADER_MODULE,
};
use super::run::{
    after_transport_failure, post, read_all, read_capped, spawn, write_files, Evidence, Flavor,
    Markers, RunError, RunnerSettings, STDERR_KEEP,
};
use crate::messages::pool::CgroupLease;
use crate::sandbox::command::JobJail;

/// One job for a warm process.
#[derive(Debug, Clone)]
pub struct WarmJob {
    /// For logs.
    pub name: String,
    /// The user's module, byte for byte.
    pub code: std::sync::Arc<[u8]>,
    /// POSTed raw to the user's worker.
    pub input: Vec<u8>,
    /// When the job must have answered.
    pub deadline: Instant,
}

/// A started workerd serving the loader.
#[derive(Debug)]
pub struct WarmProcess {
    name: String,
    child: Child,
    cgroup: CgroupLease,
    url: String,
    dir: PathBuf,
    process_marker: String,
    control: Option<OwnedFd>,
    stderr: Option<JoinHandle<String>>,
    jobs_served: u32,
}

/// How a warm run ended, beyond its evidence.
#[derive(Debug)]
pub struct WarmRun {
    /// What happened.
    pub evidence: Evidence,
    /// The kernel's OOM record for the process's cgroup.
    pub oom_killed: bool,
    /// The process may serve another job (it answered cleanly, is alive and well below its
    /// memory limit).
    pub reusable: bool,
    /// The process had served other jobs before this one: an OOM kill then does not prove that
    /// this job used the memory (isolates of earlier jobs may not be collected yet).
    pub reused: bool,
}

impl WarmProcess {
    /// Writes the loader files and starts workerd in `cgroup`, serving `listener`. Returns once
    /// spawned; a job sent before it serves waits in the listen backlog.
    pub fn start(
        settings: &RunnerSettings,
        name: String,
        cgroup: CgroupLease,
        listener: TcpListener,
    ) -> Result<Self, RunError> {
        let dir = settings.job_root.join(&name);
        let process_marker = hex::encode(rand::random::<[u8; 16]>());
        let config = render_loader_config();
        let loader = render_loader_module(&process_marker);
        write_files(
            &dir,
            &[
                (CONFIG_FILE, config.as_bytes()),
                (LOADER_MODULE, loader.as_bytes()),
            ],
        )?;
        let port = listener
            .local_addr()
            .map_err(|error| RunError::Descriptors(error.to_string()))?
            .port();
        let (control_read, control_write) =
            nix::unistd::pipe().map_err(|error| RunError::Descriptors(error.to_string()))?;
        let spawned = spawn(
            settings,
            JobJail {
                cgroup_procs: &cgroup.procs_files(),
                slot: cgroup.slot(),
                dir: &dir,
            },
            listener.into(),
            control_write,
            Flavor::Warm,
        );
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };
        let stderr = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(read_capped(pipe, STDERR_KEEP)));
        Ok(Self {
            name,
            child,
            cgroup,
            url: format!("http://127.0.0.1:{port}/"),
            dir,
            process_marker,
            control: Some(control_read),
            stderr,
            jobs_served: 0,
        })
    }

    /// Sends one request with our own trivial module and waits for its answer, so the process
    /// is serving and its loader path is initialised (the first load in a process costs several
    /// times a later one) before a user's job arrives. False if the process did not answer
    /// correctly: it must not be used.
    pub async fn warm_up(&mut self, client: &reqwest::Client, deadline: Instant) -> bool {
        const WARM_UP_MODULE: &[u8] =
            b"export default { async fetch() { return new Response(\"ready\"); } };";
        let job_marker = hex::encode(rand::random::<[u8; 16]>());
        let request = self.request(client, WARM_UP_MODULE, b"", &job_marker);
        let markers = self.markers(&job_marker);
        let answer = tokio::time::timeout_at(deadline, post(request, 64, &markers)).await;
        matches!(answer, Ok(Some(Evidence::Responded { status: 200, ref body, exception: false })) if body == b"ready")
    }

    /// The loader's request: `code` then `input` in one body, the code's length and the job's
    /// marker in headers.
    fn request(
        &self,
        client: &reqwest::Client,
        code: &[u8],
        input: &[u8],
        job_marker: &str,
    ) -> reqwest::RequestBuilder {
        let mut body = Vec::with_capacity(code.len() + input.len());
        body.extend_from_slice(code);
        body.extend_from_slice(input);
        client
            .post(&self.url)
            .header(CODE_LENGTH_HEADER, code.len())
            .header(JOB_MARKER_HEADER, job_marker)
            .body(body)
    }

    /// What proves a 500 came from our entry module (`job_marker`) or the loader.
    fn markers<'a>(&'a self, job_marker: &'a str) -> Markers<'a> {
        Markers {
            exception: job_marker,
            load_failed: Some(&self.process_marker),
        }
    }

    /// Jobs this process has run.
    pub fn jobs_served(&self) -> u32 {
        self.jobs_served
    }

    /// The process's name (its directory and log key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs one job. Never leaves a job running: on the deadline, an oversize output or a lost
    /// connection the process is killed (and so not reusable).
    pub async fn run(
        &mut self,
        client: &reqwest::Client,
        job: WarmJob,
        max_output_bytes: usize,
        recycle_above_bytes: u64,
    ) -> WarmRun {
        let reused = self.jobs_served > 0;
        self.jobs_served += 1;
        let job_marker = hex::encode(rand::random::<[u8; 16]>());
        let request = self.request(client, &job.code, &job.input, &job_marker);
        let markers = self.markers(&job_marker);
        let evidence = tokio::select! {
            evidence = post(request, max_output_bytes, &markers) => evidence,
            () = tokio::time::sleep_until(job.deadline) => Some(Evidence::DeadlineExceeded),
        };
        let clean = matches!(
            evidence,
            Some(Evidence::Responded { .. } | Evidence::LoadFailed)
        );
        if !clean {
            // Stop everything the job started before reading the evidence of how it ended.
            let _ = self.child.start_kill();
        }
        let status = if clean {
            None
        } else {
            self.child.wait().await.ok()
        };
        let evidence = match evidence {
            Some(evidence) => evidence,
            None => {
                let control = match self.control.take() {
                    Some(control) => read_all(control).await,
                    None => String::new(),
                };
                after_transport_failure(status, &control)
            }
        };
        let oom_killed = self.cgroup.oom_killed().unwrap_or(false);
        // Memory held by earlier isolates is freed lazily: recycle a process well before what
        // it holds could push a later job over the limit.
        let roomy = self
            .cgroup
            .memory_bytes()
            .is_ok_and(|bytes| bytes < recycle_above_bytes);
        WarmRun {
            reusable: clean && !oom_killed && roomy,
            evidence,
            oom_killed,
            reused,
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
