//! The config file as written by the operator: Marlin's JSON keys unchanged plus our additions.
//!
//! Deserialised strictly (`deny_unknown_fields`), then validated into [`super::Config`]. Our
//! additions all have defaults, so an unchanged Marlin config file is accepted as it is.

use serde::Deserialize;

/// One-to-one image of the file. Field docs say what the operator sets; units are in the names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    // Marlin's keys (protocol.md §7.1).
    pub(super) workerd_runtime_path: String,
    pub(super) common_chain_id: u64,
    pub(super) http_rpc_url: String,
    pub(super) web_socket_url: String,
    pub(super) executors_contract_addr: String,
    pub(super) jobs_contract_addr: String,
    pub(super) code_contract_addr: String,
    pub(super) enclave_signer_file: String,
    pub(super) execution_buffer_time: u64,
    pub(super) num_selected_executors: u8,

    // Our additions.
    #[serde(default)]
    pub(super) compat_unauthenticated_admin: bool,
    #[serde(default = "default_bind_address")]
    pub(super) http_bind_address: String,
    #[serde(default = "default_job_capacity")]
    pub(super) job_capacity: u64,
    #[serde(default = "default_admin_signature_max_ttl_secs")]
    pub(super) admin_signature_max_ttl_secs: u64,
    #[serde(default = "default_admin_body_limit_bytes")]
    pub(super) admin_body_limit_bytes: usize,
    #[serde(default = "default_rpc_timeout_ms")]
    pub(super) rpc_timeout_ms: u64,
    #[serde(default = "default_chain_reconnect_max_backoff_ms")]
    pub(super) chain_reconnect_max_backoff_ms: u64,
    #[serde(default = "default_chain_head_timeout_ms")]
    pub(super) chain_head_timeout_ms: u64,
    #[serde(default)]
    pub(super) state_dir: Option<String>,
    #[serde(default = "default_max_fee_cap_gwei")]
    pub(super) max_fee_cap_gwei: u64,
    #[serde(default)]
    pub(super) log_format: Option<String>,
    #[serde(default)]
    pub(super) metrics_bind_address: Option<String>,

    // Execution.
    #[serde(default = "default_execution_mode")]
    pub(super) execution_mode: String,
    #[serde(default)]
    pub(super) warm_processes: Option<usize>,
    #[serde(default = "default_isolate_jobs_per_process")]
    pub(super) isolate_jobs_per_process: u32,
    #[serde(default)]
    pub(super) job_dir: Option<String>,
    #[serde(default = "default_cgroup_root")]
    pub(super) cgroup_root: String,
    #[serde(default = "default_cgroup_parent")]
    pub(super) cgroup_parent: String,
    #[serde(default = "default_job_memory_limit_mib")]
    pub(super) job_memory_limit_mib: u64,
    #[serde(default = "default_job_cpu_percent")]
    pub(super) job_cpu_percent: u64,
    #[serde(default = "default_job_pids_max")]
    pub(super) job_pids_max: u64,
    #[serde(default = "default_job_queue_capacity")]
    pub(super) job_queue_capacity: usize,
    #[serde(default = "default_max_output_bytes")]
    pub(super) max_output_bytes: usize,
    #[serde(default = "default_code_cache_bytes")]
    pub(super) code_cache_bytes: usize,
    #[serde(default = "default_true")]
    pub(super) job_network_isolation: bool,
    #[serde(default = "default_true")]
    pub(super) direct_run_enabled: bool,
    #[serde(default = "default_direct_run_deadline_ms")]
    pub(super) direct_run_deadline_ms: u64,
    #[serde(default = "default_direct_run_body_limit_bytes")]
    pub(super) direct_run_body_limit_bytes: usize,
    /// Default: `job_capacity`.
    #[serde(default)]
    pub(super) direct_run_capacity: Option<u64>,
    #[serde(default = "default_direct_run_queue_timeout_ms")]
    pub(super) direct_run_queue_timeout_ms: u64,

    // Behind a load balancer (`super::balancer`).
    /// Off when absent.
    #[serde(default)]
    pub(super) lb_agent_port: Option<u16>,
    #[serde(default = "default_drain_grace_ms")]
    pub(super) drain_grace_ms: u64,
    #[serde(default = "default_shutdown_timeout_ms")]
    pub(super) shutdown_timeout_ms: u64,

    // The job jail.
    #[serde(default = "default_job_uid_base")]
    pub(super) job_uid_base: u64,
    #[serde(default = "default_true")]
    pub(super) jail_identity: bool,
    #[serde(default = "default_true")]
    pub(super) jail_filesystem: bool,
    #[serde(default = "default_true")]
    pub(super) jail_namespaces: bool,
    #[serde(default = "default_jail_seccomp")]
    pub(super) jail_seccomp: String,
    #[serde(default = "default_true")]
    pub(super) jail_landlock: bool,
    #[serde(default = "default_job_open_files_max")]
    pub(super) job_open_files_max: u64,
    #[serde(default = "default_job_file_size_max_mib")]
    pub(super) job_file_size_max_mib: u64,
}

fn default_job_uid_base() -> u64 {
    2_000_000
}

fn default_jail_seccomp() -> String {
    "deny".to_owned()
}

fn default_job_open_files_max() -> u64 {
    1024
}

fn default_job_file_size_max_mib() -> u64 {
    16
}

fn default_true() -> bool {
    true
}

fn default_cgroup_root() -> String {
    "/sys/fs/cgroup".to_owned()
}

fn default_cgroup_parent() -> String {
    "serverless-executor".to_owned()
}

fn default_job_memory_limit_mib() -> u64 {
    256
}

fn default_job_cpu_percent() -> u64 {
    100
}

fn default_job_pids_max() -> u64 {
    64
}

fn default_job_queue_capacity() -> usize {
    64
}

fn default_max_output_bytes() -> usize {
    20 * 1024
}

fn default_code_cache_bytes() -> usize {
    64 * 1024 * 1024
}

fn default_direct_run_deadline_ms() -> u64 {
    5_000
}

fn default_direct_run_queue_timeout_ms() -> u64 {
    30_000
}

fn default_direct_run_body_limit_bytes() -> usize {
    1024 * 1024
}

fn default_drain_grace_ms() -> u64 {
    3_000
}

fn default_shutdown_timeout_ms() -> u64 {
    120_000
}

fn default_bind_address() -> String {
    "127.0.0.1".to_owned()
}

fn default_job_capacity() -> u64 {
    20
}

fn default_admin_signature_max_ttl_secs() -> u64 {
    300
}

fn default_admin_body_limit_bytes() -> usize {
    16 * 1024
}

fn default_rpc_timeout_ms() -> u64 {
    5_000
}

fn default_chain_reconnect_max_backoff_ms() -> u64 {
    30_000
}

fn default_chain_head_timeout_ms() -> u64 {
    30_000
}

fn default_execution_mode() -> String {
    "prewarmed".to_owned()
}

fn default_isolate_jobs_per_process() -> u32 {
    100
}

fn default_max_fee_cap_gwei() -> u64 {
    1_000
}
