//! The real node binary on a free loopback port, with its own config, key and log file in a temp
//! dir; stopped by PID (and its cgroups removed) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;

use super::*;

/// How to start a node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    pub compat_unauthenticated_admin: bool,
    /// Replaces the HTTP RPC URL (e.g. a closed port to simulate an RPC outage).
    pub http_rpc_url: Option<String>,
    /// Reuse this enclave key instead of generating one.
    pub enclave_key: Option<[u8; 32]>,
    pub job_capacity: Option<u64>,
    pub job_queue_capacity: Option<u64>,
    pub job_memory_limit_mib: Option<u64>,
    pub direct_run_deadline_ms: Option<u64>,
    /// Replaces the websocket URL (e.g. a [`proxy`]-style relay in front of anvil).
    pub ws_rpc_url: Option<String>,
    /// `chain_head_timeout_ms`: how long without a new block before the listener checks its
    /// connection. Default here 3 s so stall tests stay short.
    pub chain_head_timeout_ms: Option<u64>,
    /// `execution_mode` (`cold`, `prewarmed`, `isolate`); the node's default when `None`.
    pub execution_mode: Option<&'static str>,
    /// More config keys, merged over the above (e.g. `{"direct_run_capacity": 1}`).
    pub extra_config: Option<serde_json::Value>,
    /// Turn every optional job jail layer off (the benchmark's baseline).
    pub without_jail: bool,
    /// Another build of the node to run instead of this one (a benchmark's baseline tree).
    pub binary: Option<PathBuf>,
}

/// Warm processes a test node keeps idle: few, so parallel tests stay light.
pub const TEST_WARM_PROCESSES: usize = 2;

/// Unique within this machine: the process id and a counter.
pub fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// The real node binary, with its own config, key and log file in a temp dir.
pub struct TestNode {
    /// The node process (SIGTERM and exit status: `balancer.rs`).
    pub(super) child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub enclave_key: [u8; 32],
    pub cgroup_parent: String,
    log_path: PathBuf,
    binary: PathBuf,
    pub http: reqwest::Client,
}

impl TestNode {
    pub async fn start(chain: &TestChain, options: NodeOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let enclave_key = options.enclave_key.unwrap_or_else(|| {
            let key = k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
            key.to_bytes().into()
        });
        std::fs::write(dir.path().join("enclave.sec"), enclave_key).expect("key file");
        let deployment = &chain.deployment;
        let cgroup_parent = format!("serverless-executor-test-{}", unique_suffix());
        let config = json!({
            "workerd_runtime_path": repo().join(".tools/bin"),
            "common_chain_id": deployment.chain_id,
            "http_rpc_url": options.http_rpc_url.clone().unwrap_or_else(|| chain.anvil.http_url()),
            "web_socket_url": options.ws_rpc_url.clone().unwrap_or_else(|| chain.anvil.ws_url()),
            "executors_contract_addr": deployment.executors,
            "jobs_contract_addr": deployment.jobs,
            "code_contract_addr": deployment.code_contract,
            "enclave_signer_file": dir.path().join("enclave.sec"),
            "execution_buffer_time": 10,
            "num_selected_executors": 1,
            "compat_unauthenticated_admin": options.compat_unauthenticated_admin,
            "rpc_timeout_ms": 2000,
            "chain_reconnect_max_backoff_ms": 1000,
            "job_dir": dir.path().join("jobs"),
            "state_dir": dir.path().join("state"),
            "chain_head_timeout_ms": options.chain_head_timeout_ms.unwrap_or(3000),
            "cgroup_parent": cgroup_parent,
            "job_capacity": options.job_capacity.unwrap_or(4),
            "job_queue_capacity": options.job_queue_capacity.unwrap_or(64),
            "job_memory_limit_mib": options.job_memory_limit_mib.unwrap_or(128),
            "direct_run_deadline_ms": options.direct_run_deadline_ms.unwrap_or(5000),
        });
        let mut config = config;
        if let Some(mode) = options.execution_mode {
            config["execution_mode"] = json!(mode);
        }
        config["warm_processes"] = json!(TEST_WARM_PROCESSES);
        if options.without_jail {
            for layer in [
                "jail_identity",
                "jail_filesystem",
                "jail_namespaces",
                "jail_landlock",
            ] {
                config[layer] = json!(false);
            }
            config["jail_seccomp"] = json!("off");
        }
        if let Some(serde_json::Value::Object(extra)) = &options.extra_config {
            for (key, value) in extra {
                config[key.as_str()] = value.clone();
            }
        }
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("config file");
        let binary = options
            .binary
            .clone()
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_serverless-executor").into());
        Self::spawn(dir, enclave_key, cgroup_parent, &config_path, binary).await
    }

    /// Kills the node with SIGKILL (a crash: no shutdown code runs) and starts it again on the
    /// same port with the same config, key, state directory and cgroup parent; its log continues
    /// in the same file. The owner and gas key must be configured again, as after any restart.
    pub async fn crash_and_restart(&mut self) {
        self.crash();
        self.start_again().await;
    }

