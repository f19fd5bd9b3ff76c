//! Per-job cgroups on cgroup v2 hosts and on cgroup v1 hosts (including the hybrid layout with
//! a controller-less cgroup2 mount beside the v1 hierarchies).
//!
//! Owns everything under our parent group (`<parent>` in each hierarchy). Receives limits and
//! job names from its caller; writes cgroupfs files and, on pure v1, sends SIGKILL. No actors,
//! no shared state: [`Cgroups`] is detected once at start, [`JobCgroup`] is one job's handle.
//!
//! Invariants:
//! - detection refuses to start with one error naming what is missing (a controller, write
//!   permission, or any way to kill: neither `cgroup.kill` nor a v1 freezer);
//! - every job gets a fresh cgroup, so OOM counters start at 0 and need no bookkeeping;
//! - a process joins by writing `0` to every [`JobCgroup::procs_files`] before it execs, so no
//!   process runs unconfined and a kill reaches everything;
//! - only this module writes under our parent.
//!
//! Layout: `detect` classifies mountinfo (pure), `v2` and `v1` hold the per-version file
//! logic, `job` the per-job operations, `fs` the file access with paths in every error, `tests`
//! the v2 file logic against a fake cgroupfs in a tempdir.

mod detect;
mod error;
mod fs;
mod job;
mod kept;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::CgroupError;
use job::Hierarchies;
pub use job::JobCgroup;

/// How long `clean_stale` waits for a leftover job's processes to die.
const STALE_WAIT: Duration = Duration::from_secs(5);

/// The limits written into a job's fresh cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Hard memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`); swap is capped to 0
    /// beyond it where the kernel accounts swap.
    pub memory_bytes: u64,
    /// CPU bandwidth; `None` leaves the CPU unthrottled.
    pub cpu: Option<CpuQuota>,
    /// Most tasks (processes *and* threads) the job may have at once.
    pub pids_max: u64,
}

/// CPU bandwidth: at most `quota` of CPU time in every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// CPU time allowed per period (the kernel needs at least 1 ms).
    pub quota: Duration,
    /// Length of a period (the kernel accepts 1 ms to 1 s).
    pub period: Duration,
}

impl CpuQuota {
    /// The quota in whole microseconds, as the kernel files take it.
    pub fn quota_us(&self) -> u64 {
        micros(self.quota)
    }

    /// The period in whole microseconds, as the kernel files take it.
    pub fn period_us(&self) -> u64 {
        micros(self.period)
    }
}

/// Whole microseconds, saturating.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Which cgroup backend the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// One hierarchy per controller (also the hybrid layout).
    V1,
    /// The unified hierarchy with memory, cpu and pids controllers.
    V2,
}

/// How a job's processes are killed all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillMethod {
    /// Write `1` to `cgroup.kill` (v2, or the hybrid cgroup2 mount; kernel 5.14+).
    CgroupKill,
    /// Freeze, SIGKILL every pid, thaw (pure v1).
    Freezer,
}

/// What the kernel offers below our parent, found once at detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// How jobs are killed.
    pub(crate) kill: KillMethod,
    /// Whether swap can be capped (v2 `memory.swap.max`, v1 `memory.memsw.limit_in_bytes`).
    pub(crate) swap_limit: bool,
    /// Whether `memory.oom.group` exists (v2 only): one OOM kill then takes the whole job.
    pub(crate) oom_group: bool,
}

/// The host's cgroup layout and our prepared parent group. Detected once at start.
#[derive(Debug, Clone)]
pub struct Cgroups {
    parent: Hierarchies,
    capabilities: Capabilities,
}

impl Cgroups {
    /// Detects the layout from `mountinfo` (normally `/proc/self/mountinfo`) below `root`
    /// (normally `/sys/fs/cgroup`) and prepares our parent `parent_name` (plain relative path)
    /// in every hierarchy we use: v2 enables `+memory +cpu +pids` from the root down to the
    /// parent; v1 creates it in memory, cpu, pids and the kill hierarchy (hybrid cgroup2 mount
    /// if it has `cgroup.kill`, else the freezer). Refuses with an error naming what is missing.
    pub fn detect(mountinfo: &Path, root: &Path, parent_name: &str) -> Result<Self, CgroupError> {
        if !fs::is_plain_relative(parent_name) {
            return Err(CgroupError::InvalidName {
                name: parent_name.to_owned(),
            });
        }
        let text = fs::read(mountinfo)?;
        let layout = detect::classify(&text, root)
            .map_err(|missing| CgroupError::Unsupported { missing })?;
        let parent_name = Path::new(parent_name);
        let (parent, capabilities) = match layout {
            detect::Layout::V2 { mount } => v2::prepare(&mount, parent_name)?,
            detect::Layout::V1(mounts) => v1::prepare(&mounts, parent_name)?,
        };
        Ok(Self {
            parent,
            capabilities,
        })
    }

