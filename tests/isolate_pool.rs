//! The `isolate` pool's process lifetimes, through a real node: the pool's first processes get
//! staggered job quotas (1/n, 2/n … of `isolate_jobs_per_process`), so they are not all
//! replaced at the same moment; none serves more than the quota; and a process's memory does not
//! grow with the jobs it served (each job's isolate is freed), so it lives to its quota.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::upload_code;
use common::*;
use serde_json::json;

const RETIRED_BY_QUOTA: &str = r#"executor_workerd_processes_retired_total{reason="job_quota"}"#;

/// The value of the metric line starting with `name`, from `/metrics` (0 if absent).
async fn metric(node: &TestNode, name: &str) -> u64 {
    let (_, metrics) = node.get("/metrics").await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |count| count.trim().parse().unwrap())
}

/// Waits until both processes are idle, so the next jobs take turns between them.
async fn both_idle(node: &TestNode) {
    wait_until(Duration::from_secs(20), "two idle processes", || async {
        metric(node, "executor_workerd_processes_idle").await == 2
    })
    .await;
}

/// Sends `count` jobs one after another, each answered `ok`.
async fn one_at_a_time(node: &TestNode, tx: &str, count: usize) {
    for _ in 0..count {
        let (status, body) = node
            .post_json("/api/serverless", &json!({"tx_hash": tx, "input": ""}))
            .await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
}

#[tokio::test]
async fn the_first_processes_are_retired_at_staggered_job_counts() {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        job_capacity: Some(2),
        // Far from the memory at which a process is recycled early (half of it), which would
        // retire it for another reason.
        job_memory_limit_mib: Some(512),
        extra_config: Some(json!({"warm_processes": 2, "isolate_jobs_per_process": 4})),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let tx = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch() { return new Response('ok'); } };",
    )
    .await;
    // One job at a time on two idle processes: they take turns (the one idle longest first),
    // so with one quota of 4 neither would be retired within four jobs. Staggered, the first
    // process may serve 2 and the second 4.
    both_idle(&node).await;
    one_at_a_time(&node, &tx, 4).await;
    wait_until(
        Duration::from_secs(10),
        "the first process's retirement",
        || async { metric(&node, RETIRED_BY_QUOTA).await == 1 },
    )
    .await;
    // Four more: the second process reaches its 4; the first's replacement has the whole quota
    // and serves 2 of them, so it stays.
    both_idle(&node).await;
    one_at_a_time(&node, &tx, 4).await;
    wait_until(
        Duration::from_secs(10),
        "the second process's retirement",
        || async { metric(&node, RETIRED_BY_QUOTA).await == 2 },
    )
    .await;
    assert_eq!(metric(&node, RETIRED_BY_QUOTA).await, 2, "{}", node.logs());
}

#[tokio::test]
async fn a_process_does_not_grow_with_the_jobs_it_served() {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        job_capacity: Some(1),
        // A process is recycled above half of it (64 MiB); an idle one holds ≈ 45 MiB. When each
        // job's isolate stayed cached (≈ 1.5 MB a job), the process passed that within 15 jobs.
        job_memory_limit_mib: Some(128),
        extra_config: Some(json!({"warm_processes": 1, "isolate_jobs_per_process": 1000})),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let tx = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch() { return new Response('ok'); } };",
    )
    .await;
    one_at_a_time(&node, &tx, 100).await;
    let recycled = r#"executor_workerd_processes_retired_total{reason="not_reusable"}"#;
    assert_eq!(metric(&node, recycled).await, 0, "{}", node.logs());
    assert_eq!(metric(&node, RETIRED_BY_QUOTA).await, 0);
}
