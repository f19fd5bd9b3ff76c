//! The `sandbox-exec` subcommand: join the job's cgroups, leave the host network, forbid
//! privilege gain, die with the node, then `exec` the program.
//!
//! Runs in a short-lived child process of the node and replaces itself with workerd. Receives
//! its instructions as command-line arguments (paths and flags chosen by the node, never by user
//! code). Sends nothing; failures are reported on stderr and by exit status 125 (the node treats
//! them as infrastructure faults, never as job outcomes).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use clap::Args;
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::Signal;

/// Exit status of the launcher when it could not confine itself.
pub const LAUNCH_FAILED: u8 = 125;

/// Arguments of `serverless-executor sandbox-exec`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// A `cgroup.procs` file to join (repeat for each hierarchy).
    #[arg(long = "join")]
    pub join: Vec<PathBuf>,
    /// Move into a fresh, empty network namespace (no interfaces up: no egress at all).
    #[arg(long)]
    pub new_netns: bool,
    /// The node's pid: if our parent is no longer it once the parent-death signal is armed, the
    /// node died before (the signal would never come) and we must not start a job.
    #[arg(long)]
    pub parent: Option<i32>,
    /// The program to exec, then its arguments.
    #[arg(last = true, required = true)]
    pub program: Vec<OsString>,
}

/// Why the launcher could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Writing our pid into a cgroup failed.
    #[error("cannot join cgroup {path}")]
    Join {
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// A confinement syscall failed.
    #[error("cannot {what}")]
    Syscall {
        /// The step that failed.
        what: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// The node died while we were starting.
    #[error("the node is gone")]
    Orphaned,
    /// `exec` returned, so the program could not be started.
    #[error("cannot exec the program")]
    Exec(#[source] std::io::Error),
    /// No program was given.
    #[error("no program to exec")]
    NoProgram,
}

/// Confines the current process and execs the program; returns only on failure.
pub fn run(args: &SandboxArgs) -> LaunchError {
    match confine(args) {
        Ok(()) => exec(args),
        Err(error) => error,
    }
}

fn confine(args: &SandboxArgs) -> Result<(), LaunchError> {
    // Die if the node dies, so no job outlives its supervisor.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|source| LaunchError::Syscall {
        what: "set the parent-death signal",
        source,
    })?;
    if args
        .parent
        .is_some_and(|parent| nix::unistd::getppid().as_raw() != parent)
    {
        return Err(LaunchError::Orphaned);
    }
    for path in &args.join {
        // "0" means "the writing process": we join before workerd exists.
        std::fs::write(path, "0").map_err(|source| LaunchError::Join {
            path: path.clone(),
            source,
        })?;
    }
    if args.new_netns {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|source| LaunchError::Syscall {
            what: "enter a new network namespace",
            source,
        })?;
    }
    prctl::set_no_new_privs().map_err(|source| LaunchError::Syscall {
        what: "set no_new_privs",
        source,
    })
}

fn exec(args: &SandboxArgs) -> LaunchError {
    let Some((program, rest)) = args.program.split_first() else {
        return LaunchError::NoProgram;
    };
    LaunchError::Exec(Command::new(program).args(rest).exec())
}
