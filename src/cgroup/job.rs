//! [`JobCgroup`]: one job's fresh cgroup in every hierarchy we use, and the operations on it
//! (join files, kill, wait until empty, OOM evidence, remove).
//!
//! Created only by [`super::Cgroups::create`] (and for leftovers by `clean_stale`). Receives
//! nothing; writes cgroupfs files and, on pure v1, sends SIGKILL. Invariants: a cgroup serves
//! one process (a cold job, or a warm process that is discarded after any OOM), so the kernel
//! counters read by [`JobCgroup::oom_killed`] started at 0 for it; removal
//! is a plain `rmdir` per hierarchy (the kernel files vanish with the directory) and succeeds
//! only once no process is left, so callers kill and wait first; removing twice is fine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::kept::KeptFiles;
use super::{fs, v1, v2, Capabilities, CgroupError, CgroupVersion, KillMethod};

/// How often `wait_empty` looks again.
const POLL: Duration = Duration::from_millis(5);

/// One cgroup (our parent or a job) as a directory in each hierarchy. On v2 all are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchies {
    /// Which backend the directories belong to.
    pub(crate) version: CgroupVersion,
    /// Where memory limits and OOM counters live.
    pub(crate) memory: PathBuf,
    /// Where the CPU quota lives.
    pub(crate) cpu: PathBuf,
    /// Where `pids.max` lives.
    pub(crate) pids: PathBuf,
    /// Where we kill: a directory with `cgroup.kill` (v2, hybrid) or a v1 freezer directory.
    pub(crate) kill: PathBuf,
}

impl Hierarchies {
    /// The same directory for every role (v2).
    pub(crate) fn single(version: CgroupVersion, dir: PathBuf) -> Self {
        Self {
            version,
            memory: dir.clone(),
            cpu: dir.clone(),
            pids: dir.clone(),
            kill: dir,
        }
    }

    /// The child cgroup `name` in every hierarchy.
    pub(crate) fn join(&self, name: &str) -> Self {
        Self {
            version: self.version,
            memory: self.memory.join(name),
            cpu: self.cpu.join(name),
            pids: self.pids.join(name),
            kill: self.kill.join(name),
        }
    }

