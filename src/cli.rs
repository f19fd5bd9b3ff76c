//! Command line: Marlin's flags (`--port`, `--config-file`, `-h`, `-V`) plus `keygen` and the
//! developer kit's subcommands (their arguments live in [`crate::devkit::args`]).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Runs untrusted JavaScript and WebAssembly jobs for smart contracts in workerd sandboxes and
/// signs every result with the enclave key.
#[derive(Debug, Parser)]
#[command(name = "serverless-executor", version, about)]
pub struct Cli {
    /// Port of the HTTP server (admin routes, health).
    #[arg(long, default_value_t = 6001)]
    pub port: u16,
    /// Config file: Marlin's JSON, or TOML (chosen by extension).
    #[arg(long, default_value = "./oyster_serverless_executor_config.json")]
    pub config_file: PathBuf,
    /// A subcommand instead of running the node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new random 32-byte secp256k1 enclave key file (mode 0600; never overwrites).
    Keygen {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a job locally in the node's own sandbox, limits and classification (no chain, no
    /// key). Exit status: 0 for outcome 0, 10+N for outcome N (11 to 17), 3 if it has no
    /// outcome (the sandbox failed twice), 1 if it could not run, 2 a malformed command line.
    Run(crate::devkit::args::RunArgs),
    /// Upload job code on chain (exit statuses: `code upload --help`).
    #[command(subcommand)]
    Code(crate::devkit::args::CodeCommand),
    /// Create or watch a chain job (exit statuses: `job create --help`, `job watch --help`).
    #[command(subcommand)]
    Job(crate::devkit::args::JobCommand),
    /// Check a job's on-chain responses against a local re-run and the executors' registration.
    /// Exit status 0 only if every check passes, 4 if one fails (an invalid code transaction
    /// included), 1 if the tool could not check (chain unreachable, no sandbox), 2 a malformed
    /// command line.
    Verify(crate::devkit::args::VerifyArgs),
    /// Internal: confine this process (cgroups, network namespace) and exec a program. The node
    /// runs workerd this way; operators never need it.
    #[command(hide = true)]
    SandboxExec(crate::sandbox::launcher::SandboxArgs),
}
