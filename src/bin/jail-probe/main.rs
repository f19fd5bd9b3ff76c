//! `jail-probe`: a test-only stand-in for workerd that tries to break out of the job jail and
//! reports each attempt as one JSON line on stdout (`tests/jail.rs` asserts every line).
//!
//! Started by the node's own `sandbox-exec` exactly as workerd is (same command builder), it
//! receives the node's pid, the enclave key's path, a cgroup file, a loopback port and the
//! limits to test. Attempts that the seccomp filter answers by killing the process (ptrace,
//! vsock, bpf) run in a child copy of itself (`--single <attempt>`), so the probe can report
//! how the child died. It does nothing a job could not try; shipped only because cargo builds
//! integration-test helpers as package binaries.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

/// What to attack.
#[derive(Debug, Clone, Parser)]
struct Target {
    /// The node's pid (host pid namespace).
    #[arg(long)]
    node_pid: i32,
    /// The enclave key file's host path.
    #[arg(long)]
    key: PathBuf,
    /// A file under the cgroup filesystem (the job's own `cgroup.procs`).
    #[arg(long)]
    cgroup_file: PathBuf,
    /// A port the node listens on at 127.0.0.1.
    #[arg(long)]
    tcp_port: u16,
    /// The job's `pids.max`.
    #[arg(long)]
    pids_max: usize,
    /// The job's `RLIMIT_FSIZE`.
    #[arg(long)]
    file_size_max: u64,
    /// Run one attempt and exit 0 if it succeeded (children only).
    #[arg(long)]
    single: Option<String>,
    /// Wait for stdin to close (children of the process-count attempt).
    #[arg(long)]
    hold: bool,
}

fn main() {
    let target = Target::parse();
    if target.hold {
        // Until the parent closes our stdin (or kills us).
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
        return;
    }
    if let Some(attempt) = &target.single {
        std::process::exit(i32::from(single(attempt, &target).is_err()));
    }
    let node = target.node_pid;
    let key = target.key.display().to_string();
    report("read_key_by_path", std::fs::read(&target.key).map(drop));
    report(
        "read_key_via_proc_root",
        std::fs::read(format!("/proc/{node}/root{key}")).map(drop),
    );
    match std::fs::read_dir("/") {
        Ok(entries) => {
            let names: Vec<String> = entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            emit(json!({"attempt": "list_root", "ok": true, "entries": names}));
        }
        Err(error) => report::<()>("list_root", Err(error)),
    }
    report(
        "open_node_mem",
        std::fs::File::open(format!("/proc/{node}/mem")).map(drop),
    );
    in_child("ptrace_node");
    report(
        "signal_node",
        errno(kill(Pid::from_raw(node), Signal::SIGCONT)),
    );
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], target.tcp_port));
    report(
        "tcp_to_loopback",
        std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).map(drop),
    );
    in_child("vsock_socket");
    report(
        "mount",
        errno(nix::mount::mount(
            Some("none"),
            "/tmp",
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )),
    );
    report(
        "unshare",
        errno(nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)),
    );
    report(
        "setns",
        std::fs::File::open("/dev/null")
            .and_then(|file| errno(nix::sched::setns(file, nix::sched::CloneFlags::empty()))),
    );
    report(
        "setuid_root",
        errno(nix::unistd::setuid(nix::unistd::Uid::from_raw(0))),
    );
    in_child("bpf");
    report("write_cgroup_fs", std::fs::write(&target.cgroup_file, "1"));
    write_past_file_size_limit(target.file_size_max);
    more_processes_than_allowed(target.pids_max);
    emit(
        json!({"attempt": "identity", "ok": true, "pid": std::process::id(), "uid": nix::unistd::getuid().as_raw(), "gid": nix::unistd::getgid().as_raw()}),
    );
}

/// The attempts that the filter answers by killing the caller.
fn single(attempt: &str, target: &Target) -> std::io::Result<()> {
    match attempt {
        "ptrace_node" => errno(nix::sys::ptrace::attach(Pid::from_raw(target.node_pid))),
        "vsock_socket" => errno(nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Vsock,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::empty(),
            None,
        ))
        .map(drop),
        "bpf" => probe_syscalls::bpf_map_create().map(drop),
        _ => Err(std::io::Error::other("unknown attempt")),
    }
}

fn in_child(attempt: &str) {
    let me = std::env::args_os().next().unwrap_or_default();
    let status = Command::new(me)
        .args(std::env::args_os().skip(1))
        .args(["--single", attempt])
        .stdout(Stdio::null())
        .status();
    let line = match status {
        Ok(status) => match status.signal() {
            Some(signal) => json!({"attempt": attempt, "ok": false, "killed_by": signal}),
            None => json!({"attempt": attempt, "ok": status.success(), "exit": status.code()}),
        },
        Err(error) => {
            json!({"attempt": attempt, "ok": false, "error": error.to_string(), "spawn_failed": true})
        }
    };
    emit(line);
}

fn write_past_file_size_limit(limit: u64) {
    // Blocked, SIGXFSZ becomes EFBIG from `write` instead of killing us.
    let mut blocked = SigSet::empty();
    blocked.add(Signal::SIGXFSZ);
    let _ = blocked.thread_block();
    let result = std::fs::File::create("/tmp/big").and_then(|mut file| {
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        while written <= limit + (1 << 20) {
            file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(())
    });
    let size = std::fs::metadata("/tmp/big").map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file("/tmp/big");
    let mut line = outcome("write_past_file_size_limit", result);
    line["size"] = json!(size);
    emit(line);
}

fn more_processes_than_allowed(pids_max: usize) {
    let me = std::env::args_os().next().unwrap_or_default();
    let mut children = Vec::new();
    let mut failure = None;
    for _ in 0..pids_max * 2 {
        match Command::new(&me)
            .args(hold_args())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(child) => children.push(child),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let started = children.len();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut line = outcome("more_processes_than_pids_max", failure.map_or(Ok(()), Err));
    line["started"] = json!(started);
    emit(line);
}

fn hold_args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    args.push("--hold".into());
    args
}

fn errno<T>(result: nix::Result<T>) -> std::io::Result<T> {
    result.map_err(std::io::Error::from)
}

fn outcome<T>(attempt: &str, result: std::io::Result<T>) -> Value {
    match result {
        Ok(_) => json!({"attempt": attempt, "ok": true}),
        Err(error) => json!({
            "attempt": attempt,
            "ok": false,
            "errno": error.raw_os_error(),
            "error": error.to_string(),
        }),
    }
}

fn report<T>(attempt: &str, result: std::io::Result<T>) {
    emit(outcome(attempt, result));
}

fn emit(line: Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
