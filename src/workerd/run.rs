//! One workerd process for one job: write the job's files, start workerd through the sandbox
//! launcher with a listener we bound, POST the input, read the output with a cap, and collect
//! the evidence of how it ended. Always kills and reaps the process and removes the files.
//!
//! Receives a [`RunSpec`]; returns [`Evidence`] (what happened) or [`RunError`] (we could not
//! run it: an infrastructure fault, never a job outcome). Readiness needs no polling: the request
//! waits in the listen backlog of the socket we bound until workerd serves it.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use command_fds::{CommandFdExt, FdMapping};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::sandbox::command::{launcher_command, JobJail};

use super::config::{
    render_config, render_entry_module, CONFIG_FILE, ENTRY_MODULE, EXCEPTION_HEADER,
    LOAD_FAILED_HEADER, SOCKET_NAME, USER_MODULE,
};

/// Stderr kept per job for diagnostics; the rest is drained and dropped so workerd never blocks.
pub(super) const STDERR_KEEP: usize = 8 * 1024;
/// How long a workerd whose socket closed may take to exit by itself.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
const LISTENER_FD: i32 = 3;
const CONTROL_FD: i32 = 4;

/// What the runner needs that does not change between jobs.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// The workerd binary.
    pub workerd: PathBuf,
    /// This node's binary, used as the sandbox launcher.
    pub launcher: PathBuf,
    /// Where per-job directories are created.
    pub job_root: PathBuf,
    /// Largest response body accepted; more is outcome 5.
    pub max_output_bytes: usize,
    /// The job jail's layers (the network namespace among them).
    pub jail: crate::sandbox::settings::JailSettings,
    /// A job's memory limit (its cgroup's); a warm process holding half of it is replaced.
    pub memory_limit_bytes: u64,
}

/// One run.
#[derive(Debug)]
pub struct RunSpec {
    /// Unique per job; names the job directory.
    pub name: String,
    /// The user's module, byte for byte.
    pub code: Arc<[u8]>,
    /// POSTed raw to `/`.
    pub input: Vec<u8>,
    /// When the job must have answered.
    pub deadline: Instant,
    /// `cgroup.procs` files the launcher joins.
    pub cgroup_procs: Vec<PathBuf>,
    /// The cgroup lease's slot (the job's uid in the jail).
    pub slot: u32,
    /// A bound, listening loopback socket handed to workerd.
    pub listener: TcpListener,
}

/// What happened, before classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// workerd answered within the deadline and the cap.
    Responded {
        /// HTTP status.
        status: u16,
        /// The body.
        body: Vec<u8>,
        /// Our entry module reported an uncaught exception (its per-job marker matched).
        exception: bool,
    },
    /// The body grew past the cap.
    OutputTooLarge,
    /// The deadline passed first.
    DeadlineExceeded,
    /// workerd exited before it reported serving: the module did not load.
    ExitedBeforeListening {
        /// Exit code, if it exited normally.
        code: Option<i32>,
    },
    /// workerd went away after serving, without an answer.
    DiedWhileServing,
    /// Warm modes: the loader reported (with its process marker) that the user's module failed
    /// to load or evaluate.
    LoadFailed,
}

/// Why a job could not be run (infrastructure, not the user's code).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The job directory or its files could not be written.
    #[error("cannot prepare job files in {path}")]
    Files {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("cannot start workerd")]
    Spawn(#[source] std::io::Error),
    /// The control pipe or fd mapping could not be set up.
    #[error("cannot set up workerd's descriptors: {0}")]
    Descriptors(String),
    /// The launcher could not confine itself (exit status 125).
    #[error("sandbox launcher failed: {stderr}")]
    Launcher {
        /// What it said.
        stderr: String,
    },
}

