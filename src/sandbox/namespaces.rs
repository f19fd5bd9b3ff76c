//! The job's namespaces: pid (its own process tree, the node invisible), then mount, ipc, uts
//! and network (its own view of files, no shared IPC objects, its own hostname, no interfaces).
//!
//! The pid namespace is unshared by the outer launcher (it applies to its children); the others
//! by the process that `exec`s workerd, before it drops privileges.

use nix::sched::{unshare, CloneFlags};

use super::error::LaunchError;

/// The hostname a job sees.
const HOSTNAME: &str = "job";

/// The next child of this process is pid 1 of a new pid namespace.
pub(super) fn unshare_pid() -> Result<(), LaunchError> {
    unshare(CloneFlags::CLONE_NEWPID).map_err(LaunchError::syscall("pid namespace"))
}

/// Enters the other namespaces in one call: network if `net`, ipc and uts with the pid
/// namespace (`ipc_uts`), mount if `mount` (the filesystem layer).
pub(super) fn unshare_rest(net: bool, ipc_uts: bool, mount: bool) -> Result<(), LaunchError> {
    let mut flags = CloneFlags::empty();
    flags.set(CloneFlags::CLONE_NEWNET, net);
    flags.set(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS, ipc_uts);
    flags.set(CloneFlags::CLONE_NEWNS, mount);
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).map_err(LaunchError::syscall(
        "namespaces (mount, ipc, uts, network)",
    ))
}

/// Names the job's uts namespace, so the host's name does not leak into it either.
pub(super) fn set_hostname() -> Result<(), LaunchError> {
    nix::unistd::sethostname(HOSTNAME).map_err(LaunchError::syscall("uts namespace"))
}