    /// Kills the node with SIGKILL and reaps it; [`TestNode::start_again`] brings it back, so a
    /// test can act on the chain while the node is down.
    pub fn crash(&mut self) {
        stop(&mut self.child);
    }

    /// Starts a crashed node again, as [`TestNode::crash_and_restart`] does.
    pub async fn start_again(&mut self) {
        let config_path = self.dir.path().join("config.json");
        self.child = spawn_node(&self.binary, self.port, &config_path, &self.log_path);
        self.wait_ready().await;
    }

    async fn spawn(
        dir: TempDir,
        enclave_key: [u8; 32],
        cgroup_parent: String,
        config_path: &Path,
        binary: PathBuf,
    ) -> Self {
        let port = free_port();
        let log_path = dir.path().join("node.log");
        let child = spawn_node(&binary, port, config_path, &log_path);
        let mut node = Self {
            child,
            port,
            dir,
            enclave_key,
            cgroup_parent,
            log_path,
            binary,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        };
        node.wait_ready().await;
        node
    }

    /// Waits until `GET /` answers; panics with the node's log if it exits or takes too long.
    async fn wait_ready(&mut self) {
        let url = self.url("/");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node exited with {status}: {}", self.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node not up: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn enclave_address(&self) -> String {
        let key = k256::ecdsa::SigningKey::from_slice(&self.enclave_key).expect("valid key");
        format!("{:?}", ethers::utils::secret_key_to_address(&key))
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        self.post_raw(path, body.to_string(), &[]).await
    }

    /// POSTs `body` as JSON with extra headers; returns status and body text.
    pub async fn post_raw(
        &self,
        path: &str,
        body: String,
        headers: &[(String, String)],
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("request sent");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    /// The owner's signature headers for `route` and `body` bound to this node's enclave.
    pub async fn owner_signed(&self, route: &str, body: &str, nonce: u64) -> Vec<(String, String)> {
        owner_headers(
            OWNER_KEY,
            route,
            body,
            &self.enclave_address(),
            nonce,
            now() + 60,
        )
        .await
    }

    /// Sets the owner and gas key the way an operator would (no signature needed yet for the
    /// owner; the gas key is signed by the owner).
    pub async fn configure(&self) {
        self.configure_with(GAS_KEY).await;
    }

    /// As [`TestNode::configure`], with a gas key of the caller's choice.
    pub async fn configure_with(&self, gas_key: &str) {
        let owner = address_of_key(OWNER_KEY);
        let (status, body) = self
            .post_json("/immutable-config", &json!({"owner_address_hex": owner}))
            .await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Immutable params configured!\n")
        );
        let body = json!({"gas_key_hex": gas_key}).to_string();
        let headers = self.owner_signed("/mutable-config", &body, 1).await;
        let (status, text) = self.post_raw("/mutable-config", body, &headers).await;
        assert_eq!(
            (status, text.as_str()),
            (200, "Mutable params configured!\n")
        );
    }
}

/// A fresh chain and a node on it, with Marlin's unsigned admin calls allowed when `compat`.
pub async fn admin_node(compat: bool) -> (TestChain, TestNode) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        compat_unauthenticated_admin: compat,
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    (chain, node)
}

/// The nodes' log level: `debug` for tests (their logs explain a failure); benches set `info`,
/// an operator's default, with [`log_as_operators_do`], so logging costs what it costs there.
static LOG_LEVEL: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Nodes started from now on log at `info`, as an operator runs them (for benchmarks).
pub fn log_as_operators_do() {
    let _ = LOG_LEVEL.set("info");
}

/// Starts the node `binary` on `port`, appending its output to `log_path`.
fn spawn_node(binary: &Path, port: u16, config_path: &Path, log_path: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("log file");
    Command::new(binary)
        .args(["--port", &port.to_string(), "--config-file"])
        .arg(config_path)
        .env("RUST_LOG", LOG_LEVEL.get().copied().unwrap_or("debug"))
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("node starts")
}

impl Drop for TestNode {
    fn drop(&mut self) {
        stop(&mut self.child);
        remove_cgroup_parent(&self.cgroup_parent);
    }
}

/// Removes a killed node's cgroup parent and any job cgroup still in it. Its workerd processes
/// die with the node (parent-death signal), so the job cgroups empty within moments. Runs in
/// `Drop`, hence synchronous waiting.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub fn remove_cgroup_parent(parent: &str) {
    // Generous: on a loaded 2-core machine a killed workerd can take seconds to go.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for hierarchy in ["memory", "cpu", "pids", "freezer", "unified", ""] {
        let dir = Path::new("/sys/fs/cgroup").join(hierarchy).join(parent);
        if !dir.is_dir() {
            continue;
        }
        loop {
            let children: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            let removed = children
                .iter()
                .all(|child| std::fs::remove_dir(child).is_ok());
            if (removed && std::fs::remove_dir(&dir).is_ok())
                || std::time::Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
