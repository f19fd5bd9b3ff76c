//! Node configuration: reads the operator's file (JSON as Marlin's, or TOML), validates it into
//! typed values and hands each actor its own sub-struct.
//!
//! Receives nothing and sends nothing; `main` calls [`Config::load`] once at start. Every error
//! names the offending key so the operator can fix it from one line.

mod balancer;
mod jail;
mod local;
mod observability;
mod parse;
mod raw;
mod validate;

pub use balancer::BalancerConfig;
pub use jail::JailConfig;
pub use local::LocalExecution;
pub use observability::{LogFormat, ObservabilityConfig};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::domain::Address;
use parse::parse;
use raw::RawConfig;
use validate::{
    address, cgroup_name, in_range, invalid, non_empty_path, positive_millis, positive_secs,
    url_with_scheme,
};

/// The validated configuration of the whole node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where workerd lives and where job files are written (used by the execution engine).
    pub workerd_runtime_path: PathBuf,
    /// The raw 32-byte enclave key file.
    pub enclave_signer_file: PathBuf,
    /// Chain endpoints and contract addresses.
    pub chain: ChainConfig,
    /// Admin route policy.
    pub admin: AdminConfig,
    /// Interface the HTTP server binds to; the port comes from `--port`.
    pub http_bind_address: IpAddr,
    /// Log format and where `/metrics` is served.
    pub observability: ObservabilityConfig,
    /// Jobs this node runs at once; announced on chain at registration.
    pub job_capacity: u64,
    /// Marlin's `execution_buffer_time`; the chain loop reads the real value from `Jobs`.
    pub execution_buffer_time: Duration,
    /// Marlin's `num_selected_executors`; the chain loop reads the real value from `Jobs`.
    pub num_selected_executors: u8,
    /// How jobs are run.
    pub execution: ExecutionConfig,
    /// The `POST /api/serverless` route.
    pub direct_run: DirectRunConfig,
    /// The agent port and the graceful drain (`lb_agent_port`, `drain_grace_ms`…).
    pub balancer: BalancerConfig,
}

/// How a job gets its workerd process (DESIGN.md §3). Every mode gives the same outputs and
/// outcome codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionMode {
    /// A new process per job, with the job's code in its config: a full start on the critical
    /// path (Marlin's semantics).
    Cold,
    /// A new process per job, started before the job arrives, serving a loader; the code comes
    /// with the request; killed after the job.
    Prewarmed,
    /// Long-lived processes, one job at a time each, every job in a fresh isolate; recycled
    /// after a doubtful end or every `isolate_jobs_per_process` jobs.
    Isolate,
}

/// What the execution actors need.
#[derive(Debug, Clone)]
pub struct ExecutionConfig {
    /// How jobs get their workerd process.
    pub mode: ExecutionMode,
    /// Warm modes: processes kept started and idle, ready for the next job (and the most kept
    /// idle after a burst).
    pub warm_processes: usize,
    /// `isolate` mode: jobs a process serves before it is replaced.
    pub isolate_jobs_per_process: u32,
    /// The workerd binary (`workerd_runtime_path/workerd`).
    pub workerd: PathBuf,
    /// Per-job directories are created (and removed) below it.
    pub job_dir: PathBuf,
    /// Where the cgroup filesystem is mounted.
    pub cgroup_root: PathBuf,
    /// The node's parent cgroup name; job cgroups are its children.
    pub cgroup_parent: String,
    /// Memory limit of one job.
    pub memory_limit_bytes: u64,
    /// CPU quota of one job, in percent of one CPU.
    pub cpu_percent: u64,
    /// Tasks (processes and threads) of one job.
    pub pids_max: u64,
    /// Jobs that may wait for a slot; more are refused (503 on the direct route).
    pub queue_capacity: usize,
    /// Largest output; more is outcome 5.
    pub max_output_bytes: usize,
    /// Bound of the code cache in bytes.
    pub code_cache_bytes: usize,
    /// Run workerd in an empty network namespace.
    pub network_isolation: bool,
    /// The job jail's layers.
    pub jail: JailConfig,
}

/// What the direct-run route needs.
#[derive(Debug, Clone)]
pub struct DirectRunConfig {
    /// Serve `POST /api/serverless` at all.
    pub enabled: bool,
    /// The deadline of a direct run.
    pub deadline: Duration,
    /// Largest request body.
    pub body_limit_bytes: usize,
    /// Direct runs at once, apart from the chain's slots.
    pub capacity: usize,
    /// Longest a direct run waits for a slot before it is refused (never the user's time).
    pub queue_timeout: Duration,
}

