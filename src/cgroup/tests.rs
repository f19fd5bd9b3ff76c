//! The v2 file logic against a tempdir laid out like a cgroup2 filesystem: what detection and
//! job creation write, and how kill, wait, OOM and remove read and write their files.
//!
//! A tempdir is not a cgroupfs: the kernel would create `memory.max` and friends on `mkdir` and
//! drop them on `rmdir`. Here writes create the files, and tests delete them before `remove`.

use std::fs as stdfs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::*;

struct FakeRoot {
    dir: TempDir,
}

impl FakeRoot {
    /// A cgroup2 root with the given controllers and a parent left by an earlier run (so the
    /// kernel-made files a non-root cgroup has are there).
    fn new(controllers: &str, parent_files: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        stdfs::create_dir_all(root.join("executor")).unwrap();
        stdfs::write(root.join("cgroup.controllers"), controllers).unwrap();
        for file in parent_files {
            stdfs::write(root.join("executor").join(file), "").unwrap();
        }
        let line = format!(
            "30 23 0:26 / {} rw,nosuid - cgroup2 cgroup2 rw\n",
            root.display()
        );
        stdfs::write(dir.path().join("mountinfo"), line).unwrap();
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("cgroup")
    }

    fn detect(&self, parent: &str) -> Result<Cgroups, CgroupError> {
        Cgroups::detect(&self.dir.path().join("mountinfo"), &self.root(), parent)
    }
}

const ALL: &str = "cpuset cpu io memory pids\n";
const KERNEL_FILES: [&str; 3] = ["cgroup.kill", "memory.swap.max", "memory.oom.group"];

fn read(path: &Path) -> String {
    stdfs::read_to_string(path).unwrap()
}

fn limits() -> CgroupLimits {
    CgroupLimits {
        memory_bytes: 50 << 20,
        cpu: Some(CpuQuota {
            quota: Duration::from_millis(50),
            period: Duration::from_millis(100),
        }),
        pids_max: 64,
    }
}

#[test]
fn detect_enables_controllers_from_root_down_to_parent() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    let cgroups = fake.detect("executor").unwrap();
    assert_eq!(cgroups.version(), CgroupVersion::V2);
    let root = fake.root();
    assert_eq!(
        read(&root.join("cgroup.subtree_control")),
        "+memory +cpu +pids"
    );
    assert_eq!(
        read(&root.join("executor/cgroup.subtree_control")),
        "+memory +cpu +pids"
    );
    assert_eq!(cgroups.parent_dirs(), vec![root.join("executor")]);
    let line = cgroups.describe();
    assert!(line.starts_with("cgroup v2: parent "), "{line}");
    assert!(line.contains("oom_group yes, swap_limit yes"), "{line}");
}

#[test]
fn detect_creates_a_nested_parent_and_enables_every_level() {
    let fake = FakeRoot::new(ALL, &[]);
    stdfs::create_dir_all(fake.root().join("system.slice/executor")).unwrap();
    stdfs::write(fake.root().join("system.slice/executor/cgroup.kill"), "").unwrap();
    fake.detect("system.slice/executor").unwrap();
    for level in ["", "system.slice", "system.slice/executor"] {
        let control = fake.root().join(level).join("cgroup.subtree_control");
        assert_eq!(read(&control), "+memory +cpu +pids", "{level}");
    }
}

#[test]
fn detect_names_missing_controllers_and_missing_kill() {
    let fake = FakeRoot::new("cpuset cpu io\n", &KERNEL_FILES);
    let error = fake.detect("executor").unwrap_err().to_string();
    assert!(
        error.contains("lacks the memory, pids controller(s)"),
        "{error}"
    );

    let fake = FakeRoot::new(ALL, &["memory.swap.max"]);
    let error = fake.detect("executor").unwrap_err().to_string();
    assert!(error.contains("no way to kill a job"), "{error}");
    assert!(error.contains("cgroup.kill"), "{error}");
}

