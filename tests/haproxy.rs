//! Scale-out behind a real HAProxy (`deploy/haproxy/haproxy.cfg`, Debian's package): three real
//! nodes registered on one `Executors`, with 1, 2 and 3 direct slots, behind one balancer.
//! One cluster start serves every scenario, in order:
//! - spread: 600 direct runs through HAProxy, every one answered with its own output, each
//!   node's share within ±15 % (relative) of its share of the slots;
//! - saturation: node 1's slots and queue filled by slow runs sent to it directly; the agent
//!   weight drops to 0 and /ready fails, and runs through HAProxy all succeed on the others;
//! - failure: `kill -9` of node 3 under open-loop load; with `retry-on conn-failure
//!   empty-response` + `option redispatch` not one request fails (the runs it had in flight
//!   included: this proves the retry policy, not only the health checks); HAProxy marks it
//!   DOWN; restarted, it is UP and sent runs again;
//! - rolling restart with chain mode at the same time: each node in turn gets SIGTERM, drains
//!   (exit status 0) and is restarted, under open-loop HTTP load and while chain jobs are
//!   created: 0 failed requests, and every chain job answered exactly once.
//!
//! No timing is asserted; waits are generous bounds. The figures (runs per node, retries) are
//! printed for the README.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::balancer::{Backend, Haproxy};
use common::contracts::{create_job, upload_code};
use common::jobs::{outputs, outputs_of, registered_node_with, wait_for_outputs};
use common::*;
use ethers::types::U256;
use serde_json::json;

/// Echoes its input after 200 ms of waiting (not computing): a slot, not the 2 shared cores,
/// is what a run occupies, so a node's throughput follows its slots as in production.
const ECHO: &str = "export default { async fetch(request) { const body = await request.text(); await new Promise((resolve) => setTimeout(resolve, 200)); return new Response('echo:' + body); } };";
/// Holds a slot for six seconds: long enough for the balancer to see the node full.
const SLOW: &str = "export default { async fetch(request) { await new Promise((resolve) => setTimeout(resolve, 6000)); return new Response('slow'); } };";
const GAS_KEYS: [&str; 3] = [GAS_KEY, SECOND_GAS_KEY, THIRD_GAS_KEY];
const SLOTS: [u64; 3] = [1, 2, 3];

struct Cluster {
    chain: TestChain,
    nodes: Vec<TestNode>,
    lb: Haproxy,
    echo_tx: String,
    http: reqwest::Client,
}

