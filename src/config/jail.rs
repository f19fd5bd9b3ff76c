//! The `jail_*` and job limit keys of the job jail (README, "Job jail"), validated.

use super::raw::RawConfig;
use super::{in_range, invalid, ConfigError};
use crate::sandbox::seccomp::Mode;

/// Largest uid the identity layer may hand out (below the kernel's `(uid_t)-1`, "no uid").
const UID_MAX: u64 = 4_000_000_000;

/// Which jail layers job processes get; every layer is on unless turned off here.
#[derive(Debug, Clone)]
pub struct JailConfig {
    /// First job uid (and gid); a job slot adds its index.
    pub uid_base: u32,
    /// Jobs run as their slot's uid with no capabilities.
    pub identity: bool,
    /// Jobs run in a private root holding only workerd, its libraries and their own files.
    pub filesystem: bool,
    /// Jobs run in new pid, ipc and uts namespaces.
    pub namespaces: bool,
    /// The seccomp filter's mode; `None` when off.
    pub seccomp: Option<Mode>,
    /// Landlock where the kernel has it.
    pub landlock: bool,
    /// `RLIMIT_NOFILE` of a job.
    pub open_files_max: u64,
    /// `RLIMIT_FSIZE` of a job and the size of its `/tmp`.
    pub file_size_max_bytes: u64,
}

pub(super) fn jail_config(raw: &RawConfig, slots: u64) -> Result<JailConfig, ConfigError> {
    let uid_base = in_range("job_uid_base", raw.job_uid_base, 1000, UID_MAX)?;
    if uid_base.saturating_add(slots) > UID_MAX {
        return Err(invalid(
            "job_uid_base",
            format!("{uid_base} + {slots} job slots passes {UID_MAX}"),
        ));
    }
    let seccomp = match raw.jail_seccomp.as_str() {
        "deny" => Some(Mode::Deny),
        "log" => Some(Mode::Log),
        "off" => None,
        other => {
            return Err(invalid(
                "jail_seccomp",
                format!("`{other}` is not one of deny, log, off"),
            ))
        }
    };
    Ok(JailConfig {
        uid_base: u32::try_from(uid_base).map_err(|_| invalid("job_uid_base", "too large"))?,
        identity: raw.jail_identity,
        filesystem: raw.jail_filesystem,
        namespaces: raw.jail_namespaces,
        seccomp,
        landlock: raw.jail_landlock,
        open_files_max: in_range("job_open_files_max", raw.job_open_files_max, 64, 1 << 20)?,
        file_size_max_bytes: in_range(
            "job_file_size_max_mib",
            raw.job_file_size_max_mib,
            1,
            1 << 20,
        )? << 20,
    })
}
