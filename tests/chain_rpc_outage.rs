//! Issue 15, case 1: the HTTP RPC fails for 10 s while the node holds a job's output, on anvil
//! with our contracts, the real node binary and an [`HttpRelay`] in front of anvil's HTTP RPC.
//! The fault hits the node's `submitOutput` itself (the relay counts the calls it failed and
//! the node logs the failed send); three kinds: the RPC down (connections closed), slow
//! (every call held beyond `rpc_timeout_ms`, 2 s in tests), and answering errors (HTTP 503 and
//! JSON-RPC errors, alternately). In each, the output must be kept and sent once the RPC is
//! back: the job answered exactly once by the node, never reported as a timeout (the node
//! slashing itself), and a job created after the fault answered too.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::faults::{assert_settled, CreatedJob, Party};
use common::http_relay::{HttpRelay, RpcFault};
use common::jobs::{registered_node_with, SLOW_ECHO};
use common::*;

/// Long enough for the run (3 s), the outage (10 s) and the send, inside the window
/// (deadline + the 10 s execution buffer).
const DEADLINE_MS: u64 = 12_000;
/// The outage the issue reports.
const OUTAGE: Duration = Duration::from_secs(10);

async fn an_output_held_through_an_rpc_fault_is_answered_once(fault: RpcFault) {
    let chain = TestChain::start().await;
    let relay = HttpRelay::start(chain.anvil.http_url()).await;
    let options = NodeOptions {
        http_rpc_url: Some(relay.url()),
        ..NodeOptions::default()
    };
    let node = registered_node_with(&chain, GAS_KEY, options).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;
    let first = create_job(&chain, STRANGER_KEY, &code_tx, b"held", DEADLINE_MS).await;
    wait_until(Duration::from_secs(20), "the job to start", || async {
        node.logs().contains("Selected for a chain job.")
    })
    .await;
    // The code is fetched within moments; the run takes 3 s: the send falls in the fault.
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay.set(fault);
    let started = tokio::time::Instant::now();
    wait_until(
        Duration::from_secs(15),
        "the send to hit the fault",
        || async {
            node.logs()
                .contains("submitOutput not sent (infrastructure fault)")
        },
    )
    .await;
    tokio::time::sleep_until(started + OUTAGE).await;
    relay.set(RpcFault::None);
    assert!(relay.faulted_calls() > 0, "the relay failed calls");

    let after = create_job(&chain, STRANGER_KEY, &code_tx, b"after", DEADLINE_MS).await;
    let jobs = [
        CreatedJob {
            id: first,
            output: "slow:held".into(),
        },
        CreatedJob {
            id: after,
            output: "slow:after".into(),
        },
    ];
    let party = Party {
        node: &node,
        gas_key: GAS_KEY,
    };
    assert_settled(&chain, &jobs, &[party], None, None).await;
}

#[tokio::test]
async fn an_rpc_down_for_10_s_does_not_lose_the_output() {
    an_output_held_through_an_rpc_fault_is_answered_once(RpcFault::Down).await;
}

#[tokio::test]
async fn an_rpc_slower_than_rpc_timeout_for_10_s_does_not_lose_the_output() {
    an_output_held_through_an_rpc_fault_is_answered_once(RpcFault::Slow(Duration::from_secs(3)))
        .await;
}

#[tokio::test]
async fn an_rpc_answering_errors_for_10_s_does_not_lose_the_output() {
    an_output_held_through_an_rpc_fault_is_answered_once(RpcFault::Errors).await;
}
