//! The job jail, through the node's own launcher and command builder (`sandbox-exec`, as every
//! execution mode starts workerd): a native stand-in (`jail-probe`) tries every escape and must
//! fail at each; a real workerd in the jail has the job uid, no capabilities, a seccomp filter
//! and its own namespaces, dies with its launcher, and its end is mirrored faithfully.
//!
//! Needs root, real cgroups (v1, hybrid or v2) and the built binaries only, so it also runs as
//! a plain `cargo test --test jail` binary inside the cgroup-v2 VM tier.

// Plain synchronous tests, no arbiter to block: `std::thread::sleep` is fine here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use serde_json::Value;
use serverless_executor::cgroup::{CgroupLimits, Cgroups, JobCgroup};
use serverless_executor::config::JailConfig;
use serverless_executor::sandbox::command::{launcher_command, JobJail};
use serverless_executor::sandbox::seccomp::Mode;
use serverless_executor::sandbox::settings::JailSettings;

const LAUNCHER: &str = env!("CARGO_BIN_EXE_serverless-executor");
const PROBE: &str = env!("CARGO_BIN_EXE_jail-probe");
const UID_BASE: u32 = 2_000_000;
const PIDS_MAX: u64 = 16;
const FILE_SIZE_MAX: u64 = 2 << 20;
const SIGSYS: i64 = 31;

/// Distinct slots per test, as the cgroup pool hands out.
static NEXT_SLOT: AtomicU32 = AtomicU32::new(100);

fn workerd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/workerd")
}

fn every_layer() -> JailConfig {
    JailConfig {
        uid_base: UID_BASE,
        identity: true,
        filesystem: true,
        namespaces: true,
        seccomp: Some(Mode::Deny),
        landlock: true,
        open_files_max: 256,
        file_size_max_bytes: FILE_SIZE_MAX,
    }
}

/// A job cgroup under a parent of its own, removed on drop.
struct TestCgroup {
    cgroups: Cgroups,
    job: JobCgroup,
}

