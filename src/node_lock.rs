//! One node per cgroup parent, job directory and state directory on a host: an exclusive,
//! non-blocking `flock` on a lock file named after each, held for the node's lifetime, with the
//! holder's pid written into it.
//!
//! Owns the locked files. Taken before anything touches what they guard: at start a node
//! removes the stale job cgroups under its parent and every directory in its job directory,
//! which would kill or break another live node's jobs, and it rewrites its chain checkpoint in
//! its state directory.
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

/// What one lock guards.
#[derive(Debug, Clone, Copy)]
pub enum Guarded<'a> {
    /// The node's cgroup parent (`cgroup_parent`).
    CgroupParent(&'a str),
    /// The directory of its jobs' files (`job_dir`).
    JobDir(&'a Path),
    /// The directory of its chain checkpoint (`state_dir`).
    StateDir(&'a Path),
}

impl Guarded<'_> {
    /// The lock file's name: the cgroup parent's name as before, a path with `/` as `%`.
    fn file_name(&self) -> String {
        match self {
            Self::CgroupParent(parent) => format!("{parent}.lock"),
            Self::JobDir(dir) => format!("job_dir{}.lock", escaped(dir)),
            Self::StateDir(dir) => format!("state_dir{}.lock", escaped(dir)),
        }
    }

    fn describe(&self) -> (String, &'static str) {
        match self {
            Self::CgroupParent(parent) => (format!("cgroup parent `{parent}`"), "cgroup_parent"),
            Self::JobDir(dir) => (format!("job directory {}", dir.display()), "job_dir"),
            Self::StateDir(dir) => (format!("state directory {}", dir.display()), "state_dir"),
        }
    }
}

/// A directory as one file name: absolute where it exists (so two spellings of one directory
/// share a lock), `/` replaced by `%`.
fn escaped(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    dir.to_string_lossy().replace('/', "%")
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("another node (pid {pid}) already uses the {what} (lock {path}); give this node its own `{key}`")]
    Held {
        /// What is shared, e.g. "cgroup parent `serverless-executor`".
        what: String,
        /// The config key that separates the nodes.
        key: &'static str,
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
    /// Takes the lock for `guarded` in `dir` (normally [`LOCK_DIR`]).
    pub fn take(dir: &Path, guarded: Guarded<'_>) -> Result<Self, LockError> {
        let path = dir.join(guarded.file_name());
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
                let (what, key) = guarded.describe();
                return Err(LockError::Held {
                    what,
                    key,
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
        let first = NodeLock::take(dir.path(), Guarded::CgroupParent("parent-a"));
        assert!(first.is_ok());
        match NodeLock::take(dir.path(), Guarded::CgroupParent("parent-a")) {
            Err(LockError::Held { pid, key, .. }) => {
                assert_eq!(pid, std::process::id().to_string());
                assert_eq!(key, "cgroup_parent");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(
            NodeLock::take(dir.path(), Guarded::CgroupParent("parent-b")).is_ok(),
            "other parents are free"
        );
        drop(first);
        assert!(
            NodeLock::take(dir.path(), Guarded::CgroupParent("parent-a")).is_ok(),
            "released on drop"
        );
    }

    #[test]
    fn a_directory_is_locked_under_every_spelling_and_apart_from_the_same_path_elsewhere() {
        let locks = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let jobs = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let held = NodeLock::take(locks.path(), Guarded::JobDir(jobs.path()));
        assert!(held.is_ok());
        let other_spelling = jobs.path().join(".");
        match NodeLock::take(locks.path(), Guarded::JobDir(&other_spelling)) {
            Err(error @ LockError::Held { .. }) => {
                assert!(error.to_string().contains("`job_dir`"), "{error}");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(
            NodeLock::take(locks.path(), Guarded::StateDir(jobs.path())).is_ok(),
            "a state directory lock is another lock"
        );
    }
}
