//! Plain file access to a cgroup filesystem rooted anywhere (the real `/sys/fs/cgroup` or a
//! tempdir laid out like one in tests), plus the pure parser of the kernel's flat-keyed files.
//!
//! Receives paths and values from the backends; sends nothing. Invariants: every error carries
//! the path it was about; one value is written with one `write` call (the kernel parses each
//! write on its own); removing or listing something that is already gone is not an error.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::CgroupError;

/// Reads a whole cgroup file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes one value to a cgroup file. On a real cgroupfs the file must already exist.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

/// Creates a fresh cgroup directory; an existing one is an error (its counters would be stale).
pub(crate) fn create_fresh(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir(dir).map_err(|source| CgroupError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates a directory and its missing ancestors; an existing one is fine.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|source| CgroupError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Removes an (empty) cgroup directory; one that is already gone is fine.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), CgroupError> {
    match fs::remove_dir(dir) {
        Err(source) if source.kind() != ErrorKind::NotFound => Err(CgroupError::RemoveDir {
            path: dir.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Names of the subdirectories (child cgroups) of `dir`; none if `dir` is gone.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let read_err = |source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) if source.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(read_err(source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        if entry.file_type().map_err(read_err)?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The pids listed in a `cgroup.procs` file; none if the cgroup is gone.
pub(crate) fn read_pids(procs: &Path) -> Result<Vec<i32>, CgroupError> {
    let text = match fs::read_to_string(procs) {
        Ok(text) => text,
        Err(source) if source.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: procs.to_path_buf(),
                source,
            })
        }
    };
    parse_pids(&text).ok_or_else(|| CgroupError::Parse {
        path: procs.to_path_buf(),
        detail: "expected one pid per line".to_owned(),
    })
}

/// Sends SIGKILL to one process; one that already exited is fine.
pub(crate) fn sigkill(pid: i32) -> Result<(), CgroupError> {
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(CgroupError::Kill { pid, source }),
    }
}

/// Parses `cgroup.procs` text: one positive pid per line.
pub(crate) fn parse_pids(text: &str) -> Option<Vec<i32>> {
    text.lines()
        .map(|line| line.trim().parse::<i32>().ok().filter(|pid| *pid > 0))
        .collect()
}

/// The value of `key` in a flat-keyed file such as `memory.events`, `memory.oom_control`,
/// `cgroup.events` or `pids.events` ("key value" per line). Matched by key, never by position.
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(key))
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// Whether `name` is a non-empty relative path of plain components (no `..`, no root).
pub(crate) fn is_plain_relative(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_value_matches_whole_keys_anywhere() {
        let events = "low 0\nhigh 3\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(events, "oom_kill"), Some(1));
        assert_eq!(keyed_value(events, "oom"), Some(2));
        assert_eq!(keyed_value(events, "oom_group_kill"), Some(0));
        assert_eq!(keyed_value(events, "kill"), None);
        assert_eq!(keyed_value("populated 1\nfrozen 0\n", "populated"), Some(1));
        assert_eq!(keyed_value("oom_kill x\n", "oom_kill"), None);
    }

    #[test]
    fn pids_parse_one_per_line() {
        assert_eq!(parse_pids(""), Some(vec![]));
        assert_eq!(parse_pids("12\n345\n"), Some(vec![12, 345]));
        assert_eq!(parse_pids("12\nabc\n"), None);
        assert_eq!(parse_pids("0\n"), None);
    }

    #[test]
    fn names_must_be_plain_relative_paths() {
        assert!(is_plain_relative("job-1"));
        assert!(is_plain_relative("executor/jobs"));
        for bad in ["", "/abs", "../up", "a/../b", ".", "./x"] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
    }
}
