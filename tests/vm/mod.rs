//! Host side of the cgroup v2 VM tier: builds the guest test binaries with `cargo test --no-run`,
//! writes the guest's plan, boots the VM through `scripts/vm/run.sh`, stops it by pid, and reads
//! the guest's console markers (written by `scripts/vm/init`).
//!
//! Receives a list of [`GuestTest`]s; sends a plan file to the guest and SIGTERM to the VM's
//! `timeout` process when the host deadline passes or the test panics. Invariant: a guest test
//! counts as passed only with its own `@@vm-test NAME exit=0@@` marker, a libtest summary with at
//! least one passed test, and the final `@@vm-done@@`; anything else fails with the console.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// One test binary run inside the VM.
pub(crate) struct GuestTest {
    /// The name in the markers and in failure messages.
    pub(crate) name: &'static str,
    /// What selects the binary for `cargo test --no-run`, e.g. `["--test", "cgroups"]`.
    pub(crate) build: &'static [&'static str],
    /// libtest arguments in the guest: filters, `--test-threads=1`, `--exact`, ….
    pub(crate) args: &'static [&'static str],
}

/// A [`GuestTest`] in one line, for the list in tests/cgroup_v2_vm.rs.
pub(crate) const fn guest(
    name: &'static str,
    build: &'static [&'static str],
    args: &'static [&'static str],
) -> GuestTest {
    GuestTest { name, build, args }
}

/// How long QEMU may run (`timeout` in scripts/vm/run.sh); the host waits a little longer.
const VM_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a stopped VM gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The guest tests' environment (KEY=VALUE words without spaces).
const GUEST_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                         HOME=/tmp RUST_BACKTRACE=1 SERVERLESS_EXECUTOR_TEST_CGROUP=v2";

fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The executable `cargo test --no-run <build>` makes (the same profile as this test, so under
/// `cargo test --all-targets` it is already built and nothing is compiled).
fn build_executable(test: &GuestTest) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    // The variables cargo sets for a running test would look like changed inputs to build
    // scripts (ring's reads CARGO_MANIFEST_DIR) and rebuild half the dependency tree.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_for_running_tests) {
            command.env_remove(key);
        }
    }
    let output = command
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(test.build)
        .current_dir(project())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo test --no-run {:?} failed",
        test.build
    );
    let executables: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["profile"]["test"] == true)
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .collect();
    match executables.as_slice() {
        [one] => one.clone(),
        other => panic!(
            "{:?} must build exactly one test binary, built {other:?}",
            test.build
        ),
    }
}

/// Whether `key` is one of the variables cargo sets for a test it runs (not a cargo setting).
fn set_for_running_tests(key: &str) -> bool {
    const PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_BIN_", "CARGO_MANIFEST_"];
    const NAMES: [&str; 5] = [
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|prefix| key.starts_with(prefix)) || NAMES.contains(&key)
}

/// The plan line for one guest test: "NAME PROGRAM ARG..." (scripts/vm/init splits on spaces).
fn plan_line(test: &GuestTest, executable: &Path) -> String {
    let words: Vec<String> = std::iter::once(test.name.to_owned())
        .chain(std::iter::once(executable.display().to_string()))
        .chain(test.args.iter().map(|arg| (*arg).to_owned()))
        .collect();
    for word in &words {
        assert!(
            !word.is_empty() && !word.contains(char::is_whitespace),
            "plan word {word:?}"
        );
    }
    words.join(" ") + "\n"
}

/// Sends SIGTERM to the VM's `timeout` process (which passes it on to QEMU), then SIGKILL.
struct Vm {
    child: Child,
}

impl Vm {
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.kill().await;
            }
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // A panic while the VM runs: SIGTERM by pid (kill_on_drop then sends SIGKILL).
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
}

/// What one boot printed.
pub(crate) struct Boot {
    /// The serial console (the guest's output), then the host-side stderr of run.sh and QEMU.
    pub(crate) console: String,
    /// run.sh's exit status (QEMU's, or `timeout`'s 124).
    pub(crate) status: Option<i32>,
}

/// Boots the VM once with `tests` and returns everything it printed.
pub(crate) async fn boot(tests: &[GuestTest]) -> Boot {
    let work = tempfile::tempdir().unwrap();
    let plan: String = tests
        .iter()
        .map(|test| plan_line(test, &build_executable(test)))
        .collect();
    std::fs::write(work.path().join("plan"), plan).unwrap();
    std::fs::write(work.path().join("plan.env"), GUEST_ENV).unwrap();
    let child = Command::new(project().join("scripts/vm/run.sh"))
        .arg(work.path())
        .env("VM_TIMEOUT", VM_TIMEOUT.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut vm = Vm { child };
    let (mut stdout, mut stderr) = (
        vm.child.stdout.take().unwrap(),
        vm.child.stderr.take().unwrap(),
    );
    let read_out = tokio::spawn(async move { read_all(&mut stdout).await });
    let read_err = tokio::spawn(async move { read_all(&mut stderr).await });
    let started = Instant::now();
    let status = match tokio::time::timeout(VM_TIMEOUT + STOP_GRACE, vm.child.wait()).await {
        Ok(status) => status.unwrap().code(),
        Err(_) => {
            vm.stop().await;
            None
        }
    };
    let (out, err) = tokio::time::timeout(STOP_GRACE, async {
        (read_out.await.unwrap(), read_err.await.unwrap())
    })
    .await
    .expect("the VM's output closed after it stopped");
    let console = format!("{out}{err}");
    eprintln!(
        "vm: ran for {:.1} s, status {status:?}\n{console}",
        started.elapsed().as_secs_f64()
    );
    Boot { console, status }
}

/// Everything a pipe gives until it closes, as text (a serial console may carry stray bytes).
async fn read_all(pipe: &mut (impl AsyncRead + Unpin)) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The exit status the guest reported for `name`, if it reported one.
pub(crate) fn guest_exit(console: &str, name: &str) -> Option<i32> {
    let prefix = format!("@@vm-test {name} exit=");
    console.lines().find_map(|line| {
        line.trim()
            .strip_prefix(&prefix)?
            .strip_suffix("@@")?
            .parse()
            .ok()
    })
}

/// The first `@@vm-error …@@` the guest printed.
pub(crate) fn guest_error(console: &str) -> Option<&str> {
    console
        .lines()
        .find_map(|line| line.trim().strip_prefix("@@vm-error ")?.strip_suffix("@@"))
}

/// How many tests the libtest summary of guest test `name` says passed.
pub(crate) fn guest_passed(console: &str, name: &str) -> Option<u64> {
    let start = format!("vm: running {name}: ");
    let section = console.split(&start).nth(1)?;
    let section = section.split("@@vm-test ").next()?;
    let summary = section
        .lines()
        .find_map(|line| line.strip_prefix("test result: ok. "))?;
    summary.split(' ').next()?.parse().ok()
}

/// Whether the guest's /init got as far as running tests (it prints "vm: kernel …" first).
pub(crate) fn guest_booted(console: &str) -> bool {
    console.lines().any(|line| line.starts_with("vm: kernel "))
}

/// Whether the guest got through its whole plan.
pub(crate) fn guest_done(console: &str) -> bool {
    console.lines().any(|line| line.trim() == "@@vm-done@@")
}
