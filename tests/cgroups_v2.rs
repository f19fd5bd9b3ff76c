//! Real-kernel tests of what only a pure cgroup v2 host has: the no-internal-process rule on a
//! mount root that is not the kernel's root cgroup (a container's cgroup-namespace root).
//!
//! They need the unified hierarchy with controllers at `/sys/fs/cgroup`, so they do their work in
//! the VM tier (tests/cgroup_v2_vm.rs sets `SERVERLESS_EXECUTOR_TEST_CGROUP=v2`, and then a host
//! without it is a failure); on a hybrid or v1 host they return at once, saying so.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serverless_executor::cgroup::{CgroupLimits, Cgroups};

const ROOT: &str = "/sys/fs/cgroup";

/// Whether `/sys/fs/cgroup` is cgroup2 with the memory controller (panics if the VM tier
/// expects v2 and it is not).
fn pure_v2() -> bool {
    let controllers = std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"));
    let v2 = controllers.is_ok_and(|text| text.split_whitespace().any(|c| c == "memory"));
    let expected = std::env::var("SERVERLESS_EXECUTOR_TEST_CGROUP").is_ok_and(|v| v == "v2");
    assert!(
        v2 || !expected,
        "SERVERLESS_EXECUTOR_TEST_CGROUP=v2 but {ROOT} is not pure v2"
    );
    if !v2 {
        eprintln!("{ROOT} is not pure cgroup v2: this test runs in the VM tier");
    }
    v2
}

fn procs(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// A non-root cgroup holding one process, like the root of a container's cgroup namespace;
/// kills the process and removes the cgroups on drop.
struct NamespaceRoot {
    dir: PathBuf,
    sleeper: Child,
}

impl NamespaceRoot {
    fn new() -> Self {
        let dir = Path::new(ROOT).join(format!(
            "serverless-executor-test-{}-ns",
            std::process::id()
        ));
        std::fs::write(
            Path::new(ROOT).join("cgroup.subtree_control"),
            "+memory +cpu +pids",
        )
        .unwrap();
        std::fs::create_dir(&dir).unwrap();
        let sleeper = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::fs::write(dir.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
        Self { dir, sleeper }
    }

    /// A mountinfo that shows cgroup2 mounted at this cgroup, as a container sees it.
    fn mountinfo(&self, at: &Path) -> PathBuf {
        let path = at.join("mountinfo");
        let line = format!(
            "30 23 0:26 / {} rw - cgroup2 cgroup2 rw\n",
            self.dir.display()
        );
        std::fs::write(&path, line).unwrap();
        path
    }
}

impl Drop for NamespaceRoot {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let mut dirs: Vec<PathBuf> = walkdirs(&self.dir);
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn walkdirs(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            all.extend(walkdirs(&entry.path()));
        }
    }
    all
}

#[test]
fn a_mount_root_holding_processes_is_vacated_before_controllers_are_enabled() {
    if !pure_v2() {
        return;
    }
    let ns_root = NamespaceRoot::new();
    let temp = tempfile::tempdir().unwrap();
    let pid = ns_root.sleeper.id().to_string();
    assert_eq!(procs(&ns_root.dir), vec![pid.clone()]);

    let cgroups = Cgroups::detect(&ns_root.mountinfo(temp.path()), &ns_root.dir, "executor")
        .unwrap_or_else(|error| panic!("detect below a populated namespace root: {error:?}"));
    assert!(
        procs(&ns_root.dir).is_empty(),
        "the namespace root holds no process any more"
    );
    let moved: Vec<String> = walkdirs(&ns_root.dir)
        .iter()
        .flat_map(|dir| procs(dir))
        .collect();
    assert_eq!(moved, vec![pid], "the process was moved, not killed");

    let limits = CgroupLimits {
        memory_bytes: 64 << 20,
        cpu: None,
        pids_max: 16,
    };
    let job = cgroups.create("job-1", &limits).unwrap();
    let dir = &job.dirs()[0];
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max"))
            .unwrap()
            .trim(),
        "67108864"
    );
    job.remove().unwrap();
    cgroups.remove_parent().unwrap();
}
