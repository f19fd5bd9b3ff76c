//! The cgroup v2 backend: prepares our parent group, writes a job's limits and reads its OOM
//! counters in the unified hierarchy.
//!
//! Receives directories and [`CgroupLimits`] from [`super::Cgroups`] and [`super::JobCgroup`];
//! writes cgroupfs files only. Invariants: controllers are enabled top-down (root first, then
//! every ancestor down to our parent), so a job leaf always has `memory.*`, `cpu.*` and `pids.*`;
//! our parent never holds processes (the "no internal processes" rule), and neither does a mount
//! root that is a non-root cgroup (a container's cgroup namespace root: its processes, the node's
//! included, are moved to a leaf first); OOM evidence is read by key from `memory.events`, never
//! by line index.

use std::path::Path;

use super::job::Hierarchies;
use super::{fs, Capabilities, CgroupError, CgroupLimits, CgroupVersion, CpuQuota, KillMethod};

/// Controllers every job needs, in the form `cgroup.subtree_control` takes.
const ENABLE: &str = "+memory +cpu +pids";

/// The leaf, beside our parent, that takes the processes of a mount root which is not the
/// kernel's root cgroup (see [`vacate_mount_root`]).
pub(crate) const MOUNT_ROOT_LEAF: &str = "serverless-executor.init";

/// How many list-and-move rounds [`vacate_mount_root`] makes while processes keep forking.
const VACATE_ROUNDS: usize = 100;

/// The controllers named in a `cgroup.controllers` text that a job needs but are absent.
pub(crate) fn missing_controllers(controllers: &str) -> Vec<&'static str> {
    let available: Vec<&str> = controllers.split_whitespace().collect();
    ["memory", "cpu", "pids"]
        .into_iter()
        .filter(|needed| !available.contains(needed))
        .collect()
}

/// Creates `<mount>/<parent>`, enables the job controllers in every level from the mount down
/// to the parent, and reports what the kernel offers there.
pub(crate) fn prepare(
    mount: &Path,
    parent: &Path,
) -> Result<(Hierarchies, Capabilities), CgroupError> {
    let controllers = fs::read(&mount.join("cgroup.controllers"))?;
    let missing = missing_controllers(&controllers);
    if !missing.is_empty() {
        return Err(CgroupError::Unsupported {
            missing: format!(
                "the cgroup2 root {} lacks the {} controller(s)",
                mount.display(),
                missing.join(", ")
            ),
        });
    }
    let dir = mount.join(parent);
    fs::ensure_dir(&dir)?;
    vacate_mount_root(mount)?;
    let mut level = mount.to_path_buf();
    fs::write(&level.join("cgroup.subtree_control"), ENABLE)?;
    for part in parent.components() {
        level.push(part);
        fs::write(&level.join("cgroup.subtree_control"), ENABLE)?;
    }
    if !dir.join("cgroup.kill").exists() {
        return Err(CgroupError::Unsupported {
            missing: format!(
                "no way to kill a job: {} has no cgroup.kill (kernel 5.14+ needed) and a pure \
                 cgroup2 host has no v1 freezer",
                dir.display()
            ),
        });
    }
    let capabilities = Capabilities {
        kill: KillMethod::CgroupKill,
        swap_limit: dir.join("memory.swap.max").exists(),
        oom_group: dir.join("memory.oom.group").exists(),
    };
    Ok((Hierarchies::single(CgroupVersion::V2, dir), capabilities))
}