async fn start_cluster() -> Cluster {
    let chain = TestChain::start().await;
    let mut nodes = Vec::new();
    let mut backends = Vec::new();
    for (slots, gas_key) in SLOTS.into_iter().zip(GAS_KEYS) {
        let agent_port = free_port();
        let options = NodeOptions {
            job_capacity: Some(2),
            // Node 1: one queue place, so that two slow runs fill it (saturation).
            job_queue_capacity: Some(if slots == 1 { 1 } else { 4 }),
            direct_run_deadline_ms: Some(10_000),
            // Long-lived processes, one per slot: a run costs an isolate, not a process start,
            // so the slots (not a node's process starts) bound its throughput.
            execution_mode: Some("isolate"),
            extra_config: Some(json!({
                "warm_processes": slots + 2,
                "direct_run_capacity": slots,
                "lb_agent_port": agent_port,
                "drain_grace_ms": 1500,
                "shutdown_timeout_ms": 60_000,
            })),
            ..NodeOptions::default()
        };
        let node = registered_node_with(&chain, gas_key, options).await;
        backends.push(Backend {
            http_port: node.port,
            agent_port,
            slots,
        });
        nodes.push(node);
    }
    for node in &nodes {
        wait_chain_ready(node).await;
    }
    let lb = Haproxy::start(&backends, nodes[0].dir.path()).await;
    let echo_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    Cluster {
        chain,
        nodes,
        lb,
        echo_tx,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

async fn wait_chain_ready(node: &TestNode) {
    let ready = poll_until(Duration::from_secs(30), || async {
        node.get("/ready/chain").await.0 == 200
    })
    .await;
    assert!(ready, "node not chain-ready: {}", node.logs());
}

/// One direct run through `url`: the status and the body.
async fn run(http: &reqwest::Client, url: &str, code_tx: &str, input: &str) -> (u16, String) {
    let body = json!({"tx_hash": code_tx, "input": input});
    match http.post(url).json(&body).send().await {
        Ok(response) => (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        ),
        Err(error) => (0, error.to_string()),
    }
}

/// Direct runs that did not come back 200 with their own echo.
/// Lists at most five of them, and how many there are.
fn failures(results: &[(String, (u16, String))]) -> Vec<String> {
    let failed: Vec<String> = results
        .iter()
        .filter(|(input, (status, body))| *status != 200 || *body != format!("echo:{input}"))
        .map(|(input, (status, body))| format!("{input}: {status} {body}"))
        .collect();
    let mut shown: Vec<String> = failed.iter().take(5).cloned().collect();
    if failed.len() > 5 {
        shown.push(format!("… {} failed of {}", failed.len(), results.len()));
    }
    shown
}

/// `count` runs through HAProxy, `concurrency` at a time.
async fn closed_loop(
    cluster: &Cluster,
    count: usize,
    concurrency: usize,
    tag: &str,
) -> Vec<String> {
    use futures::StreamExt;
    let url = cluster.lb.url("/api/serverless");
    let results: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            let input = format!("{tag}-{i}");
            let (http, url, tx) = (&cluster.http, &url, &cluster.echo_tx);
            async move { (input.clone(), run(http, url, tx, &input).await) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    failures(&results)
}

/// Open-loop load through HAProxy: one run every `every` until `stop` is set; returns every
/// run's input and result.
fn open_loop(
    cluster: &Cluster,
    every: Duration,
    stop: Arc<AtomicBool>,
    tag: &'static str,
) -> tokio::task::JoinHandle<Vec<(String, (u16, String))>> {
    let (http, url, tx) = (
        cluster.http.clone(),
        cluster.lb.url("/api/serverless"),
        cluster.echo_tx.clone(),
    );
    tokio::spawn(async move {
        let mut running = tokio::task::JoinSet::new();
        let mut interval = tokio::time::interval(every);
        let mut i = 0;
        while !stop.load(Ordering::Acquire) {
            interval.tick().await;
            let input = format!("{tag}-{i}");
            i += 1;
            let (http, url, tx) = (http.clone(), url.clone(), tx.clone());
            running.spawn(async move { (input.clone(), run(&http, &url, &tx, &input).await) });
        }
        let mut results = Vec::new();
        while let Some(result) = running.join_next().await {
            results.push(result.unwrap());
        }
        results
    })
}

async fn totals(lb: &Haproxy) -> Vec<u64> {
    lb.servers()
        .await
        .iter()
        .map(|server| server.total)
        .collect()
}

async fn spread(cluster: &Cluster) {
    let before = totals(&cluster.lb).await;
    let failed = closed_loop(cluster, 600, 12, "spread").await;
    assert!(failed.is_empty(), "failed runs: {failed:?}");
    let after = totals(&cluster.lb).await;
    let shares: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let total: u64 = shares.iter().sum();
    assert!(total >= 600, "{shares:?}");
    let slots: u64 = SLOTS.iter().sum();
    eprintln!("spread: runs per node {shares:?} for slots {SLOTS:?}");
    for (index, share) in shares.iter().enumerate() {
        let expected = SLOTS[index] as f64 / slots as f64;
        let got = *share as f64 / total as f64;
        assert!(
            (got / expected - 1.0).abs() <= 0.15,
            "node{} got {got:.3} of the runs, its slots are {expected:.3}: {shares:?}",
            index + 1
        );
    }
}

async fn saturation(cluster: &Cluster) {
    let node = &cluster.nodes[0];
    let slow_tx = upload_code(&cluster.chain, STRANGER_KEY, SLOW.as_bytes()).await;
    // One slot and one queue place: two slow runs fill node 1.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, tx) = (
                cluster.http.clone(),
                node.url("/api/serverless"),
                slow_tx.clone(),
            );
            tokio::spawn(async move { run(&http, &url, &tx, "").await })
        })
        .collect();
    let saturated = poll_until(Duration::from_secs(20), || async {
        let server = cluster.lb.server("node1").await;
        server.weight == 0 || server.status.starts_with("DOWN")
    })
    .await;
    assert!(saturated, "{:?}", cluster.lb.servers().await);
    let (status, body) = node.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("queue is full"), "{body}");
    let sent_before = cluster.lb.server("node1").await.total;
    let failed = closed_loop(cluster, 30, 4, "saturated").await;
    assert!(
        failed.is_empty(),
        "runs failed while others had free slots: {failed:?}"
    );
    assert_eq!(cluster.lb.server("node1").await.total, sent_before);
    for handle in slow {
        assert_eq!(handle.await.unwrap(), (200, "slow".to_owned()));
    }
    cluster.lb.wait_status("node1", "UP").await;
}

