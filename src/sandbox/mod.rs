//! Process containment for untrusted jobs: the jail every workerd process (every execution
//! mode) runs in, in the spirit of Firecracker's jailer. A workerd or V8 escape must not reach
//! the enclave key, the node or other jobs.
//!
//! Owns no state. The node starts `serverless-executor sandbox-exec …` (this crate's own binary,
//! command line built by [`command`]), which confines itself layer by layer with safe syscall
//! wrappers and then runs workerd, so there is no window in which the job runs unconfined and
//! no `unsafe` `pre_exec` hook. The layers, in the order the launcher applies them:
//!
//! | layer | module | config key to turn it off |
//! |---|---|---|
//! | cgroups (joined as root, first) | [`launcher`] | — |
//! | OOM priority 1000 | `limits` | — |
//! | pid, ipc, uts namespaces (workerd is pid 1) | `namespaces`, `supervisor` | `jail_namespaces` |
//! | empty network namespace | `namespaces` | `job_network_isolation` |
//! | mount namespace + private root (`pivot_root`) | `root`, `libs` | `jail_filesystem` |
//! | rlimits (`NOFILE`, `CORE`=0, `FSIZE`) | `limits` | — |
//! | descriptors: only 0–4 survive `exec` | `fds` | — |
//! | uid/gid per job slot, no groups, no capabilities | `identity` | `jail_identity` |
//! | parent-death signal (re-armed: the uid change clears it) | `supervisor` | — |
//! | Landlock (best effort) | `landlock` | `jail_landlock` |
//! | `no_new_privs` | [`launcher`] | — |
//! | seccomp-bpf deny list (last, before `exec`) | [`seccomp`] | `jail_seccomp` |
//!
//! The node's own protection (not dumpable, OOM score, key file mode) is [`protect`]; the
//! start-time preparation and self-check are [`settings`].

pub mod command;
mod error;
mod fds;
mod identity;
mod landlock;
pub mod launcher;
mod libs;
mod limits;
mod namespaces;
pub mod protect;
mod root;
pub mod seccomp;
pub mod settings;
mod supervisor;

pub use error::LaunchError;
