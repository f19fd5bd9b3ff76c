//! Issue 9 through the chain: what the node signs and submits to `Jobs.submitOutput` is the
//! truth about the user's code. A job's leftovers never decide the next chain job; direct-run
//! traffic never starves a chain job (chain jobs have the announced `job_capacity` to
//! themselves); code that ends abnormally is answered with its user outcome, so the honest node
//! answers instead of leaving the job to be slashed.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::jobs::{jobs_logs, outputs_of, registered_node_with, wait_for_outputs, SLASHED};
use common::*;
use serde_json::json;

async fn isolate_node(chain: &TestChain, extra: serde_json::Value) -> TestNode {
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        extra_config: Some(extra),
        ..NodeOptions::default()
    };
    registered_node_with(chain, GAS_KEY, options).await
}

#[tokio::test]
async fn hostile_chain_jobs_get_their_own_outcome_and_never_poison_the_next() {
    let chain = TestChain::start().await;
    let node = isolate_node(&chain, json!({"warm_processes": 1, "job_capacity": 1})).await;
    let leftover = upload_code(&chain, STRANGER_KEY, b"export default { async fetch(r, env, ctx) { ctx.waitUntil(new Promise((ok) => setTimeout(ok, 20)).then(() => { for (;;) {} })); return new Response('first'); } };").await;
    let hanging = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { fetch() { return new Promise(() => {}); } };",
    )
    .await;
    let victim = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch(r) { return new Response('victim:' + await r.text()); } };",
    )
    .await;
    let mut jobs = Vec::new();
    for (code, input) in [
        (&leftover, "a"),
        (&victim, "b"),
        (&hanging, "c"),
        (&victim, "d"),
    ] {
        let job = create_job(&chain, STRANGER_KEY, code, input.as_bytes(), 3000).await;
        // One after the other, so each runs in the process the one before it used.
        wait_for_outputs(&chain, &[job], 1, &[&node]).await;
        jobs.push(job);
    }
    let all = wait_for_outputs(&chain, &jobs, 1, &[&node]).await;
    let answer = |i: usize| {
        let outputs = outputs_of(&all, jobs[i]);
        assert_eq!(outputs.len(), 1, "job {i} answered once");
        assert_eq!(outputs[0].executor, node.enclave_address());
        (outputs[0].error_code, outputs[0].output.clone())
    };
    assert_eq!(answer(0), (0, b"first".to_vec()));
    assert_eq!(answer(1), (0, b"victim:b".to_vec()), "{}", node.logs());
    assert_eq!(answer(2), (7, Vec::new()), "the user's own end, signed");
    assert_eq!(answer(3), (0, b"victim:d".to_vec()));
    assert!(jobs_logs(&chain, SLASHED).await.is_empty());
}

#[tokio::test]
async fn a_chain_job_runs_while_direct_runs_fill_their_own_slots() {
    let chain = TestChain::start().await;
    let node = isolate_node(
        &chain,
        json!({"job_capacity": 1, "direct_run_capacity": 1, "job_queue_capacity": 0, "direct_run_deadline_ms": 8000}),
    )
    .await;
    let busy = upload_code(&chain, STRANGER_KEY, b"export default { async fetch() { await scheduler.wait(6000); return new Response('slow'); } };").await;
    let quick = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch() { return new Response('chain'); } };",
    )
    .await;
    let direct = |tx: String| {
        let http = node.http.clone();
        let url = node.url("/api/serverless");
        async move {
            http.post(url)
                .json(&json!({"tx_hash": tx, "input": ""}))
                .send()
                .await
                .unwrap()
        }
    };
    let slow = tokio::spawn(direct(busy.clone()));
    // The one direct slot is taken; the chain job has its own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = direct(busy.clone()).await;
    assert_eq!(refused.status().as_u16(), 503, "direct runs are full");
    let job = create_job(&chain, STRANGER_KEY, &quick, b"", 3000).await;
    let all = wait_for_outputs(&chain, &[job], 1, &[&node]).await;
    let output = outputs_of(&all, job)[0];
    assert_eq!(
        (output.error_code, output.output.as_slice()),
        (0, b"chain".as_slice())
    );
    assert!(
        !slow.is_finished(),
        "the chain job did not wait for the direct run"
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.headers().get("x-executor-error-code").unwrap(), "0");
}
