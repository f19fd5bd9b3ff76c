//! The job's seccomp-bpf filter (crate `seccompiler`): a deny list of the kernel interfaces
//! workerd never uses and an escape would want. Compiled before the jail is built, installed as
//! the very last step before `exec`, inherited by every thread and child of workerd.
//!
//! Three filters, because one filter has one action for its matches (the kernel applies the
//! strictest answer of all installed filters):
//! - **kill the process**: `ptrace` and the cross-process memory calls, `bpf`, the key
//!   syscalls, module and kexec loading, and `socket(AF_VSOCK)` (vsock reaches the enclave's
//!   parent around every network namespace);
//! - **`EPERM`**: mounts and namespaces (`unshare`, `setns`, `clone` with a `CLONE_NEW*` flag),
//!   `perf_event_open`, `userfaultfd`, io_uring, handle-based opens, reboot/swap/acct/clock
//!   setting, `personality` other than a query, and `socket` of any family but unix and IP;
//! - **`ENOSYS`** for `clone3`, whose flags sit in memory a filter cannot read: libc then falls
//!   back to `clone`, whose flags are checked.
//!
//! Confirmed against workerd with [`Mode::Log`] (config `jail_seccomp = "log"`): a serving
//! workerd logs nothing but `clone3`, and the execution suite passes under [`Mode::Deny`]
//! (README, "Job jail").

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::error::LaunchError;

/// What a match does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Kill or refuse, as listed in the module docs.
    Deny,
    /// Allow, but have the kernel log every call that `Deny` would stop (audit/dmesg `type=1326`).
    Log,
}

/// The compiled filters, ready to install.
#[derive(Debug)]
pub(super) struct Filters(Vec<BpfProgram>);

const KILL: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
];

const REFUSE: &[i64] = &[
    libc::SYS_kcmp,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    libc::SYS_pidfd_getfd,
    libc::SYS_quotactl,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_syslog,
    libc::SYS_iopl,
    libc::SYS_ioperm,
];

/// `CLONE_NEW*` flags `clone` may not carry (`CLONE_NEWTIME` shares its bit with the exit
/// signal in `clone`, and only works with `clone3` or `unshare`, both refused).
const CLONE_NEW: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// Builds the three filters for `mode`.
pub(super) fn compile(mode: Mode) -> Result<Filters, LaunchError> {
    let (kill, refuse, no_clone3) = match mode {
        Mode::Deny => (
            SeccompAction::KillProcess,
            SeccompAction::Errno(libc::EPERM as u32),
            SeccompAction::Errno(libc::ENOSYS as u32),
        ),
        Mode::Log => (SeccompAction::Log, SeccompAction::Log, SeccompAction::Log),
    };
    let mut kill_rules = unconditional(KILL);
    kill_rules.insert(
        libc::SYS_socket,
        vec![rule(vec![arg0_eq(libc::AF_VSOCK)?])?],
    );
    let mut refuse_rules = unconditional(REFUSE);
    let other_family = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]
        .into_iter()
        .map(|family| condition(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, family as u64))
        .collect::<Result<Vec<_>, _>>()?;
    refuse_rules.insert(libc::SYS_socket, vec![rule(other_family)?]);
    let new_namespace = CLONE_NEW
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            rule(vec![condition(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    refuse_rules.insert(libc::SYS_clone, new_namespace);
    // A query (0xffffffff) and the plain Linux personality only.
    let personality = [0, 0xffff_ffff]
        .into_iter()
        .map(|value| condition(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, value))
        .collect::<Result<Vec<_>, _>>()?;
    refuse_rules.insert(libc::SYS_personality, vec![rule(personality)?]);
    let clone3_rules = unconditional(&[libc::SYS_clone3]);
    Ok(Filters(vec![
        program(kill_rules, kill)?,
        program(refuse_rules, refuse)?,
        program(clone3_rules, no_clone3)?,
    ]))
}

/// Installs the filters on this thread (the launcher is single-threaded); `exec` keeps them.
pub(super) fn install(filters: &Filters) -> Result<(), LaunchError> {
    for filter in &filters.0 {
        seccompiler::apply_filter(filter)
            .map_err(|error| LaunchError::Seccomp(error.to_string()))?;
    }
    Ok(())
}

fn unconditional(syscalls: &[i64]) -> BTreeMap<i64, Vec<SeccompRule>> {
    syscalls
        .iter()
        .map(|&syscall| (syscall, Vec::new()))
        .collect()
}

fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    on_match: SeccompAction,
) -> Result<BpfProgram, LaunchError> {
    let arch = std::env::consts::ARCH.try_into().map_err(seccomp_error)?;
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, on_match, arch).map_err(seccomp_error)?;
    filter.try_into().map_err(seccomp_error)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, LaunchError> {
    SeccompRule::new(conditions).map_err(seccomp_error)
}

fn arg0_eq(value: libc::c_int) -> Result<SeccompCondition, LaunchError> {
    condition(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value as u64)
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, LaunchError> {
    SeccompCondition::new(arg, len, op, value).map_err(seccomp_error)
}

fn seccomp_error(error: impl std::fmt::Display) -> LaunchError {
    LaunchError::Seccomp(error.to_string())
}
