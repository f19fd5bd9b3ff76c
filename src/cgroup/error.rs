//! `CgroupError`: every way the cgroup layer can fail.
//!
//! Receives nothing and sends nothing; it is data. Invariant: every variant that comes from a
//! file operation carries the path it was about, so a log line alone says what broke.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup or mountinfo file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A value could not be written to a cgroup file (a missing controller, a bad value, EBUSY).
    #[error("cannot write {value:?} to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What we tried to write.
        value: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be created (no write permission, or it already exists).
    #[error("cannot create cgroup {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed (EBUSY while processes are left).
    #[error("cannot remove cgroup {path}")]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A cgroup file held something we could not parse.
    #[error("cannot parse {path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// The host lacks something we need; the message names it.
    #[error("cgroups unusable: {missing}")]
    Unsupported {
        /// What is missing, e.g. "the v1 pids controller is not mounted under /sys/fs/cgroup".
        missing: String,
    },
    /// A parent or job name is not a plain relative path.
    #[error("invalid cgroup name {name:?}: use plain path components")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// SIGKILL could not be sent to a process of the job (freezer fallback).
    #[error("cannot kill pid {pid}")]
    Kill {
        /// The process.
        pid: i32,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// Processes were still left when the wait ended.
    #[error("cgroup {path} still has processes after {timeout:?}")]
    NotEmpty {
        /// The directory that was still populated.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
    },
}
