//! Real-cgroup tests for `serverless_executor::cgroup` on this host (v1, hybrid or v2; we run as
//! root): joining, killing, OOM evidence, pids limits, fork bombs, leftover cleanup, and the
//! pure-v1 freezer path (emulated on a hybrid host by hiding the cgroup2 mount from detection).
//!
//! Each test works under its own parent `serverless-executor-test-<pid>-<n>` so tests run in
//! parallel, and `with_parent` removes every cgroup of that parent afterwards, even on failure.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::error::Error;
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use serverless_executor::cgroup::{
    CgroupError, CgroupLimits, CgroupVersion, Cgroups, CpuQuota, JobCgroup,
};
use tokio::process::{Child, Command};
use tokio::time::{sleep, Instant};

const MOUNTINFO: &str = "/proc/self/mountinfo";
const ROOT: &str = "/sys/fs/cgroup";
const MIB: u64 = 1 << 20;
/// Set (to `v2`) by the VM tier (tests/cgroup_v2_vm.rs): detection must find that version.
const EXPECT_VERSION: &str = "SERVERLESS_EXECUTOR_TEST_CGROUP";

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn detect(mountinfo: &Path, parent: &str) -> Result<Cgroups, CgroupError> {
    Cgroups::detect(mountinfo, Path::new(ROOT), parent)
}

/// Runs `test` with a fresh parent, then removes every cgroup left under it and the parent.
async fn with_parent_from<F, Fut>(mountinfo: &Path, test: F)
where
    F: FnOnce(Cgroups) -> Fut,
    Fut: Future<Output = ()>,
{
    let parent = format!(
        "serverless-executor-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let cgroups = detect(mountinfo, &parent).unwrap_or_else(|error| {
        panic!(
            "these tests need root and usable cgroups: {}",
            chain(&error)
        )
    });
    if let Ok(expected) = std::env::var(EXPECT_VERSION) {
        let version = format!("{:?}", cgroups.version()).to_lowercase();
        assert_eq!(
            version,
            expected,
            "{EXPECT_VERSION}: {}",
            cgroups.describe()
        );
    }
    let outcome = AssertUnwindSafe(test(cgroups.clone())).catch_unwind().await;
    let left = cgroups.clean_stale().await;
    let removed = cgroups.remove_parent();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(left.unwrap(), 0, "the test removed its own job cgroups");
    removed.unwrap();
    for dir in cgroups.parent_dirs() {
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
}

async fn with_parent<F, Fut>(test: F)
where
    F: FnOnce(Cgroups) -> Fut,
    Fut: Future<Output = ()>,
{
    with_parent_from(Path::new(MOUNTINFO), test).await;
}

fn limits(memory_bytes: u64, pids_max: u64) -> CgroupLimits {
    CgroupLimits {
        memory_bytes,
        cpu: None,
        pids_max,
    }
}

