//! What a clean shutdown removes: the warm pool's processes, the job cgroups and directories,
//! and for a one-off `run` its parent cgroup and jail files too.
//!
//! Sends `ShutDownPool` to `WorkerdRunner`; owns the cgroup pool's thread and the node's locks
//! on its cgroup parent and job directory ([`Cleanup`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Arbiter};
use tracing::{info, warn};

use super::{Handles, StartError};
use crate::actors::workerd_runner::{ShutDownPool, WorkerdRunner};
use crate::cgroup::Cgroups;
use crate::node_lock::NodeLock;

/// What the node leaves behind unless it removes it on exit, and its locks on the cgroup
/// parent and the job directory.
#[derive(Debug)]
pub struct Cleanup {
    pub(super) cgroups: Arc<Cgroups>,
    pub(super) job_dir: PathBuf,
    /// `CgroupPool`'s own thread, stopped once the pool's cgroups are gone. Creating, killing
    /// and removing a cgroup are blocking system calls of up to ≈ 10 ms each (a v1 memory
    /// cgroup's `rmdir`, `cgroup.kill`); on the thread of the scheduler and the runner they
    /// stalled every job in flight (`prewarmed` ended and created one per job).
    pub(super) cgroup_thread: Arbiter,
    pub(super) _locks: [NodeLock; 2],
}

impl Cleanup {
    /// Removes the (emptied) parent cgroup, the job directory and the jail's own files too: for
    /// a one-off parent such as `run`'s, which no later start would reuse and clean.
    pub fn remove_parent(&self) {
        if let Err(error) = self.cgroups.remove_parent() {
            warn!(%error, "Cannot remove the parent cgroup.");
        }
        remove_job_files(&self.job_dir);
    }
}

/// Removes a one-off job directory and the jail's own files beside it (`<job_dir>.jail`): after
/// a `run`, and when its sandbox could not start.
pub fn remove_job_files(job_dir: &Path) {
    let jail = crate::sandbox::settings::jail_dir(job_dir);
    for dir in [job_dir, jail.as_path()] {
        match std::fs::remove_dir_all(dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                warn!(%error, path = %dir.display(), "Cannot remove a job directory.");
            }
            _ => {}
        }
    }
}

/// Longest a clean shutdown waits for the warm pool to end.
const POOL_SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Ends the node's processes and removes its cgroups and job directories: after a clean
/// shutdown nothing of the node is left on the host (a crash is cleaned up at the next start).
pub async fn shut_down(handles: &Handles) {
    stop_sandbox(&handles.runner, &handles.cleanup).await;
}

/// Ends the runner's processes, then removes the cgroups and job directories of `cleanup`.
pub async fn stop_sandbox(runner: &Addr<WorkerdRunner>, cleanup: &Cleanup) {
    let _ = tokio::time::timeout(POOL_SHUTDOWN_LIMIT, runner.send(ShutDownPool)).await;
    match cleanup.cgroups.clean_stale().await {
        Ok(removed) => info!(cgroups_removed = removed, "Job cgroups removed."),
        Err(error) => warn!(%error, "Cannot remove every job cgroup on shutdown."),
    }
    if let Err(error) = prepare_job_dir(&cleanup.job_dir) {
        warn!(%error, "Cannot remove every job directory on shutdown.");
    }
    cleanup.cgroup_thread.stop();
}

/// Creates the job directory and removes what a previous run left in it.
pub(super) fn prepare_job_dir(dir: &Path) -> Result<(), StartError> {
    let error = |source| StartError::JobDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(error)?;
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(error)?;
        }
    }
    Ok(())
}
