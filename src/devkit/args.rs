//! The kit's command lines (clap). Secrets are never flags: keys come from files (`-` for
//! stdin), so they never show in `ps` or shell history.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `run FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job's code: a JavaScript module (`export default { fetch }`), a WASI command
    /// (`\0asm…`) or a bundle (ustar), as a node tells them apart.
    pub file: PathBuf,
    /// The job's input, POSTed to the worker byte for byte.
    #[arg(long, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the job's input from this file.
    #[arg(long)]
    pub input_file: Option<PathBuf>,
    /// The execution mode (default: the config's, else the node's default).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// The user's budget in milliseconds (default: the node's direct-run deadline).
    #[arg(long)]
    pub deadline: Option<u64>,
    /// A config file (the node's, or one with execution keys only); without it every limit is
    /// the node's default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The workerd binary (default: `workerd` on `PATH`).
    #[arg(long)]
    pub workerd: Option<PathBuf>,
    /// One JSON object on stdout instead of the output and a summary line.
    #[arg(long)]
    pub json: bool,
}

/// An execution mode, as in the config key `execution_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// A new process per job, started for it.
    Cold,
    /// A new process per job, started ahead of it.
    Prewarmed,
    /// A long-lived process, a fresh isolate per job.
    Isolate,
}

/// Where the chain is and who signs: shared by the chain subcommands.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// JSON-RPC over HTTP.
    #[arg(long)]
    pub rpc: String,
}

/// `code …`.
#[derive(Debug, Subcommand)]
pub enum CodeCommand {
    /// Send the `saveCodeInCallData` transaction; prints its hash (the code id) and the calldata
    /// size. Exit status: 0 uploaded, 1 not (code over the cap, a bad flag or key file, the
    /// chain unreachable, the transaction reverted), 2 a malformed command line.
    Upload(UploadArgs),
}

/// `code upload FILE`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The job's module.
    pub file: PathBuf,
    /// Chain endpoint.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The code contract the node reads code from.
    #[arg(long)]
    pub code_contract: String,
    /// The sender's raw 32-byte key file (hex or binary), `-` for stdin.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Calldata form: v1 `saveCodeInCallData(string)` (Marlin's) or v2
    /// `saveCodeInCallData(string,bytes)` with `--metadata`.
    #[arg(long, value_enum, default_value = "v1")]
    pub form: Form,
    /// The metadata argument of v2, hex.
    #[arg(long, default_value = "0x")]
    pub metadata: String,
}

/// The calldata form of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Form {
    /// Marlin's `saveCodeInCallData(string code)`.
    V1,
    /// `saveCodeInCallData(string code, bytes metadata)`.
    V2,
}

/// `job …`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Approve the fee token if needed and send `createJob`; prints the job id and the
    /// selected executors. Exit status: 0 created, 1 not (a bad flag or key file, the chain
    /// unreachable, a transaction reverted), 2 a malformed command line.
    Create(CreateArgs),
    /// Print each `JobResponded` of a job and its final state; exits once it is settled. Exit
    /// status: 0 answered by every selected executor, 4 slashed or its window closed with
    /// answers missing, 1 the chain unreachable (or the websocket lost for good), 2 a
    /// malformed command line.
    Watch(WatchArgs),
}

/// `job create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Chain endpoint.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The `Jobs` contract.
    #[arg(long)]
    pub jobs: String,
    /// The code transaction hash.
    #[arg(long)]
    pub code_tx: String,
    /// The job's input.
    #[arg(long)]
    pub input: String,
    /// The user's deadline in milliseconds.
    #[arg(long)]
    pub deadline: u64,
    /// The sender's raw 32-byte key file (hex or binary), `-` for stdin.
    #[arg(long)]
    pub key_file: PathBuf,
}

/// `job watch ID`: exactly one of `--rpc` and `--ws`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("endpoint").required(true).args(["rpc", "ws"])))]
pub struct WatchArgs {
    /// The job id (decimal or 0x hex).
    pub id: String,
    /// JSON-RPC over HTTP: the job's logs are polled.
    #[arg(long)]
    pub rpc: Option<String>,
    /// JSON-RPC over a websocket (`ws://…`; anvil and geth serve it on their HTTP port): the
    /// job's logs are subscribed to, and a dropped connection is reconnected (and the logs
    /// fetched again) a few times before the watch gives up with exit status 1.
    #[arg(long)]
    pub ws: Option<String>,
    /// The `Jobs` contract.
    #[arg(long)]
    pub jobs: String,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The job id (decimal or 0x hex).
    #[arg(long, required_unless_present = "direct", requires = "jobs")]
    pub job: Option<String>,
    /// Chain endpoint.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The `Jobs` contract.
    #[arg(long)]
    pub jobs: Option<String>,
    /// The `Executors` contract.
    #[arg(long)]
    pub executors: String,
    /// The code contract: the code transaction must be a successful call to it, as a node
    /// requires.
    #[arg(long)]
    pub code_contract: String,
    /// Verify a direct-run receipt (`POST /api/serverless`) instead of a chain job.
    #[arg(long, requires_all = ["request", "response"], conflicts_with = "job")]
    pub direct: bool,
    /// `--direct`: the request body that was POSTed.
    #[arg(long)]
    pub request: Option<PathBuf>,
    /// `--direct`: the response as `curl -i` prints it (status line, headers, blank line, body).
    #[arg(long)]
    pub response: Option<PathBuf>,
    /// Run settings for the local re-run.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// How `verify` re-runs the code.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// A config file for the re-run's limits.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The workerd binary (default: `workerd` on `PATH`).
    #[arg(long)]
    pub workerd: Option<PathBuf>,
}