    /// V2, or V1 (which includes the hybrid layout).
    pub fn version(&self) -> CgroupVersion {
        self.parent.version
    }

    /// One line for the start-up log: mode, where our parent is, and each capability.
    pub fn describe(&self) -> String {
        let caps = self.capabilities;
        let yes_no = |flag: bool| if flag { "yes" } else { "no" };
        let kill = match caps.kill {
            KillMethod::CgroupKill => format!("cgroup.kill in {}", self.parent.kill.display()),
            KillMethod::Freezer => format!("v1 freezer in {}", self.parent.kill.display()),
        };
        match self.parent.version {
            CgroupVersion::V2 => format!(
                "cgroup v2: parent {}, controllers memory cpu pids, kill {kill}, \
                 oom memory.events, oom_group {}, swap_limit {}",
                self.parent.memory.display(),
                yes_no(caps.oom_group),
                yes_no(caps.swap_limit),
            ),
            CgroupVersion::V1 => format!(
                "cgroup v1{}: parent memory {}, cpu {}, pids {}, kill {kill}, \
                 oom memory.oom_control, swap_limit {}",
                if caps.kill == KillMethod::CgroupKill {
                    " (hybrid)"
                } else {
                    ""
                },
                self.parent.memory.display(),
                self.parent.cpu.display(),
                self.parent.pids.display(),
                yes_no(caps.swap_limit),
            ),
        }
    }

    /// Our parent's directory in every hierarchy we use.
    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        self.parent
            .dirs()
            .into_iter()
            .map(Path::to_path_buf)
            .collect()
    }

    /// Kills every process in, and removes, every child cgroup of our parent (leftovers of a
    /// crash). Returns how many were removed.
    pub async fn clean_stale(&self) -> Result<usize, CgroupError> {
        let mut names = BTreeSet::new();
        for dir in self.parent.dirs() {
            names.extend(fs::child_dirs(dir)?);
        }
        for name in &names {
            let job = JobCgroup::new(name, self.parent.join(name), self.capabilities);
            job.kill_all()?;
            job.kill_listed()?;
            job.wait_empty(STALE_WAIT).await?;
            job.remove()?;
        }
        Ok(names.len())
    }

    /// Creates a fresh cgroup `name` (one path component) for one job in every hierarchy and
    /// writes `limits`. An existing cgroup of that name is an error, never reused. On failure
    /// nothing is left behind.
    pub fn create(&self, name: &str, limits: &CgroupLimits) -> Result<JobCgroup, CgroupError> {
        if !fs::is_plain_relative(name) || name.contains('/') {
            return Err(CgroupError::InvalidName {
                name: name.to_owned(),
            });
        }
        let job = JobCgroup::new(name, self.parent.join(name), self.capabilities);
        let at = job.hierarchies();
        let mut made = Vec::new();
        let result = at
            .dirs()
            .into_iter()
            .try_for_each(|dir| {
                fs::create_fresh(dir)?;
                made.push(dir);
                Ok(())
            })
            .and_then(|()| match at.version {
                CgroupVersion::V2 => v2::write_limits(&at.memory, limits, &self.capabilities),
                CgroupVersion::V1 => v1::write_limits(at, limits, &self.capabilities),
            });
        if let Err(error) = result {
            // Undo only what we made (still empty); the error that matters is the one above.
            for dir in made {
                let _ = fs::remove_dir(dir);
            }
            return Err(error);
        }
        Ok(job)
    }

    /// Removes our (empty) parent in every hierarchy: for shutdown and tests, after
    /// [`Self::clean_stale`] or after every job was removed. Already removed is fine.
    pub fn remove_parent(&self) -> Result<(), CgroupError> {
        job::remove_all(&self.parent)
    }
}