async fn failover(cluster: &mut Cluster) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = open_loop(
        cluster,
        Duration::from_millis(40),
        Arc::clone(&stop),
        "failover",
    );
    // Killed while it runs at least one request, so that the retry policy is what is proved.
    let busy = poll_until(Duration::from_secs(20), || async {
        cluster.lb.server("node3").await.current > 0
    })
    .await;
    assert!(busy, "node3 never had a request in flight");
    cluster.nodes[2].crash();
    cluster.lb.wait_status("node3", "DOWN").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    stop.store(true, Ordering::Release);
    let results = load.await.unwrap();
    let failed = failures(&results);
    assert!(
        failed.is_empty(),
        "failed across kill -9: {failed:?}\n{}",
        cluster.lb.logs()
    );
    let node3 = cluster.lb.server("node3").await;
    assert!(
        node3.redispatched > 0,
        "nothing was retried elsewhere: {node3:?}"
    );
    eprintln!(
        "failover: {} runs, 0 failed; {} retried on another node after the kill",
        results.len(),
        node3.redispatched
    );
    let node = &mut cluster.nodes[2];
    node.start_again().await;
    node.configure_with(GAS_KEYS[2]).await;
    cluster.lb.wait_status("node3", "UP").await;
    let before = cluster.lb.server("node3").await.total;
    let failed = closed_loop(cluster, 60, 8, "after-restart").await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        cluster.lb.server("node3").await.total > before,
        "restarted node3 not used"
    );
}

/// Creates chain jobs one after another until `stop`; returns their ids.
async fn create_jobs(chain: &TestChain, echo_tx: &str, stop: &AtomicBool) -> Vec<U256> {
    let mut jobs = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let input = format!("chain-{}", jobs.len());
        jobs.push(create_job(chain, STRANGER_KEY, echo_tx, input.as_bytes(), 8000).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    jobs
}

/// SIGTERM, drain, exit 0 and restart of each node in turn; sets `stop` when done.
async fn restart_each(nodes: &mut [TestNode], lb: &Haproxy, stop: &AtomicBool) {
    for (index, node) in nodes.iter_mut().enumerate() {
        let name = format!("node{}", index + 1);
        node.terminate();
        let status = node.wait_exit(Duration::from_secs(60)).await;
        assert!(status.success(), "{name} exited {status}: {}", node.logs());
        assert!(node.logs().contains("Drained"), "{}", node.logs());
        node.start_again().await;
        node.configure_with(GAS_KEYS[index]).await;
        lb.wait_status(&name, "UP").await;
    }
    stop.store(true, Ordering::Release);
}

async fn rolling_restart(cluster: &mut Cluster) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = open_loop(
        cluster,
        Duration::from_millis(40),
        Arc::clone(&stop),
        "rolling",
    );
    let Cluster {
        chain,
        nodes,
        lb,
        echo_tx,
        ..
    } = cluster;
    let ((), jobs) = tokio::join!(
        restart_each(nodes, lb, &stop),
        create_jobs(chain, echo_tx, &stop)
    );
    let results = load.await.unwrap();
    let failed = failures(&results);
    assert!(
        failed.is_empty(),
        "failed during the rolling restart: {failed:?}\n{}",
        lb.logs()
    );
    assert!(!jobs.is_empty());
    eprintln!(
        "rolling restart: {} runs, 0 failed; {} chain jobs",
        results.len(),
        jobs.len()
    );
    let all_nodes: Vec<&TestNode> = nodes.iter().collect();
    wait_for_outputs(chain, &jobs, 1, &all_nodes).await;
    let all = outputs(chain).await;
    for job in &jobs {
        let answers = outputs_of(&all, *job);
        assert_eq!(
            answers.len(),
            1,
            "job {job} answered {} times",
            answers.len()
        );
    }
}

#[tokio::test]
async fn three_nodes_behind_haproxy_spread_saturate_fail_over_and_roll() {
    let mut cluster = start_cluster().await;
    spread(&cluster).await;
    saturation(&cluster).await;
    failover(&mut cluster).await;
    rolling_restart(&mut cluster).await;
}
