//! The developer kit and audit subcommands: `run` (a job in the node's own sandbox, locally),
//! `code upload`, `job create`, `job watch` and `verify`.
//!
//! Receives parsed command lines from `main`; `run` sends `RunInProcess` to a `WorkerdRunner`
//! started by [`crate::system::start_sandbox`], exactly as the node does, and applies the node's
//! retry policy ([`crate::workerd::retry`]). Each subcommand returns the process's exit status
//! ([`exit`]); tool failures are [`DevkitError`]s, one line each. Results go to stdout, progress
//! and summaries to stderr.

pub mod args;
pub mod client;
pub mod code_tx;
pub mod exit;
pub mod job;
pub mod local_run;
pub mod progress;
pub mod upload;
pub mod verify;
pub mod verify_direct;
pub mod watch;

/// Why a subcommand could not do its work (not an outcome of user code: those are data).
#[derive(Debug, thiserror::Error)]
pub enum DevkitError {
    /// A file named on the command line could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The config file or a flag's value is not acceptable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A flag's value is not acceptable.
    #[error("{0}")]
    Usage(String),
    /// The sandbox could not be started (privileges, cgroups, workerd).
    #[error("run needs what the node needs (root, cgroups, workerd): {0}")]
    Sandbox(#[from] crate::system::StartError),
    /// A chain call failed.
    #[error("{0}")]
    Chain(client::ClientError),
    /// Writing the result failed.
    #[error("cannot write the result: {0}")]
    Write(#[source] std::io::Error),
}

/// Reads a file named on the command line.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, DevkitError> {
    std::fs::read(path).map_err(|source| DevkitError::Read {
        path: path.display().to_string(),
        source,
    })
}
