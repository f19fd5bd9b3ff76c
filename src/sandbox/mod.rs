//! Process containment for untrusted jobs: the launcher that puts workerd into its cgroups and
//! an empty network namespace before it runs a single instruction of workerd.
//!
//! Owns no state. The node starts `serverless-executor sandbox-exec …` (this crate's own binary),
//! which confines itself with safe syscall wrappers and then `exec`s workerd in place, so the
//! pid that joined the cgroups is the pid of workerd and there is no window in which the job runs
//! unconfined. This avoids `unsafe` `pre_exec` hooks entirely.

pub mod launcher;
