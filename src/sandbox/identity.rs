//! The job's identity: a uid and gid of its own (per job slot, see [`super::command`]), no
//! supplementary groups, and no capability in any set, bounding and ambient included.
//!
//! Order matters: the bounding set can only be emptied while we still hold `CAP_SETPCAP`, and
//! the uid change from root to a non-root uid then clears the permitted and effective sets (we
//! never set `SECBIT_KEEP_CAPS`). The result is checked, not assumed.

use std::path::Path;

use caps::CapSet;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use super::error::LaunchError;

/// Drops to `uid` (and the gid of the same number) with no capabilities left.
pub(super) fn become_unprivileged(uid: u32) -> Result<(), LaunchError> {
    let caps_error = |error: caps::errors::CapsError| LaunchError::Capabilities(error.to_string());
    for cap in caps::read(None, CapSet::Bounding).map_err(caps_error)? {
        caps::drop(None, CapSet::Bounding, cap).map_err(caps_error)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_error)?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_error)?;
    setgroups(&[]).map_err(LaunchError::syscall("identity (setgroups)"))?;
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(uid));
    setresgid(gid, gid, gid).map_err(LaunchError::syscall("identity (setresgid)"))?;
    setresuid(uid, uid, uid).map_err(LaunchError::syscall("identity (setresuid)"))?;
    for set in [
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
        CapSet::Ambient,
        CapSet::Bounding,
    ] {
        if !caps::read(None, set).map_err(caps_error)?.is_empty() {
            return Err(LaunchError::Capabilities(format!(
                "{set:?} set not empty after the uid change"
            )));
        }
    }
    Ok(())
}

/// Gives the job's files to the job's uid, so workerd can read them whatever the node's umask
/// (the directory and the files directly in it; the node wrote them a moment ago).
pub(super) fn hand_over_job_files(dir: &Path, uid: u32) -> Result<(), LaunchError> {
    let chown = |path: &Path| {
        std::os::unix::fs::chown(path, Some(uid), Some(uid))
            .map_err(LaunchError::file("identity (job files)", path))
    };
    chown(dir)?;
    let entries = std::fs::read_dir(dir).map_err(LaunchError::file("identity (job files)", dir))?;
    for entry in entries {
        let path = entry
            .map_err(LaunchError::file("identity (job files)", dir))?
            .path();
        if path.is_file() {
            chown(&path)?;
        }
    }
    Ok(())
}
