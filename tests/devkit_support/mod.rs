//! The developer kit's binary as the tests drive it: one-shot runs, a `job watch --ws` in the
//! background, and the chain and node set-up its tests share (a funded user, a second
//! registry, a direct run saved as `curl -i` would).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::contracts::{client, contract, send};
use crate::common::{repo, Deployment, TestChain, TestNode, DEPLOYER_KEY};
use ethers::types::U256;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_serverless-executor");

/// Runs the kit with `args`, logs off; no test key ever shows in what it prints.
pub fn kit(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_never_echoes_a_key(&output.stdout);
    assert_never_echoes_a_key(&output.stderr);
    output
}

/// Fails if `text` holds any test key, in whole or its first half.
pub fn assert_never_echoes_a_key(text: &[u8]) {
    use crate::common::{DEPLOYER_KEY, GAS_KEY, OWNER_KEY, STRANGER_KEY};
    let text = String::from_utf8_lossy(text).to_lowercase();
    for key in [DEPLOYER_KEY, OWNER_KEY, GAS_KEY, STRANGER_KEY] {
        assert!(!text.contains(&key[..32]), "a key was echoed: {text}");
    }
}

/// Its stdout, once it succeeded.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{output:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A kit subcommand running in the background (a `job watch --ws`, an upload waiting for its
/// receipt). Its stderr is read by a thread, so the test's runtime stays free to run what the
/// child talks through (a `TcpRelay`).
pub struct Background {
    child: Child,
    /// Lines from the reader thread, gathered into `stderr`.
    lines: mpsc::Receiver<String>,
    stderr: String,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Starts the kit with `args` in the background.
pub fn spawn_kit(args: &[&str]) -> Background {
    // `timeout`: a child that never ends fails the test (status 124) instead of hanging it.
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            // The receiver outlives the child's stderr unless the test already failed.
            let _ = send.send(line.unwrap());
        }
    });
    Background {
        child,
        lines,
        stderr: String::new(),
        reader: Some(reader),
    }
}

/// Starts `job watch --ws` and returns once it has subscribed and waits (its first progress
/// line).
pub async fn watch_ws_in_background(job: &str, ws: &str, jobs: &str) -> Background {
    let mut watching = spawn_kit(&["job", "watch", job, "--ws", ws, "--jobs", jobs]);
    watching.wait_for("waiting for answers: 0 of 1", 1).await;
    watching
}

impl Background {
    /// What the child wrote on stderr so far.
    pub fn stderr(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        self.stderr.clone()
    }

    /// Waits until `needle` has appeared `times` times on stderr; fails if the watch ends first.
    pub async fn wait_for(&mut self, needle: &str, times: usize) {
        while self.stderr().matches(needle).count() < times {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the watch ended ({status}) before {needle:?}: {}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the exit; its status, stdout and stderr.
    pub async fn finish(mut self) -> (Option<i32>, String, String) {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).unwrap();
        }
        let stderr = self.stderr();
        assert_never_echoes_a_key(out.as_bytes());
        assert_never_echoes_a_key(stderr.as_bytes());
        (status.code(), out, stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Only a failed test leaves it running; an exited child is reaped already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mints fee tokens to the user (the test token mints to anyone; a real user buys them).
pub async fn fund_user(chain: &TestChain, key_hex: &str) {
    let client = client(chain, key_hex);
    let usdc = contract("TestToken", &chain.deployment.usdc, client.clone());
    let amount = U256::exp10(12);
    send(
        usdc.method::<_, ()>("mint", (client.address(), amount))
            .unwrap(),
    )
    .await
    .unwrap();
}

/// Deploys a second, unrelated set of contracts on the same chain; returns its `Executors`.
pub fn second_registry(chain: &TestChain) -> String {
    let output = Command::new(repo().join("scripts/deploy-contracts.sh"))
        .args([
            "--rpc-url",
            &chain.anvil.http_url(),
            "--private-key",
            &format!("0x{DEPLOYER_KEY}"),
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let deployment: Deployment = serde_json::from_slice(&output.stdout).unwrap();
    deployment.executors
}

/// A direct run of `code_tx` with `input`: the request body, the response head as `curl -i`
/// prints it, and the body.
pub async fn direct_run(node: &TestNode, code_tx: &str, input: &str) -> (String, String, Vec<u8>) {
    let request = serde_json::json!({ "tx_hash": code_tx, "input": input }).to_string();
    // A fresh connection: the node's client may hold one the node closed while idle.
    let response = reqwest::Client::new()
        .post(node.url("/api/serverless"))
        .header("content-type", "application/json")
        .body(request.clone())
        .send()
        .await
        .unwrap();
    let mut head = format!("HTTP/1.1 {}\r\n", response.status());
    for (name, value) in response.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let body = response.bytes().await.unwrap().to_vec();
    (request, head, body)
}

/// A JSON-RPC call to anvil that must succeed (test control: `evm_mine`, `evm_setAutomine`).
pub async fn anvil_call(rpc: &str, method: &str, params: serde_json::Value) {
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply: serde_json::Value = reqwest::Client::new()
        .post(rpc)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(reply.get("error").is_none(), "{method}: {reply}");
}

/// Runs the README's quickstart block with bash against `chain` (its node running), the user's
/// key in `key_file`, the env file `demo.sh` would write in `dir`.
pub fn run_readme_quickstart(chain: &TestChain, key_file: &str, dir: &std::path::Path) -> Output {
    let env_file = dir.join("kit.env");
    let d = &chain.deployment;
    let env = format!(
        "export ETH_RPC_URL={} ETH_WS_URL={} JOBS={} EXECUTORS={} CODE_CONTRACT={} USDC={}\nexport USER_KEY_FILE={key_file}\n",
        chain.anvil.http_url(),
        chain.anvil.ws_url(),
        d.jobs,
        d.executors,
        d.code_contract,
        d.usdc
    );
    std::fs::write(&env_file, env).unwrap();
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &readme_quickstart(&env_file)])
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_never_echoes_a_key(&output.stdout);
    assert_never_echoes_a_key(&output.stderr);
    output
}

/// The README's quickstart block, made to run against a test chain: `source .demo/kit.env`
/// reads `env_file` instead and `SE` is the binary under test; nothing else is changed.
fn readme_quickstart(env_file: &std::path::Path) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let from = readme
        .find("**Quickstart**")
        .expect("README has a quickstart");
    let block = &readme[from..];
    let start = block.find("```bash\n").expect("a bash block") + "```bash\n".len();
    let end = start + block[start..].find("```").expect("the block ends");
    let script = &block[start..end];
    let (source, binary) = (
        "source .demo/kit.env",
        "SE=target/debug/serverless-executor",
    );
    assert!(
        script.contains(source) && script.contains(binary),
        "{script}"
    );
    script
        .replace(source, &format!("source {}", env_file.display()))
        .replace(binary, &format!("SE={BIN}"))
}
