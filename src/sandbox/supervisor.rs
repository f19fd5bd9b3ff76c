//! The outer stage of a pid-namespaced launch: start the inner launcher (pid 1 of the new pid
//! namespace, which becomes workerd), give up every privilege, wait, and end exactly as workerd
//! ended.
//!
//! Receives the launcher's own arguments; sends nothing but its exit status. Faithful means: the
//! same exit code, and when workerd was killed by signal N this process dies by signal N too,
//! because the node classifies outcomes from "exited with code c" versus "killed by a signal we
//! did not send" (an OOM kill is SIGKILL from the kernel).

use std::convert::Infallible;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use nix::sys::signal::{kill, Signal};
use nix::unistd::getpid;

use super::error::LaunchError;
use super::identity;
use super::launcher::SandboxArgs;

/// Starts the inner stage and mirrors its end; returns only if it cannot be started.
pub(super) fn run(args: &SandboxArgs) -> Result<Infallible, LaunchError> {
    let me = std::env::current_exe().map_err(LaunchError::Inner)?;
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // `sandbox-exec` comes first; insert our pid right after it. Everything after `--` is the
    // program's, so inserting before it cannot change what the program receives.
    let at = usize::from(!argv.is_empty());
    argv.splice(
        at..at,
        ["--inner-of".into(), getpid().as_raw().to_string().into()],
    );
    // fds 0-4 are inherited as they are (3 and 4 are workerd's); std opens everything else of
    // ours with O_CLOEXEC.
    let mut child = Command::new(me)
        .args(argv)
        .spawn()
        .map_err(LaunchError::Inner)?;
    // workerd holds the listener and the control pipe now; our copies would only delay the
    // node noticing that workerd is gone.
    super::fds::close_handed_over();
    if let Some(uid) = args.uid {
        // Nothing left to do here needs privilege: wait and mirror.
        identity::become_unprivileged(uid)?;
    }
    let status = child.wait().map_err(LaunchError::Inner)?;
    if let Some(signal) = status.signal() {
        die_by(signal);
    }
    std::process::exit(
        status
            .code()
            .unwrap_or(i32::from(super::launcher::LAUNCH_FAILED)),
    );
}

/// Ends this process by `signal` (default action), as workerd ended.
fn die_by(signal: i32) -> ! {
    if let Ok(signal) = Signal::try_from(signal) {
        // Twice: the Rust runtime's own SIGSEGV/SIGBUS handler resets itself to the default on
        // the first delivery and returns.
        for _ in 0..2 {
            let _ = kill(getpid(), signal);
        }
    }
    // Ignored signals (SIGPIPE is ignored by the Rust runtime): the shell convention instead.
    std::process::exit(128 + signal);
}

/// Our parent's pid as the host sees it. `getppid` says 0 in a new pid namespace whose parent
/// is outside; `/proc` is still the host's at this point, so its `stat` tells the truth.
pub(super) fn host_parent_pid() -> Result<i32, LaunchError> {
    let path = "/proc/self/stat";
    let stat = std::fs::read_to_string(path).map_err(LaunchError::file("pid namespace", path))?;
    // `pid (comm) state ppid …`; comm may contain spaces and parentheses, so split after the
    // last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|ppid| ppid.parse().ok())
        .ok_or(LaunchError::Orphaned)
}
