//! Why the launcher could not put a job into its jail: one variant per kind of step, each
//! naming the layer so that the node's start-time self-check can print one clear line.

use std::path::PathBuf;

/// Why the launcher could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Writing our pid into a cgroup failed.
    #[error("cannot join cgroup {path}")]
    Join {
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// A confinement syscall failed.
    #[error("layer `{layer}` failed")]
    Syscall {
        /// The layer (and step) that failed.
        layer: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A confinement step on a file failed.
    #[error("layer `{layer}` failed on {path}")]
    File {
        /// The layer (and step) that failed.
        layer: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The seccomp filter could not be compiled or installed.
    #[error("layer `seccomp` failed: {0}")]
    Seccomp(String),
    /// Landlock refused the ruleset (not merely "unsupported": that is best effort).
    #[error("layer `landlock` failed: {0}")]
    Landlock(String),
    /// Capabilities could not be dropped, or were still held after dropping them.
    #[error("layer `identity` failed: {0}")]
    Capabilities(String),
    /// The node died while we were starting.
    #[error("the node is gone")]
    Orphaned,
    /// The inner stage could not be started or waited for.
    #[error("layer `pid namespace` failed: cannot run the inner launcher")]
    Inner(#[source] std::io::Error),
    /// `exec` returned, so the program could not be started.
    #[error("cannot exec the program")]
    Exec(#[source] std::io::Error),
    /// No program was given.
    #[error("no program to exec")]
    NoProgram,
}

impl LaunchError {
    /// Maps a failed syscall of `layer`.
    pub(super) fn syscall(layer: &'static str) -> impl FnOnce(nix::Error) -> Self {
        move |source| Self::Syscall { layer, source }
    }

    /// Maps a failed file operation of `layer` on `path`.
    pub(super) fn file(
        layer: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::File {
            layer,
            path,
            source,
        }
    }
}