/// Starts `/bin/sh` that joins the job the way the launcher does (write `0` to every
/// `cgroup.procs`), then runs `body`.
fn spawn_in(job: &JobCgroup, body: &str) -> Child {
    let joins: String = job
        .procs_files()
        .iter()
        .map(|procs| format!("echo 0 > '{}'; ", procs.display()))
        .collect();
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("set -e; {joins}set +e; {body}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The job directory holding `file` (so tests work on v1 and v2 alike).
fn dir_with(job: &JobCgroup, file: &str) -> PathBuf {
    job.dirs()
        .into_iter()
        .find(|dir| dir.join(file).exists())
        .unwrap_or_else(|| panic!("no job dir has {file}"))
}

fn keyed(path: &Path, key: &str) -> u64 {
    read(path)
        .lines()
        .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

async fn joined(job: &JobCgroup, child: &Child) {
    let pid = child.id().unwrap().to_string();
    eventually("the child joined every hierarchy", || {
        job.procs_files()
            .iter()
            .all(|procs| read(procs).lines().any(|line| line == pid))
    })
    .await;
}

async fn kill_wait_remove(job: &JobCgroup) {
    job.kill_all().unwrap();
    job.wait_empty(Duration::from_secs(10)).await.unwrap();
    for procs in job.procs_files() {
        assert_eq!(read(&procs), "", "{} is empty", procs.display());
    }
    job.remove().unwrap();
    for dir in job.dirs() {
        assert!(!dir.exists(), "{} was removed", dir.display());
    }
}

#[tokio::test]
async fn describe_names_the_mode_and_kill_method() {
    with_parent(|cgroups| async move {
        let line = cgroups.describe();
        eprintln!("{line}");
        assert!(line.starts_with("cgroup v"), "{line}");
        assert!(line.contains("kill cgroup.kill in") || line.contains("kill v1 freezer in"));
    })
    .await;
}

#[tokio::test]
async fn kill_all_kills_a_joined_process_and_remove_deletes_every_dir() {
    with_parent(|cgroups| async move {
        let job = cgroups.create("job-1", &limits(256 * MIB, 64)).unwrap();
        let mut child = spawn_in(&job, "exec sleep 60");
        joined(&job, &child).await;
        kill_wait_remove(&job).await;
        job.remove().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
    })
    .await;
}

#[tokio::test]
async fn limits_are_written_to_the_real_files() {
    with_parent(|cgroups| async move {
        let quota = CpuQuota {
            quota: Duration::from_millis(50),
            period: Duration::from_millis(100),
        };
        let limits = CgroupLimits {
            cpu: Some(quota),
            ..limits(50 * MIB, 64)
        };
        let job = cgroups.create("job-1", &limits).unwrap();
        let expected: &[(&str, &str)] = match cgroups.version() {
            CgroupVersion::V2 => &[
                ("memory.max", "52428800"),
                ("cpu.max", "50000 100000"),
                ("pids.max", "64"),
            ],
            CgroupVersion::V1 => &[
                ("memory.limit_in_bytes", "52428800"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.cfs_period_us", "100000"),
                ("pids.max", "64"),
            ],
        };
        for (file, value) in expected {
            assert_eq!(
                read(&dir_with(&job, file).join(file)).trim(),
                *value,
                "{file}"
            );
        }
        for swap in ["memory.memsw.limit_in_bytes", "memory.swap.max"] {
            if let Some(dir) = job.dirs().into_iter().find(|dir| dir.join(swap).exists()) {
                let want = if swap == "memory.swap.max" {
                    "0"
                } else {
                    "52428800"
                };
                assert_eq!(read(&dir.join(swap)).trim(), want, "{swap}");
            }
        }
        job.remove().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_rejected_limit_leaves_no_cgroup_behind() {
    with_parent(|cgroups| async move {
        let tiny = CpuQuota {
            quota: Duration::from_micros(10),
            period: Duration::from_millis(100),
        };
        let bad = CgroupLimits {
            cpu: Some(tiny),
            ..limits(50 * MIB, 64)
        };
        let error = cgroups.create("job-1", &bad).unwrap_err();
        assert!(
            matches!(error, CgroupError::Write { .. }),
            "{}",
            chain(&error)
        );
        for dir in cgroups.parent_dirs() {
            assert!(!dir.join("job-1").exists());
        }
    })
    .await;
}

#[tokio::test]
async fn allocating_past_the_memory_limit_is_seen_as_oom() {
    with_parent(|cgroups| async move {
        let job = cgroups.create("job-1", &limits(50 * MIB, 64)).unwrap();
        let mut child = spawn_in(&job, "head -c 200M /dev/zero | tail > /dev/null");
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "{status:?}");
        if cgroups.describe().contains("oom_group yes") {
            assert_eq!(
                status.signal(),
                Some(9),
                "memory.oom.group kills the shell too"
            );
        }
        assert!(job.oom_killed().unwrap(), "the kernel counted an OOM kill");
        kill_wait_remove(&job).await;

        let job = cgroups.create("job-2", &limits(50 * MIB, 64)).unwrap();
        let mut child = spawn_in(&job, "head -c 10M /dev/zero | tail > /dev/null");
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
        assert!(!job.oom_killed().unwrap(), "no OOM under the limit");
        kill_wait_remove(&job).await;
    })
    .await;
}

#[tokio::test]
async fn pids_limit_stops_a_fork_flood() {
    with_parent(|cgroups| async move {
        let job = cgroups.create("job-1", &limits(256 * MIB, 5)).unwrap();
        let flood = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
                     sleep 60 & done; wait";
        let mut child = spawn_in(&job, flood);
        let pids = dir_with(&job, "pids.events");
        eventually("a fork failed at pids.max", || {
            keyed(&pids.join("pids.events"), "max") > 0
        })
        .await;
        assert!(keyed(&pids.join("pids.current"), "") <= 5);
        kill_wait_remove(&job).await;
        child.wait().await.unwrap();
    })
    .await;
}

/// A fork bomb killed while it is still forking (its cap is far away, so the shell is alive and
/// forks race the kill); every hierarchy must end up empty. (dash exits at its first failed
/// fork, so a bomb held at `pids.max` would be a shell that already gave up.)
async fn fork_bomb_is_fully_killed(cgroups: Cgroups) {
    let job = cgroups.create("job-1", &limits(512 * MIB, 1024)).unwrap();
    let mut child = spawn_in(&job, "while true; do sleep 100 & done");
    let pids = dir_with(&job, "pids.current");
    eventually("the bomb forked 50 tasks", || {
        keyed(&pids.join("pids.current"), "") >= 50
    })
    .await;
    kill_wait_remove(&job).await;
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "killed while forking: {status:?}");
}

#[tokio::test]
async fn kill_all_stops_a_fork_bomb() {
    with_parent(fork_bomb_is_fully_killed).await;
}

#[tokio::test]
async fn freezer_kill_stops_a_fork_bomb_on_pure_v1() {
    let probe = format!("serverless-executor-test-{}-probe", std::process::id());
    let host = detect(Path::new(MOUNTINFO), &probe).unwrap();
    host.remove_parent().unwrap();
    if host.version() == CgroupVersion::V2 {
        eprintln!("pure v2 host: no v1 freezer to test");
        return;
    }
    // Hide the hybrid cgroup2 mount so detection falls back to the v1 freezer.
    let dir = tempfile::tempdir().unwrap();
    let mountinfo = dir.path().join("mountinfo");
    let v1_only: String = read(Path::new(MOUNTINFO))
        .lines()
        .filter(|line| !line.contains(" - cgroup2 "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&mountinfo, v1_only).unwrap();
    with_parent_from(&mountinfo, |cgroups| async move {
        assert!(cgroups.describe().contains("kill v1 freezer in"));
        fork_bomb_is_fully_killed(cgroups).await;
    })
    .await;
}

#[tokio::test]
async fn clean_stale_kills_and_removes_leftovers_of_a_crash() {
    with_parent(|cgroups| async move {
        let busy = cgroups.create("job-a", &limits(256 * MIB, 64)).unwrap();
        let idle = cgroups.create("job-b", &limits(256 * MIB, 64)).unwrap();
        let mut child = spawn_in(&busy, "exec sleep 60");
        joined(&busy, &child).await;

        let parent_name = cgroups.parent_dirs()[0].file_name().unwrap().to_owned();
        let restarted = detect(Path::new(MOUNTINFO), parent_name.to_str().unwrap()).unwrap();
        assert_eq!(restarted.clean_stale().await.unwrap(), 2);
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
        for dir in busy.dirs().into_iter().chain(idle.dirs()) {
            assert!(!dir.exists(), "{} was removed", dir.display());
        }
        assert_eq!(restarted.clean_stale().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_nested_parent_is_enabled_at_every_level() {
    let outer = format!("serverless-executor-test-{}-nested", std::process::id());
    let cgroups = detect(Path::new(MOUNTINFO), &format!("{outer}/inner")).unwrap();
    let job = cgroups.create("job-1", &limits(64 * MIB, 16)).unwrap();
    let mut child = spawn_in(&job, "exec sleep 60");
    joined(&job, &child).await;
    if cgroups.version() == CgroupVersion::V2 {
        let control = read(&Path::new(ROOT).join(&outer).join("cgroup.subtree_control"));
        let enabled: Vec<&str> = control.split_whitespace().collect();
        for controller in ["memory", "cpu", "pids"] {
            assert!(enabled.contains(&controller), "{outer}: {control}");
        }
    }
    kill_wait_remove(&job).await;
    assert_eq!(child.wait().await.unwrap().signal(), Some(9));
    cgroups.remove_parent().unwrap();
    for dir in cgroups.parent_dirs() {
        std::fs::remove_dir(dir.parent().unwrap()).unwrap();
    }
}