#[test]
fn detect_and_create_reject_names_that_escape_the_parent() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    for bad in ["", "../up", "/abs"] {
        assert!(matches!(
            fake.detect(bad),
            Err(CgroupError::InvalidName { .. })
        ));
    }
    let cgroups = fake.detect("executor").unwrap();
    for bad in ["", "..", "a/b"] {
        let result = cgroups.create(bad, &limits());
        assert!(
            matches!(result, Err(CgroupError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn create_writes_every_limit_once_and_refuses_reuse() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    let cgroups = fake.detect("executor").unwrap();
    let job = cgroups.create("job-1", &limits()).unwrap();
    let dir = fake.root().join("executor/job-1");
    assert_eq!(job.name(), "job-1");
    assert_eq!(job.dirs(), vec![dir.clone()]);
    assert_eq!(job.procs_files(), vec![dir.join("cgroup.procs")]);
    let expected = [
        ("memory.max", "52428800"),
        ("memory.swap.max", "0"),
        ("memory.oom.group", "1"),
        ("cpu.max", "50000 100000"),
        ("pids.max", "64"),
    ];
    for (file, value) in expected {
        assert_eq!(read(&dir.join(file)), value, "{file}");
    }
    let again = cgroups.create("job-1", &limits());
    assert!(matches!(again, Err(CgroupError::CreateDir { .. })));
    assert!(
        dir.exists(),
        "a failed create leaves the existing cgroup alone"
    );
}

#[test]
fn create_without_quota_or_swap_accounting() {
    let fake = FakeRoot::new(ALL, &["cgroup.kill"]);
    let cgroups = fake.detect("executor").unwrap();
    let unthrottled = CgroupLimits {
        cpu: None,
        ..limits()
    };
    cgroups.create("job-2", &unthrottled).unwrap();
    let dir = fake.root().join("executor/job-2");
    assert_eq!(read(&dir.join("cpu.max")), "max");
    assert!(!dir.join("memory.swap.max").exists());
    assert!(!dir.join("memory.oom.group").exists());
}

#[test]
fn oom_is_read_from_memory_events_by_key() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    let job = fake
        .detect("executor")
        .unwrap()
        .create("job-3", &limits())
        .unwrap();
    let events = fake.root().join("executor/job-3/memory.events");
    stdfs::write(
        &events,
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\noom_group_kill 0\n",
    )
    .unwrap();
    assert!(!job.oom_killed().unwrap());
    stdfs::write(
        &events,
        "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n",
    )
    .unwrap();
    assert!(job.oom_killed().unwrap());
    stdfs::write(&events, "oom_group_kill 1\n").unwrap();
    assert!(job.oom_killed().unwrap());
    stdfs::write(&events, "populated 0\n").unwrap();
    assert!(matches!(job.oom_killed(), Err(CgroupError::Parse { .. })));
}

#[tokio::test(start_paused = true)]
async fn kill_writes_cgroup_kill_and_wait_reads_populated() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    let job = fake
        .detect("executor")
        .unwrap()
        .create("job-4", &limits())
        .unwrap();
    let dir = fake.root().join("executor/job-4");
    job.kill_all().unwrap();
    assert_eq!(read(&dir.join("cgroup.kill")), "1");

    stdfs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    let waited = job.wait_empty(Duration::from_secs(1)).await;
    assert!(matches!(waited, Err(CgroupError::NotEmpty { path, .. }) if path == dir));
    stdfs::write(dir.join("cgroup.events"), "populated 0\nfrozen 0\n").unwrap();
    job.wait_empty(Duration::from_secs(1)).await.unwrap();
}

#[test]
fn remove_is_a_plain_rmdir_and_idempotent() {
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    let cgroups = fake.detect("executor").unwrap();
    let job = cgroups.create("job-5", &limits()).unwrap();
    let dir = fake.root().join("executor/job-5");
    assert!(matches!(job.remove(), Err(CgroupError::RemoveDir { .. })));
    // The kernel drops these with the directory; a tempdir needs them deleted first.
    for entry in stdfs::read_dir(&dir).unwrap() {
        stdfs::remove_file(entry.unwrap().path()).unwrap();
    }
    job.remove().unwrap();
    assert!(!dir.exists());
    job.remove().unwrap();
}

#[test]
fn only_a_non_root_mount_root_is_vacated() {
    // The kernel's root cgroup (no cgroup.type) may hold processes: left alone.
    let fake = FakeRoot::new(ALL, &KERNEL_FILES);
    stdfs::write(fake.root().join("cgroup.procs"), "1\n").unwrap();
    fake.detect("executor").unwrap();
    assert!(!fake.root().join(v2::MOUNT_ROOT_LEAF).exists());

    // A namespace root (cgroup.type) holding a process: it is written into the leaf. A tempdir
    // does not move it, so detection gives up after its rounds and says why.
    stdfs::write(fake.root().join("cgroup.type"), "domain\n").unwrap();
    let error = fake.detect("executor").unwrap_err().to_string();
    assert!(error.contains("still holds processes"), "{error}");
    let leaf = fake.root().join(v2::MOUNT_ROOT_LEAF);
    assert_eq!(read(&leaf.join("cgroup.procs")), "1");

    // Once empty, detection goes on as before.
    stdfs::write(fake.root().join("cgroup.procs"), "").unwrap();
    fake.detect("executor").unwrap();
}