impl TestCgroup {
    fn new(name: &str) -> Self {
        let parent = format!("serverless-executor-jailtest-{}-{name}", std::process::id());
        let cgroups = Cgroups::detect(
            Path::new("/proc/self/mountinfo"),
            Path::new("/sys/fs/cgroup"),
            &parent,
        )
        .expect("the jail tests need root and usable cgroups");
        let limits = CgroupLimits {
            memory_bytes: 512 << 20,
            cpu: None,
            pids_max: PIDS_MAX,
        };
        let job = cgroups.create("job", &limits).unwrap();
        Self { cgroups, job }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.job.kill_all();
        for _ in 0..100 {
            if self.job.remove().is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.cgroups.remove_parent();
    }
}

struct Jail {
    _dir: tempfile::TempDir,
    job_dir: PathBuf,
    settings: JailSettings,
    slot: u32,
}

fn jail(program: &Path) -> Jail {
    let dir = tempfile::tempdir().unwrap();
    let job_root = dir.path().join("jobs");
    let job_dir = job_root.join("job-1");
    std::fs::create_dir_all(&job_dir).unwrap();
    let settings = JailSettings::prepare(&every_layer(), true, program, &job_root).unwrap();
    Jail {
        _dir: dir,
        job_dir,
        settings,
        slot: NEXT_SLOT.fetch_add(1, Ordering::SeqCst),
    }
}

fn command(jail: &Jail, cgroup: &TestCgroup, program: &Path) -> std::process::Command {
    let procs = cgroup.job.procs_files();
    let job = JobJail {
        cgroup_procs: &procs,
        slot: jail.slot,
        dir: &jail.job_dir,
    };
    launcher_command(Path::new(LAUNCHER), &jail.settings, job, program)
}

#[test]
fn the_stand_in_fails_at_every_escape() {
    let cgroup = TestCgroup::new("probe");
    let jail = jail(Path::new(PROBE));
    let secret_dir = tempfile::tempdir().unwrap();
    let key = secret_dir.path().join("enclave.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let node_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let output = command(&jail, &cgroup, Path::new(PROBE))
        .arg("--node-pid")
        .arg(std::process::id().to_string())
        .arg("--key")
        .arg(&key)
        .arg("--cgroup-file")
        .arg(&cgroup.job.procs_files()[0])
        .arg("--tcp-port")
        .arg(node_port.local_addr().unwrap().port().to_string())
        .arg("--pids-max")
        .arg(PIDS_MAX.to_string())
        .arg("--file-size-max")
        .arg(FILE_SIZE_MAX.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}: {stdout} {stderr}",
        output.status
    );
    let results: HashMap<String, Value> = stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (value["attempt"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let result = |attempt: &str| {
        let value = results
            .get(attempt)
            .unwrap_or_else(|| panic!("no report for {attempt}: {stdout} {stderr}"))
            .clone();
        assert_eq!(value["ok"], false, "{attempt} succeeded: {value}");
        value
    };
    let errno = |attempt: &str, expected: i32| {
        let value = result(attempt);
        assert_eq!(value["errno"], expected, "{attempt}: {value}");
    };
    // Not in the view at all: no host files, no /proc, no cgroup fs.
    errno("read_key_by_path", libc::ENOENT);
    errno("read_key_via_proc_root", libc::ENOENT);
    errno("open_node_mem", libc::ENOENT);
    errno("write_cgroup_fs", libc::ENOENT);
    // The node is not in the job's pid namespace.
    errno("signal_node", libc::ESRCH);
    // Refused by the seccomp filter (or, for setuid, by having no capability).
    for attempt in ["mount", "unshare", "setns", "setuid_root"] {
        errno(attempt, libc::EPERM);
    }
    // Killed by the seccomp filter.
    for attempt in ["ptrace_node", "vsock_socket", "bpf"] {
        assert_eq!(result(attempt)["killed_by"], SIGSYS, "{attempt}");
    }
    // No interface in the job's network namespace (or Landlock's EACCES).
    let tcp = result("tcp_to_loopback");
    assert!(
        [libc::ENETUNREACH, libc::EACCES].contains(&(tcp["errno"].as_i64().unwrap() as i32)),
        "{tcp}"
    );
    let big = result("write_past_file_size_limit");
    assert_eq!(big["errno"], libc::EFBIG, "{big}");
    assert!(big["size"].as_u64().unwrap() <= FILE_SIZE_MAX, "{big}");
    let bomb = result("more_processes_than_pids_max");
    assert_eq!(bomb["errno"], libc::EAGAIN, "{bomb}");
    assert!(bomb["started"].as_u64().unwrap() < PIDS_MAX, "{bomb}");
    // `/` is either unlistable (Landlock) or holds only the jail's own entries.
    let root = &results["list_root"];
    if root["ok"] == true {
        let allowed = ["workerd", "lib", "lib64", "usr", "job", "tmp", "dev"];
        for entry in root["entries"].as_array().unwrap() {
            assert!(allowed.contains(&entry.as_str().unwrap()), "{root}");
        }
    } else {
        assert_eq!(root["errno"], libc::EACCES, "{root}");
    }
    let identity = &results["identity"];
    assert_eq!(identity["pid"], 1, "{identity}");
    assert_eq!(identity["uid"], UID_BASE + jail.slot, "{identity}");
    assert_eq!(identity["gid"], UID_BASE + jail.slot, "{identity}");
}

#[test]
fn the_launcher_mirrors_the_programs_exit_code() {
    let cgroup = TestCgroup::new("exit");
    let jail = jail(Path::new(PROBE));
    let status = command(&jail, &cgroup, Path::new(PROBE))
        .args(["--node-pid", "1", "--key", "/k", "--cgroup-file", "/c"])
        .args(["--tcp-port", "1", "--pids-max", "1", "--file-size-max", "1"])
        .args(["--single", "no-such-attempt"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status}");
}

const CONFIG: &str = r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w), (name = "internet", network = (allow = [])) ],
  sockets = [ (name = "http", service = "main", http = ()) ],
);
const w :Workerd.Worker = (
  modules = [ (name = "m.js", esModule = embed "m.js") ],
  compatibilityDate = "2023-03-07",
);
"#;

/// A jailed workerd serving `export default fetch → "up"` on a listener we bound.
struct JailedWorkerd {
    launcher: std::process::Child,
    workerd_pid: u32,
    _jail: Jail,
    _cgroup: TestCgroup,
}

fn start_workerd(name: &str) -> JailedWorkerd {
    let cgroup = TestCgroup::new(name);
    let jail = jail(&workerd());
    std::fs::write(jail.job_dir.join("config.capnp"), CONFIG).unwrap();
    std::fs::write(
        jail.job_dir.join("m.js"),
        r#"export default { async fetch() { return new Response("up"); } };"#,
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut command = command(&jail, &cgroup, &workerd());
    command
        .args(["serve", "config.capnp", "--socket-fd", "http=3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
        .fd_mappings(vec![FdMapping {
            parent_fd: listener.into(),
            child_fd: 3,
        }])
        .unwrap();
    let launcher = command.spawn().unwrap();
    // The request waits in the backlog until workerd serves: then the jail is complete.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("up"), "{answer}");
    let children = format!("/proc/{0}/task/{0}/children", launcher.id());
    let children = std::fs::read_to_string(children).unwrap();
    let workerd_pid = children.split_whitespace().next().unwrap().parse().unwrap();
    JailedWorkerd {
        launcher,
        workerd_pid,
        _jail: jail,
        _cgroup: cgroup,
    }
}

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_owned()
}

fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status_field(&status, "State").starts_with('Z'),
        Err(_) => true,
    }
}

#[test]
fn jailed_workerd_has_the_job_uid_no_capabilities_a_filter_and_its_own_namespaces() {
    let mut workerd = start_workerd("status");
    let pid = workerd.workerd_pid;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = (UID_BASE + workerd._jail.slot).to_string();
    assert_eq!(status_field(&status, "Name"), "workerd");
    for field in ["Uid", "Gid"] {
        let ids = status_field(&status, field);
        assert!(ids.split_whitespace().all(|id| id == uid), "{field}: {ids}");
    }
    assert_eq!(status_field(&status, "Groups"), "");
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&status, field), "0000000000000000", "{field}");
    }
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    // workerd is pid 1 of its own pid namespace.
    assert_eq!(
        status_field(&status, "NSpid").split_whitespace().last(),
        Some("1")
    );
    for ns in ["mnt", "pid", "ipc", "uts", "net"] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let its = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(ours, its, "{ns} namespace shared with the node");
    }
    let oom = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(oom.trim(), "1000");
    // workerd's signal death is the launcher's: the node sees "killed by SIGKILL".
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let ended = workerd.launcher.wait().unwrap();
    assert_eq!(ended.signal(), Some(libc::SIGKILL), "{ended}");
}

#[test]
fn killing_the_launcher_kills_jailed_workerd() {
    let mut workerd = start_workerd("pdeathsig");
    let pid = workerd.workerd_pid;
    workerd.launcher.kill().unwrap();
    workerd.launcher.wait().unwrap();
    // Bounded wait for the kernel to deliver the parent-death signal (not a timing assert).
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        is_gone(pid)
    });
    assert!(gone, "workerd {pid} outlived its launcher");
}