/// Runs one job to the end. The caller classifies the evidence with the cgroup's OOM counter.
pub async fn run_job(
    settings: &RunnerSettings,
    client: &reqwest::Client,
    spec: RunSpec,
) -> Result<(Evidence, String), RunError> {
    let dir = settings.job_root.join(&spec.name);
    let marker = hex::encode(rand::random::<[u8; 16]>());
    write_job_files(&dir, &spec.code, &marker)?;
    let result = run_in_dir(settings, client, spec, &dir, &marker).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

async fn run_in_dir(
    settings: &RunnerSettings,
    client: &reqwest::Client,
    spec: RunSpec,
    dir: &Path,
    marker: &str,
) -> Result<(Evidence, String), RunError> {
    let port = spec
        .listener
        .local_addr()
        .map_err(|error| RunError::Descriptors(error.to_string()))?
        .port();
    let (control_read, control_write) =
        nix::unistd::pipe().map_err(|error| RunError::Descriptors(error.to_string()))?;
    let RunSpec {
        input,
        deadline,
        cgroup_procs,
        slot,
        listener,
        ..
    } = spec;
    // The listener moves into the child's descriptors and our copy closes at spawn: if workerd
    // exits, a waiting connection is refused instead of hanging in the backlog.
    let mut child = spawn(
        settings,
        JobJail {
            cgroup_procs: &cgroup_procs,
            slot,
            dir,
        },
        listener.into(),
        control_write,
        Flavor::Cold,
    )?;
    let stderr = child
        .stderr
        .take()
        .map(|pipe| tokio::spawn(read_capped(pipe, STDERR_KEEP)));

    let url = format!("http://127.0.0.1:{port}/");
    let markers = Markers {
        exception: marker,
        load_failed: None,
    };
    let request = post(
        client.post(&url).body(input),
        settings.max_output_bytes,
        &markers,
    );
    let evidence = tokio::select! {
        evidence = request => evidence,
        () = tokio::time::sleep_until(deadline) => Some(Evidence::DeadlineExceeded),
    };
    if evidence.is_none() {
        // The connection failed: workerd is probably exiting on its own; give it a moment so its
        // exit status (evidence) is not replaced by our kill.
        let grace = EXIT_GRACE.min(deadline.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(grace, child.wait()).await;
    }
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    let control = read_all(control_read).await;
    let stderr = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    if status.and_then(|s| s.code()) == Some(i32::from(crate::sandbox::launcher::LAUNCH_FAILED)) {
        return Err(RunError::Launcher { stderr });
    }
    let evidence = evidence.unwrap_or_else(|| after_transport_failure(status, &control));
    Ok((evidence, stderr))
}

pub(super) fn after_transport_failure(status: Option<ExitStatus>, control: &str) -> Evidence {
    if control.contains("\"listen\"") {
        Evidence::DiedWhileServing
    } else {
        Evidence::ExitedBeforeListening {
            code: status.and_then(|status| status.code()),
        }
    }
}

fn write_job_files(dir: &Path, code: &[u8], marker: &str) -> Result<(), RunError> {
    let config = render_config();
    let entry = render_entry_module(marker);
    write_files(
        dir,
        &[
            (CONFIG_FILE, config.as_bytes()),
            (ENTRY_MODULE, entry.as_bytes()),
            (USER_MODULE, code),
        ],
    )
}

/// Creates `dir` and writes `files` (name, contents) into it.
pub(super) fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), RunError> {
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::Files { path, source }
    };
    std::fs::create_dir_all(dir).map_err(error(dir))?;
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(error(&path))?;
    }
    Ok(())
}

/// Which config a workerd process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// The job's own config with the user's module embedded.
    Cold,
    /// The loader config of the warm modes (`--experimental` for `workerLoader`).
    Warm,
}

/// Starts workerd through the sandbox launcher, jailed, in the job's directory, serving
/// `listener`.
pub(super) fn spawn(
    settings: &RunnerSettings,
    job: JobJail<'_>,
    listener: OwnedFd,
    control_write: OwnedFd,
    flavor: Flavor,
) -> Result<Child, RunError> {
    let mut command = Command::from(launcher_command(
        &settings.launcher,
        &settings.jail,
        job,
        &settings.workerd,
    ));
    command
        .args(["serve", CONFIG_FILE, "--socket-fd"])
        .arg(format!("{SOCKET_NAME}={LISTENER_FD}"))
        .args(["--control-fd", &CONTROL_FD.to_string()])
        .args((flavor == Flavor::Warm).then_some("--experimental"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
        .fd_mappings(vec![
            FdMapping {
                parent_fd: listener,
                child_fd: LISTENER_FD,
            },
            FdMapping {
                parent_fd: control_write,
                child_fd: CONTROL_FD,
            },
        ])
        .map_err(|error| RunError::Descriptors(error.to_string()))?;
    // `command` (and with it our copies of the listener and the pipe's write end) is dropped on
    // return, so workerd's exit closes the socket and the pipe for us to notice.
    command.spawn().map_err(RunError::Spawn)
}

/// The secrets that prove a 500 came from our code, not the user's.
#[derive(Debug)]
pub(super) struct Markers<'a> {
    /// The job's marker, set by our entry module on an uncaught exception.
    pub(super) exception: &'a str,
    /// Warm modes: the process marker, set by the loader when the module did not load.
    pub(super) load_failed: Option<&'a str>,
}

/// Sends the request and reads the body up to `cap`; `None` when the connection failed.
pub(super) async fn post(
    request: reqwest::RequestBuilder,
    cap: usize,
    markers: &Markers<'_>,
) -> Option<Evidence> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let marked = |header: &str, marker: &str| {
        status == 500
            && response
                .headers()
                .get(header)
                .is_some_and(|value| value.as_bytes() == marker.as_bytes())
    };
    if markers
        .load_failed
        .is_some_and(|marker| marked(LOAD_FAILED_HEADER, marker))
    {
        return Some(Evidence::LoadFailed);
    }
    let exception = marked(EXCEPTION_HEADER, markers.exception);
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > cap {
            return Some(Evidence::OutputTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Some(Evidence::Responded {
        status,
        body,
        exception,
    })
}

/// Reads a stream to its end, keeping at most `keep` bytes.
pub(super) async fn read_capped(mut pipe: impl AsyncRead + Unpin, keep: usize) -> String {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&buffer[..read.min(room)]);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

pub(super) async fn read_all(fd: OwnedFd) -> String {
    match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(receiver) => read_capped(receiver, 4096).await,
        Err(_) => String::new(),
    }
}
