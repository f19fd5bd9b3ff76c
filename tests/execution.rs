//! The execution engine end to end through `POST /api/serverless`: code uploaded on anvil, run
//! in the real workerd inside real cgroups and an empty network namespace, every outcome code
//! classified from evidence, receipts signed under their own domain, and nothing left behind;
//! in each execution mode (`cold`, `prewarmed`, `isolate`), with the same expected results.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::contracts::{code_calldata, send_raw, upload_code};
use common::*;
use serde_json::json;

const PRIME_FACTORS: &str = r#"
export default {
  async fetch(request) {
    const { num } = await request.json();
    let n = num;
    const factors = [];
    for (let d = 2; d * d <= n; d++) {
      while (n % d === 0) { factors.push(d); n /= d; }
    }
    if (n > 1) factors.push(n);
    return new Response(factors.join(","));
  }
};
"#;

const INFINITE_LOOP: &str = "export default { async fetch(r) { for (;;) {} } };";

struct Run {
    status: u16,
    error_code: Option<u8>,
    body: Vec<u8>,
    headers: reqwest::header::HeaderMap,
}

async fn run(node: &TestNode, tx_hash: &str, input: serde_json::Value) -> Run {
    let response = node
        .http
        .post(node.url("/api/serverless"))
        .json(&json!({"tx_hash": tx_hash, "input": input}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let error_code = headers
        .get("x-executor-error-code")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    let body = response.bytes().await.unwrap().to_vec();
    Run {
        status,
        error_code,
        body,
        headers,
    }
}

async fn setup(mode: &'static str, mut options: NodeOptions) -> (TestChain, TestNode) {
    options.execution_mode = Some(mode);
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, options).await;
    (chain, node)
}

async fn prime_factor_example_runs_and_its_receipt_recovers_to_the_enclave(mode: &'static str) {
    let (chain, node) = setup(mode, NodeOptions::default()).await;
    let tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;
    for (num, expected) in [(10, "2,5"), (20, "2,2,5"), (600, "2,2,2,3,5,5")] {
        let result = run(&node, &tx, json!({"num": num})).await;
        assert_eq!(
            result.status,
            200,
            "{}: {}",
            String::from_utf8_lossy(&result.body),
            node.logs()
        );
        assert_eq!(result.error_code, Some(0));
        assert_eq!(String::from_utf8(result.body.clone()).unwrap(), expected);
        let header = |name: &str| {
            result
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let total: u64 = header("x-executor-total-time-ms").parse().unwrap();
        assert!(total <= 5000);
        let digest = receipt_digest(
            &tx,
            json!({"num": num}).to_string().as_bytes(),
            expected.as_bytes(),
            total,
            0,
            header("x-executor-sign-timestamp").parse().unwrap(),
        );
        let signature: ethers::types::Signature = header("x-executor-signature").parse().unwrap();
        let signer = signature.recover(ethers::types::H256(digest)).unwrap();
        assert_eq!(format!("{signer:?}"), node.enclave_address());
    }
}

async fn every_outcome_code_is_classified_from_evidence(mode: &'static str) {
    let options = NodeOptions {
        direct_run_deadline_ms: Some(3000),
        ..NodeOptions::default()
    };
    let (chain, node) = setup(mode, options).await;
    let cases: [(&str, &str, u8); 7] = [
        ("success", "export default { async fetch(r) { return new Response('ok:' + await r.text()); } };", 0),
        ("syntax error", "export default { async fetch(r) { return new Response('x' }; };", 3),
        ("top-level throw", "throw new Error('no'); export default {};", 3),
        ("infinite loop", INFINITE_LOOP, 4),
        ("large output", "export default { async fetch(r) { return new Response('x'.repeat(30 * 1024)); } };", 5),
        ("memory bomb", "export default { async fetch(r) { const a = []; for (;;) { a.push(new Uint8Array(1 << 20).fill(1)); } } };", 6),
        ("uncaught exception", "export default { async fetch(r) { throw new Error('boom'); } };", 7),
    ];
    for (name, code, expected) in cases {
        let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
        let result = run(&node, &tx, json!("in")).await;
        assert_eq!(
            (result.status, result.error_code),
            (200, Some(expected)),
            "{name}"
        );
        if expected == 0 {
            assert_eq!(result.body, b"ok:in");
        } else {
            assert!(result.body.is_empty(), "{name}: no output on error");
        }
        if expected == 4 {
            assert_eq!(
                result.headers.get("x-executor-total-time-ms").unwrap(),
                "3000"
            );
        }
    }
    // A worker's own 500 is its answer, not an exception.
    let code = "export default { async fetch(r) { return new Response('mine', { status: 500, headers: { 'x-serverless-executor-exception': 'guess' } }); } };";
    let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
    let result = run(&node, &tx, json!("")).await;
    assert_eq!(
        (result.error_code, result.body.as_slice()),
        (Some(0), b"mine".as_slice())
    );
}

async fn bad_code_transactions_map_to_codes_1_and_2(mode: &'static str) {
    let (chain, node) = setup(mode, NodeOptions::default()).await;
    let missing = format!("0x{}", "ab".repeat(32));
    let result = run(&node, &missing, json!("")).await;
    assert_eq!(result.error_code, Some(1));
    // Looked for until the deadline (it might have been mined meanwhile): the time spent, as
    // Marlin reports it, capped at the deadline.
    let total: u64 = result.headers["x-executor-total-time-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4000..=5000).contains(&total), "total time {total}");
    // The right calldata sent to another contract-less account.
    let elsewhere = send_raw(
        &chain,
        STRANGER_KEY,
        &address_of_key(GAS_KEY),
        code_calldata(b"x"),
    )
    .await;
    assert_eq!(run(&node, &elsewhere, json!("")).await.error_code, Some(1));
    // Mined and accepted by the contract, but not a strict ABI encoding (trailing bytes).
    let mut calldata = code_calldata(PRIME_FACTORS.as_bytes());
    calldata.extend_from_slice(&[7u8; 32]);
    let sloppy = send_raw(
        &chain,
        STRANGER_KEY,
        &chain.deployment.code_contract,
        calldata,
    )
    .await;
    assert_eq!(run(&node, &sloppy, json!("")).await.error_code, Some(2));
    let (status, _) = node
        .post_json("/api/serverless", &json!({"tx_hash": "0x12", "input": {}}))
        .await;
    assert_eq!(status, 400);
}

async fn jobs_reach_no_network_and_a_streamed_huge_output_is_capped(mode: &'static str) {
    let (chain, node) = setup(mode, NodeOptions::default()).await;
    let targets = [
        "http://192.0.2.1/".to_owned(),
        node.url("/executor-details"),
        chain.anvil.http_url(),
    ];
    for target in targets {
        let code = format!(
            "export default {{ async fetch(r) {{ try {{ const res = await fetch('{target}'); return new Response('reached ' + res.status); }} catch (e) {{ return new Response('blocked'); }} }} }};"
        );
        let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
        let result = run(&node, &tx, json!("")).await;
        assert_eq!(
            (result.error_code, result.body.as_slice()),
            (Some(0), b"blocked".as_slice()),
            "{target}"
        );
    }
    // 50 MiB streamed in 1 MiB chunks: the node stops reading at the cap.
    let code = "export default { async fetch(r) { let n = 0; const chunk = new Uint8Array(1 << 20).fill(120); return new Response(new ReadableStream({ pull(c) { if (n++ < 50) c.enqueue(chunk); else c.close(); } })); } };";
    let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
    assert_eq!(run(&node, &tx, json!("")).await.error_code, Some(5));
}

async fn code_ending_in_nul_bytes_runs_as_uploaded(mode: &'static str) {
    let (chain, node) = setup(mode, NodeOptions::default()).await;
    let mut code =
        b"export default { async fetch(r) { return new Response('nul ok'); } }; //".to_vec();
    code.extend_from_slice(&[0, 0, 0]);
    let tx = upload_code(&chain, STRANGER_KEY, &code).await;
    let result = run(&node, &tx, json!("")).await;
    assert_eq!(
        (result.error_code, result.body.as_slice()),
        (Some(0), b"nul ok".as_slice())
    );
}

async fn fifty_concurrent_jobs_with_capacity_four_all_complete(mode: &'static str) {
    // The deadline is the user's time only, but 50 jobs at once on a busy 2-core machine run
    // slowly, and this test is about completion.
    let options = NodeOptions {
        job_capacity: Some(4),
        direct_run_deadline_ms: Some(60_000),
        ..NodeOptions::default()
    };
    let (chain, node) = setup(mode, options).await;
    let tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;
    let jobs = (0..50).map(|i| {
        let node = &node;
        let tx = tx.clone();
        async move { (i, run(node, &tx, json!({"num": 2 * (i + 2)})).await) }
    });
    for (i, result) in futures::future::join_all(jobs).await {
        assert_eq!(
            (result.status, result.error_code),
            (200, Some(0)),
            "job {i}"
        );
        assert!(
            String::from_utf8(result.body).unwrap().starts_with("2"),
            "job {i}"
        );
    }
    assert_nothing_left(&node, mode).await;
}

async fn a_full_node_answers_503_with_retry_after_instead_of_queueing(mode: &'static str) {
    let options = NodeOptions {
        job_capacity: Some(1),
        job_queue_capacity: Some(0),
        direct_run_deadline_ms: Some(2000),
        ..NodeOptions::default()
    };
    let (chain, node) = setup(mode, options).await;
    let tx = upload_code(&chain, STRANGER_KEY, INFINITE_LOOP.as_bytes()).await;
    let busy = run(&node, &tx, json!(""));
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        node.http
            .post(node.url("/api/serverless"))
            .json(&json!({"tx_hash": tx, "input": ""}))
            .send()
            .await
            .unwrap()
    };
    let (first, second) = tokio::join!(busy, probe);
    assert_eq!(first.error_code, Some(4));
    assert_eq!(second.status().as_u16(), 503);
    assert_eq!(second.headers().get("retry-after").unwrap(), "1");
    assert_nothing_left(&node, mode).await;
}

async fn an_rpc_outage_is_an_infrastructure_fault_not_an_outcome(mode: &'static str) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        http_rpc_url: Some(format!("http://127.0.0.1:{}", free_port())),
        direct_run_deadline_ms: Some(1500),
        execution_mode: Some(mode),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let result = run(&node, &format!("0x{}", "cd".repeat(32)), json!("")).await;
    assert_eq!(
        result.status,
        503,
        "{}",
        String::from_utf8_lossy(&result.body)
    );
    assert_eq!(
        result.error_code, None,
        "nothing is signed as the user's error"
    );
    assert!(result.headers.get("x-executor-signature").is_none());
}

async fn an_infinite_loop_is_killed_and_its_cgroup_removed(mode: &'static str) {
    let options = NodeOptions {
        direct_run_deadline_ms: Some(1000),
        ..NodeOptions::default()
    };
    let (chain, node) = setup(mode, options).await;
    let tx = upload_code(&chain, STRANGER_KEY, INFINITE_LOOP.as_bytes()).await;
    assert_eq!(run(&node, &tx, json!("")).await.error_code, Some(4));
    assert_nothing_left(&node, mode).await;
}

/// Once the node is idle, no job cgroup, no job file and no workerd child remain, beyond the
/// idle warm processes of the warm modes (each with its cgroup and directory).
async fn assert_nothing_left(node: &TestNode, mode: &str) {
    let parent = node.cgroup_parent.clone();
    let jobs_dir = node.dir.path().join("jobs");
    let allowed = if mode == "cold" {
        0
    } else {
        TEST_WARM_PROCESSES
    };
    let children = || {
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", node.pid(), node.pid()))
            .unwrap_or_default()
            .split_whitespace()
            .count()
    };
    wait_until(
        Duration::from_secs(10),
        "job cgroups, files and processes to be removed",
        || {
            let parent = parent.clone();
            let jobs_dir = jobs_dir.clone();
            let children = children();
            async move {
                let cgroups_within =
                    ["memory", "pids", "cpu", "unified", ""]
                        .iter()
                        .all(|hierarchy| {
                            let dir = std::path::Path::new("/sys/fs/cgroup")
                                .join(hierarchy)
                                .join(&parent);
                            std::fs::read_dir(dir)
                                .map(|entries| {
                                    entries
                                        .flatten()
                                        .filter(|entry| entry.path().is_dir())
                                        .count()
                                        <= allowed
                                })
                                .unwrap_or(true)
                        });
                let files = std::fs::read_dir(&jobs_dir)
                    .map(|entries| entries.flatten().collect::<Vec<_>>())
                    .unwrap_or_default();
                let files_within = files.len() <= allowed
                    && files
                        .iter()
                        .all(|entry| entry.file_name().to_string_lossy().starts_with("workerd-"));
                cgroups_within && files_within && children <= allowed
            }
        },
    )
    .await;
}

in_every_mode!(
    prime_factor_example_runs_and_its_receipt_recovers_to_the_enclave,
    every_outcome_code_is_classified_from_evidence,
    bad_code_transactions_map_to_codes_1_and_2,
    jobs_reach_no_network_and_a_streamed_huge_output_is_capped,
    code_ending_in_nul_bytes_runs_as_uploaded,
    fifty_concurrent_jobs_with_capacity_four_all_complete,
    a_full_node_answers_503_with_retry_after_instead_of_queueing,
    an_rpc_outage_is_an_infrastructure_fault_not_an_outcome,
    an_infinite_loop_is_killed_and_its_cgroup_removed,
);