/// What the chain-facing actors need.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Chain id used to sign transactions and in the admin signature domain.
    pub chain_id: u64,
    /// JSON-RPC over HTTP: transactions, code fetches, log backfill.
    pub http_rpc_url: Url,
    /// JSON-RPC over websocket: log subscriptions.
    pub ws_rpc_url: Url,
    /// The `Executors` contract.
    pub executors: Address,
    /// The `Jobs` contract.
    pub jobs: Address,
    /// The contract code uploads are sent to (compared as an address, any case).
    pub code_contract: Address,
    /// Upper bound for one JSON-RPC call, so a hung endpoint cannot stall an actor.
    pub rpc_timeout: Duration,
    /// Longest wait between two reconnect attempts of the chain listener.
    pub reconnect_max_backoff: Duration,
    /// With no new block for this long, the listener checks the connection with a request and
    /// reconnects if it does not answer or the chain moved on without telling us.
    pub head_timeout: Duration,
    /// Where the listener's checkpoint survives restarts.
    pub state_dir: PathBuf,
    /// Highest `maxFeePerGas` a transaction (or its fee bumps) may offer, in wei.
    pub max_fee_cap_wei: u128,
}

/// What the admin routes need.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Accept mutating admin calls without an owner signature, as Marlin did.
    pub compat_unauthenticated_admin: bool,
    /// The furthest in the future an owner signature's expiry may lie.
    pub signature_max_ttl: Duration,
    /// Largest admin request body accepted.
    pub body_limit_bytes: usize,
}

/// Why the config was refused. Every variant names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The extension is neither `.json` nor `.toml`.
    #[error("config file {path} must end in .json or .toml")]
    Format {
        /// The config file.
        path: PathBuf,
    },
    /// The file does not parse into the expected keys (missing, unknown or mistyped key).
    #[error("config file {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, prefixed with the key it concerns.
        message: String,
    },
    /// A key parsed but its value is not acceptable.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// The offending key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Config {
    /// Reads and validates the config file; the format follows the extension.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw = parse(path, &text)?;
        Self::validate(raw)
    }

    /// Parses config text of the given format (`"json"` or `"toml"`); used by tests too.
    pub fn from_text(format: &str, text: &str) -> Result<Self, ConfigError> {
        let path = PathBuf::from(format!("<inline>.{format}"));
        Self::validate(parse(&path, text)?)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let chain = ChainConfig {
            chain_id: raw.common_chain_id,
            http_rpc_url: url_with_scheme("http_rpc_url", &raw.http_rpc_url, &["http", "https"])?,
            ws_rpc_url: url_with_scheme("web_socket_url", &raw.web_socket_url, &["ws", "wss"])?,
            executors: address("executors_contract_addr", &raw.executors_contract_addr)?,
            jobs: address("jobs_contract_addr", &raw.jobs_contract_addr)?,
            code_contract: address("code_contract_addr", &raw.code_contract_addr)?,
            rpc_timeout: positive_millis("rpc_timeout_ms", raw.rpc_timeout_ms)?,
            reconnect_max_backoff: positive_millis(
                "chain_reconnect_max_backoff_ms",
                raw.chain_reconnect_max_backoff_ms,
            )?,
            head_timeout: positive_millis("chain_head_timeout_ms", raw.chain_head_timeout_ms)?,
            state_dir: match &raw.state_dir {
                Some(dir) => non_empty_path("state_dir", dir)?,
                None => PathBuf::from(&raw.workerd_runtime_path).join("state"),
            },
            max_fee_cap_wei: u128::from(in_range(
                "max_fee_cap_gwei",
                raw.max_fee_cap_gwei,
                1,
                1_000_000,
            )?) * 1_000_000_000,
        };
        let admin = AdminConfig {
            compat_unauthenticated_admin: raw.compat_unauthenticated_admin,
            signature_max_ttl: positive_secs(
                "admin_signature_max_ttl_secs",
                raw.admin_signature_max_ttl_secs,
            )?,
            body_limit_bytes: in_range(
                "admin_body_limit_bytes",
                raw.admin_body_limit_bytes,
                256,
                1 << 20,
            )?,
        };
        let workerd_runtime_path =
            non_empty_path("workerd_runtime_path", &raw.workerd_runtime_path)?;
        Ok(Self {
            execution: execution_config(&raw, &workerd_runtime_path)?,
            direct_run: direct_run_config(&raw)?,
            observability: observability::observability_config(&raw)?,
            balancer: balancer::balancer_config(&raw)?,
            workerd_runtime_path,
            enclave_signer_file: non_empty_path("enclave_signer_file", &raw.enclave_signer_file)?,
            chain,
            admin,
            http_bind_address: raw.http_bind_address.parse().map_err(|_| {
                invalid(
                    "http_bind_address",
                    format!("`{}` is not an IP address", raw.http_bind_address),
                )
            })?,
            job_capacity: in_range("job_capacity", raw.job_capacity, 1, 4096)?,
            execution_buffer_time: Duration::from_secs(raw.execution_buffer_time),
            num_selected_executors: in_range(
                "num_selected_executors",
                raw.num_selected_executors,
                1,
                6,
            )?,
        })
    }
}

