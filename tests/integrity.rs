//! A signed outcome is the truth about the user's code (issue 9), through the real node's direct
//! route in every execution mode: every way user code can end is a user outcome, the same in
//! every mode and never retried; a job's leftovers never reach the next job; waiting for a slot
//! is never the user's time; the input signed is the input received.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::contracts::upload_code;
use common::*;
use serde_json::json;

/// What the node logs when it retries a run on evidence of its own fault.
const RETRY_LINE: &str = "running it once more in a fresh process";

struct Answer {
    status: u16,
    error_code: Option<u8>,
    total_ms: Option<u64>,
    body: Vec<u8>,
}

async fn post(node: &TestNode, body: String) -> Answer {
    let response = node
        .http
        .post(node.url("/api/serverless"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().parse::<u64>().unwrap())
    };
    let error_code = header("x-executor-error-code").map(|code| code as u8);
    let total_ms = header("x-executor-total-time-ms");
    let body = response.bytes().await.unwrap().to_vec();
    Answer {
        status,
        error_code,
        total_ms,
        body,
    }
}

async fn run(node: &TestNode, tx: &str, input: serde_json::Value) -> Answer {
    post(node, json!({"tx_hash": tx, "input": input}).to_string()).await
}

async fn node_in(
    mode: &'static str,
    deadline_ms: u64,
    extra: serde_json::Value,
) -> (TestChain, TestNode) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some(mode),
        direct_run_deadline_ms: Some(deadline_ms),
        extra_config: Some(extra),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    (chain, node)
}

/// Every abnormal end of the user's code is the user's outcome: signed, the same in every mode,
/// and never retried as if it were ours.
async fn every_way_user_code_ends_is_a_signed_user_outcome(mode: &'static str) {
    let (chain, node) = node_in(mode, 2000, json!({})).await;
    let cases: [(&str, &str, u8); 11] = [
        ("never-resolving promise", "export default { fetch() { return new Promise(() => {}); } };", 7),
        ("process.exit()", "export default { async fetch() { process.exit(1); } };", 7),
        ("abortIsolate()", "import { abortIsolate } from 'cloudflare:workers'; export default { async fetch() { abortIsolate('bye'); return new Response('after'); } };", 7),
        ("Atomics.waitAsync", "export default { async fetch() { const a = new Int32Array(new SharedArrayBuffer(4)); await Atomics.waitAsync(a, 0, 0).value; return new Response('woke'); } };", 7),
        ("stream errors mid-way", "export default { async fetch() { return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([65])); c.error(new Error('mid')); } })); } };", 7),
        ("stream never closes, nothing pending", "export default { async fetch() { return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([65])); } })); } };", 7),
        ("stream kept open by a timer", "export default { async fetch() { return new Response(new ReadableStream({ start(c) { setInterval(() => {}, 50); } })); } };", 4),
        ("no fetch handler", "export default {};", 3),
        ("top-level await that never ends", "await new Promise(() => {}); export default { fetch() { return new Response('x'); } };", 3),
        ("a worker's own exception header", "export default { async fetch() { return new Response('mine', { status: 500, headers: { 'x-serverless-executor-end': 'exception' } }); } };", 0),
        ("reads the entry module", "import * as entry from 'main.js'; export default { async fetch() { return new Response(Object.keys(entry).join(',')); } };", 0),
    ];
    for (name, code, expected) in cases {
        let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
        let answer = run(&node, &tx, json!("in")).await;
        assert_eq!(
            (answer.status, answer.error_code),
            (200, Some(expected)),
            "{name}: {}",
            node.logs()
        );
        if expected == 4 {
            assert_eq!(answer.total_ms, Some(2000), "{name}");
        }
    }
    assert!(!node.logs().contains(RETRY_LINE), "{}", node.logs());
    let (status, metrics) = node.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"executor_jobs_ended_total{source="direct",outcome="7"} 6"#),
        "{metrics}"
    );
    // Every unsigned series is exported from the start, at 0: none may have moved.
    let unsigned: Vec<_> = metrics
        .lines()
        .filter(|line| line.starts_with("executor_jobs_unsigned_total{"))
        .collect();
    assert!(!unsigned.is_empty(), "{metrics}");
    assert!(
        unsigned.iter().all(|line| line.ends_with(" 0")),
        "{unsigned:?}"
    );
}

/// Recursion until the stack overflows, caught: the depth reached is part of the output, so
/// it must not depend on the run, the mode or when V8 happened to optimise. What is left is the
/// kernel's stack randomization (ASLR, kept on as an exploit mitigation): it moves the stack by
/// less than a page between processes, a frame or two of ≈ 20,000 (background compilation
/// used to make it vary by thousands).
const RECURSION: &str = "export default { async fetch() { let d = 0; function f() { d++; f(); } try { f(); } catch (e) {} return new Response(String(d)); } };";

