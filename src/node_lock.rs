//! One node per cgroup parent on a host: an exclusive, non-blocking `flock` on a lock file named
//! after the parent, held for the node's lifetime, with the holder's pid written into it.
//!
//! Owns the locked file. Taken before anything touches the cgroup parent: at start a node
//! removes the stale job cgroups under its parent, which would kill another live node's jobs.
//! The kernel releases the lock when the process ends, however it ends, so a crashed node never
//! blocks its successor.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Where lock files live: one per cgroup parent name.
pub const LOCK_DIR: &str = "/run/serverless-executor";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct NodeLock {
    _file: Flock<File>,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("another node (pid {pid}) already uses cgroup parent `{parent}` (lock {path}); give this node its own `cgroup_parent`")]
    Held {
        /// The cgroup parent.
        parent: String,
        /// The other node's pid, as it wrote it.
        pid: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or written.
    #[error("cannot use the lock file {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

impl NodeLock {
    /// Takes the lock for `cgroup_parent` in `dir` (normally [`LOCK_DIR`]).
    pub fn take(dir: &Path, cgroup_parent: &str) -> Result<Self, LockError> {
        let path = dir.join(format!("{cgroup_parent}.lock"));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    parent: cgroup_parent.to_owned(),
                    pid: pid.trim().to_owned(),
                    path,
                });
            }
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_parent_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let first = NodeLock::take(dir.path(), "parent-a");
        assert!(first.is_ok());
        match NodeLock::take(dir.path(), "parent-a") {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(
            NodeLock::take(dir.path(), "parent-b").is_ok(),
            "other parents are free"
        );
        drop(first);
        assert!(
            NodeLock::take(dir.path(), "parent-a").is_ok(),
            "released on drop"
        );
    }
}