fn execution_config(raw: &RawConfig, runtime: &Path) -> Result<ExecutionConfig, ConfigError> {
    let memory_mib = in_range(
        "job_memory_limit_mib",
        raw.job_memory_limit_mib,
        16,
        1 << 20,
    )?;
    let mode = match raw.execution_mode.as_str() {
        "cold" => ExecutionMode::Cold,
        "prewarmed" => ExecutionMode::Prewarmed,
        "isolate" => ExecutionMode::Isolate,
        other => {
            return Err(invalid(
                "execution_mode",
                format!("`{other}` is not one of cold, prewarmed, isolate"),
            ))
        }
    };
    let capacity = usize::try_from(raw.job_capacity).unwrap_or(usize::MAX);
    Ok(ExecutionConfig {
        mode,
        warm_processes: in_range(
            "warm_processes",
            // `isolate` reuses its processes, so it keeps one per slot (a spare one more, to take
            // the next job while a finished job's process passes its after-job check, measured
            // 7–10 % less throughput at saturation and no better latency: README, "Pool
            // shape"); `prewarmed` only needs enough to cover the start time of the next few
            // jobs.
            raw.warm_processes.unwrap_or(match mode {
                ExecutionMode::Isolate => capacity,
                _ => capacity.min(8),
            }),
            1,
            4096,
        )?,
        isolate_jobs_per_process: in_range(
            "isolate_jobs_per_process",
            raw.isolate_jobs_per_process,
            1,
            1_000_000,
        )?,
        workerd: runtime.join("workerd"),
        job_dir: match &raw.job_dir {
            Some(dir) => non_empty_path("job_dir", dir)?,
            None => runtime.join("jobs"),
        },
        cgroup_root: non_empty_path("cgroup_root", &raw.cgroup_root)?,
        cgroup_parent: cgroup_name("cgroup_parent", &raw.cgroup_parent)?,
        memory_limit_bytes: memory_mib * 1024 * 1024,
        cpu_percent: in_range("job_cpu_percent", raw.job_cpu_percent, 1, 100 * 256)?,
        pids_max: in_range("job_pids_max", raw.job_pids_max, 8, 1 << 16)?,
        queue_capacity: in_range("job_queue_capacity", raw.job_queue_capacity, 0, 1 << 16)?,
        max_output_bytes: in_range("max_output_bytes", raw.max_output_bytes, 1, 64 << 20)?,
        code_cache_bytes: raw.code_cache_bytes,
        network_isolation: raw.job_network_isolation,
        // Job slots = cgroup leases: twice the capacity plus idle warm processes (system.rs).
        jail: jail::jail_config(raw, raw.job_capacity.saturating_mul(2).saturating_add(4096))?,
    })
}

fn direct_run_config(raw: &RawConfig) -> Result<DirectRunConfig, ConfigError> {
    Ok(DirectRunConfig {
        enabled: raw.direct_run_enabled,
        deadline: positive_millis("direct_run_deadline_ms", raw.direct_run_deadline_ms)?,
        body_limit_bytes: in_range(
            "direct_run_body_limit_bytes",
            raw.direct_run_body_limit_bytes,
            256,
            64 << 20,
        )?,
        capacity: usize::try_from(in_range(
            "direct_run_capacity",
            raw.direct_run_capacity.unwrap_or(raw.job_capacity),
            1,
            4096,
        )?)
        .unwrap_or(4096),
        queue_timeout: positive_millis(
            "direct_run_queue_timeout_ms",
            raw.direct_run_queue_timeout_ms,
        )?,
    })
}

#[cfg(test)]
mod tests;