/// Moves every process out of a mount root that is a non-root cgroup (the root of a container's
/// cgroup namespace, where the node itself usually sits) into [`MOUNT_ROOT_LEAF`]: the kernel's
/// no-internal-process rule refuses `cgroup.subtree_control` writes (EBUSY) in a non-root cgroup
/// that holds processes. The kernel's root cgroup (it has no `cgroup.type`) is exempt from the
/// rule and left alone. Processes that exit meanwhile are fine.
pub(crate) fn vacate_mount_root(mount: &Path) -> Result<(), CgroupError> {
    if !mount.join("cgroup.type").exists() {
        return Ok(());
    }
    let procs = mount.join("cgroup.procs");
    let leaf = mount.join(MOUNT_ROOT_LEAF);
    for _ in 0..VACATE_ROUNDS {
        let pids = fs::read_pids(&procs)?;
        if pids.is_empty() {
            return Ok(());
        }
        fs::ensure_dir(&leaf)?;
        for pid in pids {
            match fs::write(&leaf.join("cgroup.procs"), &pid.to_string()) {
                Err(CgroupError::Write { source, .. })
                    if source.raw_os_error() == Some(nix::libc::ESRCH) => {}
                other => other?,
            }
        }
    }
    Err(CgroupError::Unsupported {
        missing: format!(
            "{} still holds processes after {VACATE_ROUNDS} rounds of moving them to {}:              controllers cannot be enabled below a populated non-root cgroup",
            mount.display(),
            leaf.display()
        ),
    })
}

/// Writes a job's limits into its fresh leaf `dir`.
pub(crate) fn write_limits(
    dir: &Path,
    limits: &CgroupLimits,
    capabilities: &Capabilities,
) -> Result<(), CgroupError> {
    fs::write(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
    if capabilities.swap_limit {
        fs::write(&dir.join("memory.swap.max"), "0")?;
    }
    if capabilities.oom_group {
        // One OOM kill takes the whole job down instead of leaving a maimed workerd behind.
        fs::write(&dir.join("memory.oom.group"), "1")?;
    }
    fs::write(&dir.join("cpu.max"), &format_cpu_max(limits.cpu))?;
    fs::write(&dir.join("pids.max"), &limits.pids_max.to_string())
}

/// The `cpu.max` line for a quota: `"<quota_us> <period_us>"`, or `"max"` (no quota, default
/// period) when there is none.
pub(crate) fn format_cpu_max(cpu: Option<CpuQuota>) -> String {
    match cpu {
        Some(quota) => format!("{} {}", quota.quota_us(), quota.period_us()),
        None => "max".to_owned(),
    }
}

/// Whether a `memory.events` text shows an OOM kill (`oom_kill` or `oom_group_kill` above 0).
/// `None` when neither key is present (not a `memory.events` file).
pub(crate) fn events_show_oom(events: &str) -> Option<bool> {
    let kill = fs::keyed_value(events, "oom_kill");
    let group = fs::keyed_value(events, "oom_group_kill");
    match (kill, group) {
        (None, None) => None,
        (kill, group) => Some(kill.unwrap_or(0) > 0 || group.unwrap_or(0) > 0),
    }
}

/// The file whose `oom_kill` counter is a job's OOM evidence.
pub(crate) const OOM_FILE: &str = "memory.events";

/// Reads a job's `memory.events` with `read` and says whether the kernel OOM-killed anything
/// in it.
pub(crate) fn oom_killed(
    dir: &Path,
    read: impl Fn(&Path) -> Result<String, CgroupError>,
) -> Result<bool, CgroupError> {
    let path = dir.join(OOM_FILE);
    let text = read(&path)?;
    events_show_oom(&text).ok_or_else(|| CgroupError::Parse {
        path,
        detail: "no oom_kill key".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cpu_max_formats_quota_and_period_in_micros() {
        let half = CpuQuota {
            quota: Duration::from_millis(50),
            period: Duration::from_millis(100),
        };
        assert_eq!(format_cpu_max(Some(half)), "50000 100000");
        assert_eq!(format_cpu_max(None), "max");
    }

    #[test]
    fn memory_events_are_read_by_key() {
        let quiet = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n";
        assert_eq!(events_show_oom(quiet), Some(false));
        let killed = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n";
        assert_eq!(events_show_oom(killed), Some(true));
        let group = "oom_group_kill 2\noom_kill 0\nlow 0\n";
        assert_eq!(events_show_oom(group), Some(true));
        assert_eq!(events_show_oom("populated 1\n"), None);
    }

    #[test]
    fn missing_controllers_are_listed() {
        assert!(missing_controllers("cpuset cpu io memory pids").is_empty());
        assert_eq!(
            missing_controllers("cpuset io memory\n"),
            vec!["cpu", "pids"]
        );
        assert_eq!(
            missing_controllers("hugetlb"),
            vec!["memory", "cpu", "pids"]
        );
    }
}