    /// Every distinct directory, memory first and the kill hierarchy last.
    pub(crate) fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::with_capacity(4);
        for dir in [&self.memory, &self.cpu, &self.pids, &self.kill] {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

/// The memory files read after every job: the OOM counter, current memory and peak memory
/// (v2 `memory.peak` needs kernel 5.19+). One table, so the files kept open are the files read.
#[derive(Debug, Clone, Copy)]
struct MemoryFiles {
    oom: &'static str,
    current: &'static str,
    peak: &'static str,
}

impl MemoryFiles {
    fn of(version: CgroupVersion) -> Self {
        match version {
            CgroupVersion::V2 => Self {
                oom: v2::OOM_FILE,
                current: "memory.current",
                peak: "memory.peak",
            },
            CgroupVersion::V1 => Self {
                oom: v1::OOM_FILE,
                current: "memory.usage_in_bytes",
                peak: "memory.max_usage_in_bytes",
            },
        }
    }

    fn all(self) -> [&'static str; 3] {
        [self.oom, self.current, self.peak]
    }
}

/// One job's cgroup. Made fresh per job by [`super::Cgroups::create`]; remove it when done.
#[derive(Debug, Clone)]
pub struct JobCgroup {
    name: String,
    at: Hierarchies,
    /// Copied from detection so the job knows how to kill and which files exist.
    capabilities: Capabilities,
    /// The counters read after every job, kept open once read (shared by clones).
    kept: Arc<KeptFiles>,
}

impl JobCgroup {
    pub(crate) fn new(name: &str, at: Hierarchies, capabilities: Capabilities) -> Self {
        Self {
            name: name.to_owned(),
            kept: Arc::new(KeptFiles::new(
                MemoryFiles::of(at.version)
                    .all()
                    .map(|name| at.memory.join(name)),
            )),
            at,
            capabilities,
        }
    }

    pub(crate) fn hierarchies(&self) -> &Hierarchies {
        &self.at
    }

    /// The name given at creation, e.g. `job-17`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This job's directory in every hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.at.dirs().into_iter().map(Path::to_path_buf).collect()
    }

    /// The `cgroup.procs` files a process writes `0` into to join this job in every hierarchy.
    /// All of them must be written before the job's code starts, or a kill may miss it.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.at
            .dirs()
            .into_iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// SIGKILLs every process of the job: `cgroup.kill` on v2 or hybrid, the freezer on pure
    /// v1. Returns once the signals are sent; use [`Self::wait_empty`] to see them land.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        match self.capabilities.kill {
            KillMethod::CgroupKill if self.at.kill.exists() => {
                fs::write(&self.at.kill.join("cgroup.kill"), "1")
            }
            KillMethod::CgroupKill => Ok(()),
            KillMethod::Freezer => v1::freeze_kill(&self.at.kill),
        }
    }

    /// SIGKILLs every pid listed in any hierarchy (a backstop for leftovers that may sit in a
    /// hierarchy the kill method does not cover).
    pub(crate) fn kill_listed(&self) -> Result<(), CgroupError> {
        for procs in self.procs_files() {
            for pid in fs::read_pids(&procs)? {
                fs::sigkill(pid)?;
            }
        }
        Ok(())
    }

    /// Waits until no process is left in any hierarchy, or fails after `timeout`.
    pub async fn wait_empty(&self, timeout: Duration) -> Result<(), CgroupError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.first_populated()? {
                None => return Ok(()),
                Some(path) if Instant::now() >= deadline => {
                    return Err(CgroupError::NotEmpty { path, timeout })
                }
                Some(_) => sleep(POLL).await,
            }
        }
    }

    /// The first directory that still holds a process, if any.
    fn first_populated(&self) -> Result<Option<PathBuf>, CgroupError> {
        for dir in self.at.dirs() {
            if populated(dir)? {
                return Ok(Some(dir.to_path_buf()));
            }
        }
        Ok(None)
    }

    /// Whether the kernel OOM-killed a process of this job (counters, never exit signals).
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        let read = |path: &Path| self.kept.read(path);
        match self.at.version {
            CgroupVersion::V2 => v2::oom_killed(&self.at.memory, read),
            CgroupVersion::V1 => v1::oom_killed(&self.at.memory, read),
        }
    }

    /// Memory charged to the cgroup now, in bytes (v2 `memory.current`, v1
    /// `memory.usage_in_bytes`): how close a reused warm process is to its limit.
    pub fn memory_bytes(&self) -> Result<u64, CgroupError> {
        self.read_bytes(MemoryFiles::of(self.at.version).current)
    }

    /// The most memory ever charged to the cgroup, in bytes (v2 `memory.peak`, kernel 5.19+;
    /// v1 `memory.max_usage_in_bytes`): what `run` reports as the job's peak memory.
    pub fn peak_memory_bytes(&self) -> Result<u64, CgroupError> {
        self.read_bytes(MemoryFiles::of(self.at.version).peak)
    }

    fn read_bytes(&self, file: &str) -> Result<u64, CgroupError> {
        let path = self.at.memory.join(file);
        let text = self.kept.read(&path)?;
        text.trim().parse().map_err(|_| CgroupError::Parse {
            path,
            detail: format!("not a byte count: {}", text.trim()),
        })
    }

    /// Removes the job's directory in every hierarchy; fails with EBUSY while processes are
    /// left. Tries every hierarchy and reports the first failure. Already removed is fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        remove_all(&self.at)
    }
}

/// `rmdir` in every hierarchy, going on past failures; reports the first.
pub(crate) fn remove_all(at: &Hierarchies) -> Result<(), CgroupError> {
    let mut first_error = None;
    for dir in at.dirs() {
        if let Err(error) = fs::remove_dir(dir) {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether a cgroup directory holds processes: `cgroup.events` where it exists (cgroup2),
/// else a non-empty `cgroup.procs`. A directory that is gone holds none.
fn populated(dir: &Path) -> Result<bool, CgroupError> {
    if !dir.exists() {
        return Ok(false);
    }
    let events = dir.join("cgroup.events");
    if !events.exists() {
        return Ok(!fs::read_pids(&dir.join("cgroup.procs"))?.is_empty());
    }
    match fs::keyed_value(&fs::read(&events)?, "populated") {
        Some(count) => Ok(count > 0),
        None => Err(CgroupError::Parse {
            path: events,
            detail: "no populated key".to_owned(),
        }),
    }
}
