//! The cgroup v1 backend (including the hybrid layout): prepares our parent in the memory, cpu
//! and pids hierarchies plus one kill hierarchy, writes a job's limits, kills through the
//! freezer when there is no `cgroup.kill`, and reads OOM counters.
//!
//! Receives directories and [`CgroupLimits`] from [`super::Cgroups`] and [`super::JobCgroup`];
//! writes cgroupfs files and sends SIGKILL (freezer fallback only). Invariants: the kill
//! hierarchy is the hybrid cgroup2 mount when it has `cgroup.kill`, else the v1 freezer, else we
//! refuse to start; the memory limit is written before the memory+swap limit (the kernel
//! requires `limit <= memsw`); the period is written before the quota; a freezer kill always
//! thaws, even when a kill fails.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::detect::V1Mounts;
use super::job::Hierarchies;
use super::{fs, Capabilities, CgroupError, CgroupLimits, CgroupVersion, KillMethod};

/// How many list-and-kill rounds a freezer kill makes at most while the cgroup is `FREEZING`.
const FREEZE_ROUNDS: usize = 1000;

/// Creates our parent in every hierarchy we use and reports what the kernel offers there.
pub(crate) fn prepare(
    mounts: &V1Mounts,
    parent: &Path,
) -> Result<(Hierarchies, Capabilities), CgroupError> {
    let memory = mounts.memory.join(parent);
    let cpu = mounts.cpu.join(parent);
    let pids = mounts.pids.join(parent);
    for dir in [&memory, &cpu, &pids] {
        fs::ensure_dir(dir)?;
    }
    let (kill_method, kill) = kill_hierarchy(mounts, parent)?;
    let capabilities = Capabilities {
        kill: kill_method,
        swap_limit: memory.join("memory.memsw.limit_in_bytes").exists(),
        oom_group: false,
    };
    let hierarchies = Hierarchies {
        version: CgroupVersion::V1,
        memory,
        cpu,
        pids,
        kill,
    };
    Ok((hierarchies, capabilities))
}

/// Picks and prepares the hierarchy used to kill a job: hybrid `cgroup.kill`, else the freezer.
fn kill_hierarchy(mounts: &V1Mounts, parent: &Path) -> Result<(KillMethod, PathBuf), CgroupError> {
    if let Some(unified) = &mounts.unified {
        let dir = unified.join(parent);
        let existed = dir.exists();
        fs::ensure_dir(&dir)?;
        if dir.join("cgroup.kill").exists() {
            return Ok((KillMethod::CgroupKill, dir));
        }
        if !existed {
            fs::remove_dir(&dir)?;
        }
    }
    if let Some(freezer) = &mounts.freezer {
        let dir = freezer.join(parent);
        fs::ensure_dir(&dir)?;
        return Ok((KillMethod::Freezer, dir));
    }
    Err(CgroupError::Unsupported {
        missing: "no way to kill a job: neither cgroup.kill (a cgroup2 mount on kernel 5.14+) \
                  nor a v1 freezer hierarchy is available"
            .to_owned(),
    })
}

/// Writes a job's limits into its fresh leaves.
pub(crate) fn write_limits(
    at: &Hierarchies,
    limits: &CgroupLimits,
    capabilities: &Capabilities,
) -> Result<(), CgroupError> {
    let bytes = limits.memory_bytes.to_string();
    fs::write(&at.memory.join("memory.limit_in_bytes"), &bytes)?;
    if capabilities.swap_limit {
        fs::write(&at.memory.join("memory.memsw.limit_in_bytes"), &bytes)?;
    }
    let quota = match limits.cpu {
        Some(cpu) => {
            let period = cpu.period_us().to_string();
            fs::write(&at.cpu.join("cpu.cfs_period_us"), &period)?;
            cpu.quota_us().to_string()
        }
        None => "-1".to_owned(),
    };
    fs::write(&at.cpu.join("cpu.cfs_quota_us"), &quota)?;
    fs::write(&at.pids.join("pids.max"), &limits.pids_max.to_string())
}

/// SIGKILLs every process of a v1 freezer cgroup without a fork racing the kill (runc's
/// fallback): freeze, kill every listed pid until the set is stable and frozen, thaw.
pub(crate) fn freeze_kill(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    let state = dir.join("freezer.state");
    fs::write(&state, "FROZEN")?;
    let killed = kill_until_frozen(dir);
    let thawed = fs::write(&state, "THAWED");
    killed.and(thawed)
}

/// Kills listed pids round after round until no new pid shows up and the cgroup is `FROZEN`.
/// Tasks forked while `FREEZING` are frozen at birth, so the rounds end; if the bound is hit,
/// every listed process still has SIGKILL pending and dies once thawed.
fn kill_until_frozen(dir: &Path) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    let state = dir.join("freezer.state");
    let mut killed = HashSet::new();
    for _ in 0..FREEZE_ROUNDS {
        let fresh: Vec<i32> = fs::read_pids(&procs)?
            .into_iter()
            .filter(|pid| killed.insert(*pid))
            .collect();
        for pid in &fresh {
            fs::sigkill(*pid)?;
        }
        if fresh.is_empty() && fs::read(&state)?.trim() == "FROZEN" {
            break;
        }
    }
    Ok(())
}

/// Whether a `memory.oom_control` text shows an OOM kill; `None` when it has no `oom_kill`
/// counter (kernels before 4.13).
pub(crate) fn oom_control_shows_oom(text: &str) -> Option<bool> {
    fs::keyed_value(text, "oom_kill").map(|count| count > 0)
}

/// The file whose `oom_kill` counter is a job's OOM evidence.
pub(crate) const OOM_FILE: &str = "memory.oom_control";

/// Reads a job's OOM evidence with `read`: `memory.oom_control` `oom_kill`, or `memory.failcnt`
/// (limit hits, a weaker sign) on kernels without that counter.
pub(crate) fn oom_killed(
    memory: &Path,
    read: impl Fn(&Path) -> Result<String, CgroupError>,
) -> Result<bool, CgroupError> {
    let text = read(&memory.join(OOM_FILE))?;
    if let Some(killed) = oom_control_shows_oom(&text) {
        return Ok(killed);
    }
    let path = memory.join("memory.failcnt");
    let count: u64 = read(&path)?
        .trim()
        .parse()
        .map_err(|_| CgroupError::Parse {
            path,
            detail: "expected a number".to_owned(),
        })?;
    Ok(count > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_control_is_read_by_key() {
        let quiet = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
        assert_eq!(oom_control_shows_oom(quiet), Some(false));
        let killed = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(oom_control_shows_oom(killed), Some(true));
        assert_eq!(
            oom_control_shows_oom("oom_kill_disable 0\nunder_oom 0\n"),
            None
        );
    }

    #[test]
    fn failcnt_is_the_fallback_without_an_oom_kill_counter() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.oom_control"), "under_oom 0\n").unwrap();
        std::fs::write(dir.path().join("memory.failcnt"), "0\n").unwrap();
        assert!(!oom_killed(dir.path(), fs::read).unwrap());
        std::fs::write(dir.path().join("memory.failcnt"), "17\n").unwrap();
        assert!(oom_killed(dir.path(), fs::read).unwrap());
        std::fs::write(dir.path().join("memory.oom_control"), "oom_kill 0\n").unwrap();
        assert!(
            !oom_killed(dir.path(), fs::read).unwrap(),
            "oom_kill wins over failcnt"
        );
    }
}
