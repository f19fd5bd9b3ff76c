//! Starting a workerd process: the settings every start shares, the sandbox launcher's command
//! line, the files of a process and the bounded readers of its pipes.
//!
//! Owns nothing long-lived; used by [`super::process`]. [`RunError`] is every way we can fail to
//! run a job ourselves: an infrastructure fault, never a job outcome. Readiness needs no
//! polling: a request waits in the listen backlog of the socket we bound until workerd serves.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use command_fds::{CommandFdExt, FdMapping};
use nix::fcntl::OFlag;
use tokio::io::{AsyncRead, AsyncReadExt};
pub(super) use tokio::net::unix::pipe::Receiver;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::config::{CONFIG_FILE, LOADER_CONFIG, MODULE_FILES, SOCKET_NAME};
use crate::sandbox::command::{launcher_command, JobJail};

/// Stderr kept per job for diagnostics; the rest is drained and dropped so workerd never blocks.
pub(super) const STDERR_KEEP: usize = 8 * 1024;
/// Longest a process's connection is kept idle for its next request (see [`process_client`]).
const KEEP_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
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
    /// The process never reported serving, or did not answer its warm-up request.
    #[error("workerd did not start serving: {stderr}")]
    NotServing {
        /// What it wrote to stderr.
        stderr: String,
    },
    /// No cgroup or listener could be reserved for a process.
    #[error("no {0} for a workerd process")]
    NoResource(&'static str),
}

/// Writes the config and our modules into a new process directory `dir`.
pub(super) fn write_process_files(dir: &Path) -> Result<(), RunError> {
    let mut files = vec![(CONFIG_FILE, LOADER_CONFIG.as_bytes())];
    files.extend(
        MODULE_FILES
            .iter()
            .map(|(name, text)| (*name, text.as_bytes())),
    );
    write_files(dir, &files)
}

/// The HTTP client of one workerd process, dropped with it. Its connection is kept alive between
/// the process's requests (warm-up, jobs, liveness checks), which saves a connect and an accept
/// per request on both sides. Being the process's own, a kept connection can only ever reach the
/// process it was opened to: a shared pool keyed by port could retry a request on a connection
/// to a later process that reused the port, one that may already be running another job. A
/// connection idle for [`KEEP_IDLE`] is not reused: workerd closes idle connections itself
/// (after 15 s, measured with workerd 2026-11-17), and a request sent just as it does would
/// fail as a lost connection (retried as our fault). No proxy (job traffic never leaves
/// loopback), no redirects, no TLS roots (plain HTTP only).
pub(super) fn process_client() -> Result<reqwest::Client, RunError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(KEEP_IDLE)
        .build()
        .map_err(|error| RunError::Descriptors(error.to_string()))
}

/// The loader's address on `port`, parsed once per process: reqwest parses a `&str` address
/// again for every request (IDNA host processing included, ≈ 17 µs a request on the actors'
/// thread, measured 2026-12-03).
pub(super) fn loader_url(port: u16) -> Result<reqwest::Url, RunError> {
    reqwest::Url::parse(&format!("http://127.0.0.1:{port}/"))
        .map_err(|error| RunError::Descriptors(error.to_string()))
}

/// A pipe whose both ends close on exec: only the end handed over on purpose (dup'ed onto a
/// fixed number, which clears the flag) reaches a child, never a sibling job's process.
pub(super) fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd), RunError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|error| RunError::Descriptors(error.to_string()))
}

/// Waits until workerd reports on its control pipe that it listens (positive evidence that the
/// process serves), or `limit` passes, or the pipe closes (it exited). The caller keeps the
/// pipe open for the process's lifetime, so workerd never writes into a closed pipe.
pub(super) async fn wait_listening(control: &mut Receiver, limit: Instant) -> bool {
    let listening = async {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        while let Ok(read) = control.read(&mut buffer).await {
            if read == 0 || seen.len() > 64 * 1024 {
                return false;
            }
            seen.extend_from_slice(&buffer[..read]);
            if seen.windows(8).any(|window| window == b"\"listen\"") {
                return true;
            }
        }
        false
    };
    tokio::time::timeout_at(limit, listening)
        .await
        .unwrap_or(false)
}

/// Creates `dir` and writes `files` (name, contents) into it.
fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), RunError> {
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

/// Starts workerd through the sandbox launcher, jailed, in the process's directory, serving
/// `listener`.
pub(super) fn spawn(
    settings: &RunnerSettings,
    job: JobJail<'_>,
    listener: OwnedFd,
    control_write: OwnedFd,
) -> Result<Child, RunError> {
    let command = Command::from(launcher_command(
        &settings.launcher,
        &settings.jail,
        job,
        &settings.workerd,
    ));
    serve(command, listener, control_write)
}

/// Adds workerd's own arguments, pipes and descriptors to `command` (workerd itself, or the
/// launcher that becomes it) and starts it: one command line for the node and the floor.
pub(super) fn serve(
    mut command: Command,
    listener: OwnedFd,
    control_write: OwnedFd,
) -> Result<Child, RunError> {
    command
        .args(["serve", CONFIG_FILE, "--socket-fd"])
        .arg(format!("{SOCKET_NAME}={LISTENER_FD}"))
        .args(["--control-fd", &CONTROL_FD.to_string()])
        // For the `workerLoader` binding of our loader.
        .arg("--experimental")
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

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
