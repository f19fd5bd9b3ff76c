//! The warm pools' process lifetimes, through a real node: the `isolate` pool's first processes
//! get staggered job quotas (1/n, 2/n … of `isolate_jobs_per_process`), so they are not all
//! replaced at the same moment; none serves more than the quota; a process's memory does not
//! grow with the jobs it served (each job's isolate is freed), so it lives to its quota; a warm
//! process of either warm mode still serves after a long idle time; and each job's isolate
//! starts from workerd's bootstrap code cache, which some V8 flags silently turn off.

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

/// Four jobs one at a time on two idle processes, then waits for `retired` retirements by quota
/// in all.
async fn four_jobs_then_retired(node: &TestNode, tx: &str, retired: u64) {
    both_idle(node).await;
    one_at_a_time(node, tx, 4).await;
    let what = format!("{retired} retirements by job quota");
    wait_until(Duration::from_secs(10), &what, || async {
        metric(node, RETIRED_BY_QUOTA).await == retired
    })
    .await;
}

/// A chain, a node in warm `mode` with `slots` slots (one warm process each), `memory_mib` per
/// process and `quota` jobs per process (`isolate`'s), and the upload of a job that answers `ok`.
async fn warm_node(
    mode: &'static str,
    slots: u64,
    memory_mib: u64,
    quota: u32,
) -> (TestChain, TestNode, String) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some(mode),
        job_capacity: Some(slots),
        job_memory_limit_mib: Some(memory_mib),
        extra_config: Some(json!({"warm_processes": slots, "isolate_jobs_per_process": quota})),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let tx = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch() { return new Response('ok'); } };",
    )
    .await;
    (chain, node, tx)
}

#[tokio::test]
async fn the_first_processes_are_retired_at_staggered_job_counts() {
    // 512 MiB: far from the memory at which a process is recycled early (half of it), which
    // would retire it for another reason.
    let (_chain, node, tx) = warm_node("isolate", 2, 512, 4).await;
    // One job at a time on two idle processes: they take turns (the one idle longest first),
    // so with one quota of 4 neither would be retired within four jobs. Staggered, the first
    // process may serve 2 and the second 4.
    four_jobs_then_retired(&node, &tx, 1).await;
    // Four more: the second process reaches its 4; the first's replacement has the whole quota
    // and serves 2 of them, so it stays.
    four_jobs_then_retired(&node, &tx, 2).await;
    assert_eq!(metric(&node, RETIRED_BY_QUOTA).await, 2, "{}", node.logs());
}

#[tokio::test]
async fn a_process_does_not_grow_with_the_jobs_it_served() {
    // A process is recycled above half of 128 MiB. When each job's isolate stayed cached
    // (≈ 1.5 MB a job), a process passed that within these 100 jobs.
    let (_chain, node, tx) = warm_node("isolate", 1, 128, 1000).await;
    one_at_a_time(&node, &tx, 100).await;
    let recycled = r#"executor_workerd_processes_retired_total{reason="not_reusable"}"#;
    assert_eq!(metric(&node, recycled).await, 0, "{}", node.logs());
    assert_eq!(metric(&node, RETIRED_BY_QUOTA).await, 0);
}

#[tokio::test]
async fn job_isolates_start_from_workerds_bootstrap_code_cache() {
    // With V8 flags the cache was not built for (`--single-threaded` among them), workerd says
    // so on stderr and compiles its bootstrap from source in every isolate, ≈ 0.5 ms a job. A
    // quota of 2: the process is retired after two jobs, and its stderr is logged.
    let (_chain, node, tx) = warm_node("isolate", 1, 128, 2).await;
    one_at_a_time(&node, &tx, 2).await;
    wait_until(Duration::from_secs(20), "a process retired", || async {
        node.logs().contains("workerd process ended.")
    })
    .await;
    let logs = node.logs();
    assert!(!logs.contains("compile cache failed"), "{logs}");
}

/// Longer than tokio's blocking threads live idle (10 s) and than workerd keeps an idle
/// connection open (15 s, measured).
const LONG_IDLE: Duration = Duration::from_secs(16);

#[tokio::test]
async fn warm_processes_still_serve_after_a_long_idle_time() {
    // The launcher's parent-death signal follows the *thread* that forked it: launchers forked
    // from blocking threads were killed when those threads ended, some 10 s later, and the idle
    // processes' next jobs came back as outcome 7. Concurrent jobs first, so that starts run
    // side by side (on several threads, had they been forked from blocking ones).
    let (prewarmed, isolate) = tokio::join!(
        warm_node("prewarmed", 4, 128, 100),
        warm_node("isolate", 4, 128, 2)
    );
    for (_, node, tx) in [&prewarmed, &isolate] {
        concurrently(node, tx, 8).await;
        wait_until(Duration::from_secs(20), "four idle processes", || async {
            metric(node, "executor_workerd_processes_idle").await == 4
        })
        .await;
    }
    tokio::time::sleep(LONG_IDLE).await;
    for (_, node, tx) in [&prewarmed, &isolate] {
        concurrently(node, tx, 4).await;
        let warm_hits = r#"executor_job_phase_seconds_count{phase="process_warm_hit"}"#;
        assert!(metric(node, warm_hits).await >= 4, "{}", node.logs());
    }
}

/// Sends `count` jobs at once, each answered `ok`.
async fn concurrently(node: &TestNode, tx: &str, count: usize) {
    let job = json!({"tx_hash": tx, "input": ""});
    let jobs = (0..count).map(|_| node.post_json("/api/serverless", &job));
    for (status, body) in futures::future::join_all(jobs).await {
        assert_eq!((status, body.as_str()), (200, "ok"), "{}", node.logs());
    }
}
