//! Anvil on a free loopback port with our contracts deployed by `scripts/deploy-contracts.sh`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::{free_port, repo, stop, tool, wait_until, DEPLOYER_KEY};

/// A local anvil chain on a free loopback port.
pub struct Anvil {
    child: Child,
    pub port: u16,
}

impl Anvil {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new(tool("anvil"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let anvil = Self { child, port };
        let client = reqwest::Client::new();
        let url = anvil.http_url();
        wait_until(Duration::from_secs(20), "anvil to answer", || {
            let request = client
                .post(&url)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
                .send();
            async move {
                request
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await;
        anvil
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Addresses printed by `scripts/deploy-contracts.sh`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub pond: String,
    pub usdc: String,
    pub executors: String,
    pub jobs: String,
    pub code_contract: String,
}

/// Anvil plus our contracts.
pub struct TestChain {
    pub anvil: Anvil,
    pub deployment: Deployment,
}

impl TestChain {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Anvil plus our contracts deployed with extra `deploy-contracts.sh` arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        let anvil = Anvil::start().await;
        let output = Command::new(repo().join("scripts/deploy-contracts.sh"))
            .args([
                "--rpc-url",
                &anvil.http_url(),
                "--private-key",
                &format!("0x{DEPLOYER_KEY}"),
            ])
            .args(extra)
            .current_dir(repo())
            .output()
            .expect("deploy script runs");
        assert!(
            output.status.success(),
            "deploy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let deployment = serde_json::from_slice(&output.stdout).expect("deploy prints JSON");
        Self { anvil, deployment }
    }
}
