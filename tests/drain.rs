//! The graceful drain of one real node, and its agent-check port, without a balancer:
//! - on SIGTERM the agent says `drain` and `/ready` fails at once, direct runs are still taken
//!   during `drain_grace_ms`, then refused with 503 + `Retry-After`; the direct run and the
//!   chain job in flight at the signal both finish (the chain output is on chain before the
//!   process ends) and the node exits 0;
//! - a second SIGTERM forces the exit while a run is in flight: non-zero, logged;
//! - the agent port answers while hundreds of connections that never read are open.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::upload_code;
use common::jobs::{registered_node_with, responded_count, slow_job_started, SLOW_ECHO};
use common::*;
use serde_json::json;
use tokio::io::AsyncReadExt;

/// As `SLOW_ECHO`, but 9 s: a direct run that outlasts the grace and the runs taken within it,
/// so the node cannot have drained (and exited) before the test has seen its 503s.
const LINGERING_ECHO: &str = "export default { async fetch(request) { const body = await request.text(); await new Promise((resolve) => setTimeout(resolve, 9000)); return new Response('slow:' + body); } };";

/// A node with an agent port and a drain grace long enough to act within it.
fn options(agent_port: u16) -> NodeOptions {
    NodeOptions {
        direct_run_deadline_ms: Some(15_000),
        extra_config: Some(json!({
            "lb_agent_port": agent_port,
            "drain_grace_ms": 2000,
            "shutdown_timeout_ms": 60_000,
        })),
        ..NodeOptions::default()
    }
}

/// The agent's line, read to the end of the connection.
async fn agent_line(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut line = String::new();
    stream.read_to_string(&mut line).await.unwrap();
    line
}

async fn direct(node: &TestNode, code_tx: &str) -> reqwest::Response {
    node.http
        .post(node.url("/api/serverless"))
        .json(&json!({"tx_hash": code_tx, "input": "x"}))
        .send()
        .await
        .unwrap()
}

/// Waits until the direct run has taken a slot (the agent's weight drops below 100 %), sends
/// SIGTERM and waits until the agent says `drain`.
async fn terminate_once_running(node: &mut TestNode, agent_port: u16) {
    wait_until(
        Duration::from_secs(20),
        "the direct run to start",
        || async { !agent_line(agent_port).await.contains("100%") },
    )
    .await;
    node.terminate();
    wait_until(
        Duration::from_secs(10),
        "the agent to say drain",
        || async { agent_line(agent_port).await == "drain\n" },
    )
    .await;
}

#[tokio::test]
async fn sigterm_drains_direct_runs_and_chain_outputs_then_exits_zero() {
    let chain = TestChain::start().await;
    let agent_port = free_port();
    let mut node = registered_node_with(&chain, GAS_KEY, options(agent_port)).await;
    assert_eq!(agent_line(agent_port).await, "ready up 100%\n");
    let (status, body) = node.get("/ready").await;
    assert_eq!((status, body.as_str()), (200, "ready\nup 100%\n"));

    let (slow_tx, job_id) = slow_job_started(&chain, &node, b"chain", 20_000).await;
    let lingering_tx = upload_code(&chain, STRANGER_KEY, LINGERING_ECHO.as_bytes()).await;
    let in_flight = {
        let (http, url) = (node.http.clone(), node.url("/api/serverless"));
        let body = json!({"tx_hash": lingering_tx, "input": "direct"});
        tokio::spawn(async move {
            let response = http.post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    terminate_once_running(&mut node, agent_port).await;
    let (status, body) = node.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    // Within the grace a new run is still taken (a request routed before the balancer noticed).
    assert_eq!(direct(&node, &slow_tx).await.status(), 200);
    wait_until(
        Duration::from_secs(20),
        "new runs to be refused",
        || async { direct(&node, &slow_tx).await.status() == 503 },
    )
    .await;
    let refused = direct(&node, &slow_tx).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(in_flight.await.unwrap(), (200, "slow:direct".to_owned()));

    let status = node.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "exit {status}: {}", node.logs());
    assert!(node.logs().contains("Drained"), "{}", node.logs());
    // Submitted and included before the process ended, not after.
    assert_eq!(responded_count(&chain, job_id).await, 1, "{}", node.logs());
}

#[tokio::test]
async fn a_second_sigterm_forces_a_non_zero_exit() {
    let chain = TestChain::start().await;
    let agent_port = free_port();
    let mut node = TestNode::start(&chain, options(agent_port)).await;
    let slow_tx = upload_code(&chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;
    let in_flight = {
        let (http, url) = (node.http.clone(), node.url("/api/serverless"));
        let body = json!({"tx_hash": slow_tx, "input": "direct"});
        tokio::spawn(async move { http.post(url).json(&body).send().await.is_ok() })
    };
    terminate_once_running(&mut node, agent_port).await;
    node.terminate();
    let status = node.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "{}", node.logs());
    let logs = node.logs();
    assert!(logs.contains("Shutdown forced"), "{logs}");
    assert!(logs.contains("Left in flight"), "{logs}");
    let _ = in_flight.await;
}

#[tokio::test]
async fn the_agent_port_answers_while_many_clients_never_read() {
    let chain = TestChain::start().await;
    let agent_port = free_port();
    let node = TestNode::start(&chain, options(agent_port)).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", agent_port))
                .await
                .unwrap(),
        );
    }
    assert_eq!(agent_line(agent_port).await, "ready up 100%\n");
    // The node itself is unaffected.
    assert_eq!(node.get("/ready").await.0, 200);
    drop(idle);
}
