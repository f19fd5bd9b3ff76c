//! Resource limits of one job process that cgroups do not cover: open files, core dumps (never:
//! a core of workerd could hold a job's secrets), file size (also the size of its `/tmp`), and
//! its OOM priority (a global OOM kills a job before the node).
//!
//! Deliberately no `RLIMIT_AS`: V8 reserves gigabytes of address space (guard regions for Wasm
//! memories) and breaks under it; the cgroup's memory limit bounds what is really used.

use nix::sys::resource::{setrlimit, Resource};

use super::error::LaunchError;

/// `oom_score_adj` of every job process: the first the kernel kills.
const JOB_OOM_SCORE_ADJ: &str = "1000";

/// Sets the job's rlimits (soft and hard, so it cannot raise them again).
pub(super) fn apply(open_files_max: u64, file_size_max: u64) -> Result<(), LaunchError> {
    for (resource, limit) in [
        (Resource::RLIMIT_NOFILE, open_files_max),
        (Resource::RLIMIT_CORE, 0),
        (Resource::RLIMIT_FSIZE, file_size_max),
    ] {
        setrlimit(resource, limit, limit).map_err(LaunchError::syscall("rlimits"))?;
    }
    Ok(())
}

/// Marks this process (and so every job process it starts) as the OOM killer's first choice.
pub(super) fn prefer_for_oom_kill() -> Result<(), LaunchError> {
    let path = "/proc/self/oom_score_adj";
    std::fs::write(path, JOB_OOM_SCORE_ADJ).map_err(LaunchError::file("oom_score_adj", path))
}
