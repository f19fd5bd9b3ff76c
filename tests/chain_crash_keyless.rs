//! Issue 15, case 3: the node is killed (SIGKILL) mid-burst and restarted. Its owner and gas
//! key are held in memory only, so until the operator sets them again it cannot send: the
//! outputs of the jobs that select it and its due timeout reports must wait for the key (each
//! within its window), then go. A second executor is registered and then gone, so that some
//! jobs select a node that never answers: those are the timeout reports our node owes. It
//! reports only them: never a job that selected itself.
//!
//! Proven from chain state: every job that selected our node is answered exactly once by it;
//! every job that selected the gone node is reported exactly once, slashing only that node; our
//! node is never slashed; its gas account sent exactly those outputs and reports; jobs created
//! after the fault are answered. `GET /ready/chain` says why the node is not ready while it waits.
//! Also with the HTTP RPC slow or answering errors for a while once the key is back.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::faults::{assert_settled, CreatedJob, Miner, Party};
use common::http_relay::{HttpRelay, RpcFault};
use common::jobs::{registered_node, registered_node_with, selected_of, wait_for_outputs};
use common::*;

/// Answers with its input, so an output shows which job it belongs to.
const ECHO: &str =
    "export default { async fetch(request) { return new Response(await request.text()); } };";
/// Jobs before the crash: their windows (deadline + 10 s buffer) close while the node is keyless.
const SHORT_DEADLINE_MS: u64 = 4_000;
/// Jobs around the crash: their windows stay open until the key is back.
const LONG_DEADLINE_MS: u64 = 16_000;
const FAULT_FOR: Duration = Duration::from_secs(6);

/// Creates a job echoing `input` and records it.
async fn push(chain: &TestChain, code_tx: &str, jobs: &mut Vec<CreatedJob>, input: &str, ms: u64) {
    let id = create_job(chain, STRANGER_KEY, code_tx, input.as_bytes(), ms).await;
    jobs.push(CreatedJob {
        id,
        output: input.to_owned(),
    });
}

async fn outputs_and_reports_wait_for_the_gas_key_after_a_crash(fault: RpcFault) {
    let chain = TestChain::start().await;
    let relay = HttpRelay::start(chain.anvil.http_url()).await;
    let options = NodeOptions {
        http_rpc_url: Some(relay.url()),
        job_capacity: Some(8),
        ..NodeOptions::default()
    };
    let mut node = registered_node_with(&chain, GAS_KEY, options).await;
    let gone = registered_node(&chain, SECOND_GAS_KEY).await;
    let gone_address = gone.enclave_address();
    drop(gone);
    // Anvil's clock moves only with blocks; a timeout report needs it past the window.
    let _miner = Miner::start(&chain, Duration::from_secs(1));
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let mut jobs = Vec::new();

    // Until a job selects the gone node: its report falls due while our node has no key.
    for n in 0.. {
        assert!(n < 24, "the gone node was never selected");
        push(
            &chain,
            &code_tx,
            &mut jobs,
            &format!("before {n}"),
            SHORT_DEADLINE_MS,
        )
        .await;
        let id = jobs[n].id;
        if selected_of(&chain, id).await.contains(&gone_address) {
            break;
        }
        wait_for_outputs(&chain, &[id], 1, &[&node]).await;
    }
    // Mid-burst: a job just created, then the crash; two more while the node is down.
    push(&chain, &code_tx, &mut jobs, "in flight", LONG_DEADLINE_MS).await;
    node.crash();
    push(
        &chain,
        &code_tx,
        &mut jobs,
        "while down 1",
        LONG_DEADLINE_MS,
    )
    .await;
    push(
        &chain,
        &code_tx,
        &mut jobs,
        "while down 2",
        LONG_DEADLINE_MS,
    )
    .await;
    node.start_again().await;

    let (status, body) = node.get("/ready/chain").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no gas key"), "{body}");
    wait_until(
        Duration::from_secs(40),
        "the timeout report to wait",
        || async {
            node.logs()
                .contains("No gas key yet; the timeout report waits")
        },
    )
    .await;
    let ours = node.enclave_address();
    let mut ours_pending = false;
    for job in &jobs[jobs.len() - 3..] {
        ours_pending |= selected_of(&chain, job.id).await.contains(&ours);
    }
    if ours_pending {
        wait_until(Duration::from_secs(20), "the output to wait", || async {
            node.logs().contains("No gas key yet; the output waits")
        })
        .await;
    }
    node.configure().await;
    relay.set(fault);
    if fault != RpcFault::None {
        tokio::time::sleep(FAULT_FOR).await;
        relay.set(RpcFault::None);
    }

    // After the fault: jobs until one selects our node (the gone node's ones are reported).
    for n in 0.. {
        assert!(n < 24, "our node was never selected");
        push(
            &chain,
            &code_tx,
            &mut jobs,
            &format!("after {n}"),
            SHORT_DEADLINE_MS,
        )
        .await;
        if selected_of(&chain, jobs.last().unwrap().id)
            .await
            .contains(&ours)
        {
            break;
        }
    }
    let party = Party {
        node: &node,
        gas_key: GAS_KEY,
    };
    assert_settled(&chain, &jobs, &[party], Some(&gone_address), Some(GAS_KEY)).await;
    let (status, body) = node.get("/ready/chain").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
}

#[tokio::test]
async fn after_a_crash_outputs_and_timeout_reports_wait_for_the_gas_key() {
    outputs_and_reports_wait_for_the_gas_key_after_a_crash(RpcFault::None).await;
}

#[tokio::test]
async fn after_a_crash_the_waiting_work_survives_a_slow_rpc() {
    outputs_and_reports_wait_for_the_gas_key_after_a_crash(RpcFault::Slow(Duration::from_secs(3)))
        .await;
}

#[tokio::test]
async fn after_a_crash_the_waiting_work_survives_rpc_errors() {
    outputs_and_reports_wait_for_the_gas_key_after_a_crash(RpcFault::Errors).await;
}