#[tokio::test]
async fn caught_deep_recursion_reaches_the_same_depth_in_every_run_and_mode() {
    let mut depths = Vec::new();
    for mode in ["cold", "prewarmed", "isolate"] {
        let (chain, node) = node_in(mode, 5000, json!({})).await;
        let tx = upload_code(&chain, STRANGER_KEY, RECURSION.as_bytes()).await;
        for _ in 0..3 {
            let answer = run(&node, &tx, json!("")).await;
            assert_eq!(answer.error_code, Some(0), "{mode}: {}", node.logs());
            depths.push((mode, String::from_utf8(answer.body).unwrap()));
        }
    }
    let depth = |text: &str| text.parse::<i64>().unwrap();
    let first = depth(&depths[0].1);
    assert!(first > 1000, "{depths:?}");
    assert!(
        depths.iter().all(|(_, d)| (depth(d) - first).abs() <= 8),
        "{depths:?}"
    );
}

/// Work a job leaves running after it answered (a busy loop behind a timer, in `waitUntil` or
/// not) never reaches the next job in the same process.
async fn a_jobs_leftovers_never_reach_the_next_job(mode: &'static str) {
    let (chain, node) = node_in(mode, 3000, json!({"warm_processes": 1, "job_capacity": 1})).await;
    let attackers = [
        "export default { async fetch(r, env, ctx) { ctx.waitUntil(new Promise((ok) => setTimeout(ok, 20)).then(() => { for (;;) {} })); return new Response('a'); } };",
        "export default { async fetch() { setTimeout(() => { for (;;) {} }, 20); return new Response('a'); } };",
        "export default { async fetch() { (async () => { await scheduler.wait(20); for (;;) {} })(); return new Response('a'); } };",
    ];
    let victim = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch(r) { return new Response('victim:' + await r.text()); } };",
    )
    .await;
    for attacker in attackers {
        let tx = upload_code(&chain, STRANGER_KEY, attacker.as_bytes()).await;
        let answer = run(&node, &tx, json!("")).await;
        assert_eq!(
            (answer.error_code, answer.body.as_slice()),
            (Some(0), b"a".as_slice())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = run(&node, &victim, json!("x")).await;
        assert_eq!(
            (answer.error_code, answer.body.as_slice()),
            (Some(0), b"victim:x".as_slice()),
            "after {attacker}: {}",
            node.logs()
        );
    }
}

/// 84 concurrent 1.5 s jobs with 20 slots, a queue of 64 and a 5 s deadline: the last ones wait
/// more than the deadline for a slot, and that wait is the node's time, not the user's.
async fn waiting_for_a_slot_is_never_the_users_time(mode: &'static str) {
    let (chain, node) = node_in(
        mode,
        5000,
        json!({"job_capacity": 20, "job_queue_capacity": 64, "warm_processes": 4}),
    )
    .await;
    let code = "export default { async fetch() { await scheduler.wait(1500); return new Response('slept'); } };";
    let tx = upload_code(&chain, STRANGER_KEY, code.as_bytes()).await;
    let jobs = (0..84).map(|_| run(&node, &tx, json!("")));
    let answers = futures::future::join_all(jobs).await;
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(
            (answer.status, answer.error_code, answer.body.as_slice()),
            (200, Some(0), b"slept".as_slice()),
            "job {i}"
        );
        let total = answer.total_ms.unwrap();
        assert!(
            (1500..5000).contains(&total),
            "job {i}: total time {total} ms"
        );
    }
}

/// The input is hashed, signed and handed to the job as the exact bytes received.
async fn the_input_is_the_bytes_received(mode: &'static str) {
    let (chain, node) = node_in(mode, 5000, json!({})).await;
    let echo = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch(r) { return new Response(await r.text()); } };",
    )
    .await;
    let raw_input = r#"{"big": 123456789012345678901234567890, "b": 1, "a": [1.50, 2e3]}"#;
    let answer = post(
        &node,
        format!(r#"{{"tx_hash": "{echo}", "input": {raw_input}}}"#),
    )
    .await;
    assert_eq!(answer.error_code, Some(0));
    assert_eq!(String::from_utf8(answer.body).unwrap(), raw_input);
    // A string is passed as its text (Marlin's form), escapes decoded.
    let answer = post(
        &node,
        format!(r#"{{"tx_hash": "{echo}", "input": "a\"b"}}"#),
    )
    .await;
    assert_eq!(answer.body, br#"a"b"#);
}

/// A code transaction that is known but not mined yet is waited for within the deadline, never
/// judged outcome 1 at once.
async fn a_code_transaction_mined_during_the_wait_runs(mode: &'static str) {
    let (chain, node) = node_in(mode, 5000, json!({})).await;
    common::jobs::rpc(&chain, "evm_setAutomine", json!([false])).await;
    let code = b"export default { async fetch() { return new Response('mined'); } };";
    let tx = common::contracts::upload_code_unmined(&chain, STRANGER_KEY, code).await;
    let url = chain.anvil.http_url();
    let miner = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mine = json!({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []});
        client.post(url).json(&mine).send().await.unwrap();
    });
    let answer = run(&node, &tx, json!("")).await;
    miner.await.unwrap();
    assert_eq!(
        (answer.error_code, answer.body.as_slice()),
        (Some(0), b"mined".as_slice()),
        "{}",
        node.logs()
    );
}

in_every_mode!(
    every_way_user_code_ends_is_a_signed_user_outcome,
    a_jobs_leftovers_never_reach_the_next_job,
    waiting_for_a_slot_is_never_the_users_time,
    the_input_is_the_bytes_received,
    a_code_transaction_mined_during_the_wait_runs,
);
