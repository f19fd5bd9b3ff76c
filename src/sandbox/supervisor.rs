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
    // We stay root: a uid change would clear our own parent-death signal (the node's tie), and
    // nothing of the job can reach us (we are outside its pid namespace, and run no job code).
    let _ = &args;
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

/// The inner stage's tie to the outer one: workerd (pid 1 here) must get SIGKILL when the
/// outer stage dies. A parent-death signal does that, but the kernel clears it on every uid
/// change, so it is armed after the identity layer, when the host's `/proc` is no longer in
/// view: a descriptor of our `/proc/self`, opened before the jail, still shows the host's truth
/// (`getppid` says 0 in a new pid namespace whose parent is outside). Close-on-exec: workerd
/// never sees it.
#[derive(Debug)]
pub(super) struct ParentWatch {
    proc_self: std::fs::File,
    outer_pid: i32,
}

impl ParentWatch {
    /// Opens our `/proc/self` while it is visible.
    pub(super) fn open(outer_pid: i32) -> Result<Self, LaunchError> {
        let path = "/proc/self";
        let proc_self =
            std::fs::File::open(path).map_err(LaunchError::file("pid namespace", path))?;
        Ok(Self {
            proc_self,
            outer_pid,
        })
    }

    /// Arms the parent-death signal, then checks the outer stage is still our parent (if it
    /// died before, the signal will never come and we must not start the job).
    pub(super) fn arm(self) -> Result<(), LaunchError> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
            .map_err(LaunchError::syscall("parent-death signal"))?;
        let error = LaunchError::syscall("pid namespace (our parent)");
        let fd = nix::fcntl::openat(
            Some(std::os::fd::AsRawFd::as_raw_fd(&self.proc_self)),
            "stat",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(error)?;
        let mut buffer = [0u8; 1024];
        let read = nix::unistd::read(fd, &mut buffer);
        let _ = nix::unistd::close(fd);
        let read = read.map_err(LaunchError::syscall("pid namespace (our parent)"))?;
        let stat = String::from_utf8_lossy(&buffer[..read]);
        // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if parent == Some(self.outer_pid) {
            Ok(())
        } else {
            Err(LaunchError::Orphaned)
        }
    }
}
