//! The `sandbox-exec` subcommand: put one job process into its jail, layer by layer, then run
//! the program (workerd) in it.
//!
//! Runs in a short-lived child process of the node. Receives its instructions as command-line
//! arguments (paths, ids and flags chosen by the node, never by user code; built by
//! [`super::command`]). Sends nothing; failures are reported on stderr as one line naming the
//! layer and the errno, with exit status 125 (the node treats them as infrastructure faults,
//! never as job outcomes).
//!
//! Two stages when the pid namespace is on (the default): the *outer* launcher (the node's
//! child) joins the cgroups, unshares the pid namespace and starts itself again as the *inner*
//! launcher, which is pid 1 of the new namespace; the inner one sets up every other layer and
//! `exec`s workerd, which so becomes pid 1 with a parent-death signal tied to the outer
//! launcher. The outer one stays as a tiny supervisor that forwards workerd's exit status
//! faithfully (`supervisor`). Without the pid namespace there is one stage that
//! `exec`s workerd in place, as before the jail.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use clap::Args;
use nix::sys::prctl;
use nix::sys::signal::Signal;

pub use super::error::LaunchError;
use super::{fds, identity, landlock, limits, namespaces, root, seccomp, supervisor};

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
    /// New pid, ipc and uts namespaces (two stages, see the module docs).
    #[arg(long)]
    pub new_pidns: bool,
    /// Run the program as this uid and gid, with no supplementary groups and no capabilities.
    #[arg(long)]
    pub uid: Option<u32>,
    /// An empty directory to mount the job's private root on (filesystem layer).
    #[arg(long, requires_all = ["lib_dir", "job_dir"])]
    pub root: Option<PathBuf>,
    /// Filesystem layer: a directory whose subdirectories (the program's shared libraries,
    /// copied once per node start) are bound read-only at the same names in the job's root.
    #[arg(long)]
    pub lib_dir: Option<PathBuf>,
    /// The job's files (the working directory); bound read-only at `/job` by the filesystem
    /// layer, given to the job's uid by the identity layer.
    #[arg(long)]
    pub job_dir: Option<PathBuf>,
    /// Filesystem layer: size of the private `/tmp` and largest file (`RLIMIT_FSIZE`), bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub file_size_max: u64,
    /// `RLIMIT_NOFILE`.
    #[arg(long, default_value_t = 1024)]
    pub open_files_max: u64,
    /// Install the seccomp filter: `deny` (enforce) or `log` (allow and log what would be denied).
    #[arg(long)]
    pub seccomp: Option<seccomp::Mode>,
    /// Restrict file access with Landlock where the kernel has it (best effort).
    #[arg(long)]
    pub landlock: bool,
    /// The node's pid: if our parent is no longer it once the parent-death signal is armed, the
    /// node died before (the signal would never come) and we must not start a job.
    #[arg(long)]
    pub parent: Option<i32>,
    /// Internal: this is the inner stage, started by the outer stage with this (host) pid.
    #[arg(long, hide = true)]
    pub inner_of: Option<i32>,
    /// The program to exec, then its arguments.
    #[arg(last = true, required = true)]
    pub program: Vec<OsString>,
}

/// Confines the current process and runs the program; returns only on failure (the outer
/// stage of a pid-namespaced launch never returns: it exits with the program's status).
pub fn run(args: &SandboxArgs) -> LaunchError {
    let result = match args.inner_of {
        Some(outer_pid) => inner(args, outer_pid),
        None => outer(args),
    };
    match result {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

/// The node's child: cgroups, OOM priority, then either the supervisor or the jail in place.
fn outer(args: &SandboxArgs) -> Result<std::convert::Infallible, LaunchError> {
    // Die if the node dies, so no job outlives its supervisor.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(LaunchError::syscall("parent-death signal"))?;
    if args
        .parent
        .is_some_and(|parent| nix::unistd::getppid().as_raw() != parent)
    {
        return Err(LaunchError::Orphaned);
    }
    for path in &args.join {
        // "0" means "the writing process": we join before workerd exists, while still root
        // (the cgroup files are root's), so every later process is born inside.
        std::fs::write(path, "0").map_err(|source| LaunchError::Join {
            path: path.clone(),
            source,
        })?;
    }
    limits::prefer_for_oom_kill()?;
    if args.new_pidns {
        namespaces::unshare_pid()?;
        supervisor::run(args)
    } else {
        jail_and_exec(args, None)
    }
}

/// Pid 1 of the job's pid namespace: tie our life to the outer stage, then the jail.
fn inner(args: &SandboxArgs, outer_pid: i32) -> Result<std::convert::Infallible, LaunchError> {
    // workerd inherits the parent-death signal across `exec`: when the outer stage dies (the
    // node killed it, or died itself), workerd, pid 1 here, dies and the kernel kills the whole
    // namespace. Armed late, see `ParentWatch`.
    let watch = supervisor::ParentWatch::open(outer_pid)?;
    jail_and_exec(args, Some(watch))
}

/// Every layer after the pid namespace, in an order where each step still has the privilege it
/// needs; the seccomp filter is compiled first and installed last, right before `exec`.
fn jail_and_exec(
    args: &SandboxArgs,
    watch: Option<supervisor::ParentWatch>,
) -> Result<std::convert::Infallible, LaunchError> {
    let filter = args.seccomp.map(seccomp::compile).transpose()?;
    if let (Some(uid), Some(dir)) = (args.uid, &args.job_dir) {
        identity::hand_over_job_files(dir, uid)?;
    }
    fds::close_on_exec_above(fds::LAST_INHERITED)?;
    namespaces::unshare_rest(args.new_netns, args.new_pidns, args.root.is_some())?;
    let (program, rest) = args.program.split_first().ok_or(LaunchError::NoProgram)?;
    let mut program = PathBuf::from(program);
    let mut workdir = None;
    if let (Some(mount_point), Some(lib_dir), Some(job_dir)) =
        (&args.root, &args.lib_dir, &args.job_dir)
    {
        let layout = root::Layout {
            mount_point,
            lib_dir,
            job_dir,
            program: &program,
            tmp_bytes: args.file_size_max,
        };
        root::enter(&layout)?;
        program = PathBuf::from(root::PROGRAM);
        workdir = Some(PathBuf::from(root::JOB));
    }
    if args.new_pidns {
        namespaces::set_hostname()?;
    }
    limits::apply(args.open_files_max, args.file_size_max)?;
    if let Some(uid) = args.uid {
        identity::become_unprivileged(uid)?;
    }
    // The uid change cleared the parent-death signal: arm it again, then check the parent.
    match watch {
        Some(watch) => watch.arm()?,
        None => {
            prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(LaunchError::syscall("parent-death signal"))?;
            if args
                .parent
                .is_some_and(|parent| nix::unistd::getppid().as_raw() != parent)
            {
                return Err(LaunchError::Orphaned);
            }
        }
    }
    if args.landlock {
        landlock::restrict(args.root.is_some())?;
    }
    prctl::set_no_new_privs().map_err(LaunchError::syscall("no_new_privs"))?;
    if let Some(filter) = &filter {
        seccomp::install(filter)?;
    }
    let mut command = Command::new(&program);
    command.args(rest);
    if let Some(dir) = workdir {
        command.current_dir(dir);
    }
    Err(LaunchError::Exec(command.exec()))
}
