//! Issue 15, case 2: a reorg removes our own answer. The node answers a job; then the chain is
//! reverted (`evm_revert` to a snapshot taken before the job) so that the blocks holding the
//! job and our `submitOutput` are gone and the gas account's nonce goes back; the same job id
//! is created again in the new chain. The node must take its nonce from the chain again, treat
//! the re-created job as new and answer it, and answer every later job. Also with the HTTP RPC
//! slow (every call beyond `rpc_timeout_ms`) or answering errors for a while after the reorg.
//!
//! And the narrower reorg: only the block holding our answer is replaced, while the job stays.
//! The node must see that its output is gone and send it again within the job's window.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::faults::{assert_settled, revert, snapshot, CreatedJob, Party};
use common::http_relay::{HttpRelay, RpcFault};
use common::jobs::{gas_nonce, registered_node, registered_node_with, responded_count, rpc};
use common::*;

/// Answers with its input, so an output shows which job it belongs to.
const ECHO: &str =
    "export default { async fetch(request) { return new Response(await request.text()); } };";
const DEADLINE_MS: u64 = 10_000;
/// How long the RPC fault lasts in the variants.
const FAULT_FOR: Duration = Duration::from_secs(6);

async fn a_reorg_removing_our_answer_does_not_wedge_the_node(fault: RpcFault) {
    let chain = TestChain::start().await;
    let relay = HttpRelay::start(chain.anvil.http_url()).await;
    let options = NodeOptions {
        http_rpc_url: Some(relay.url()),
        ..NodeOptions::default()
    };
    let node = registered_node_with(&chain, GAS_KEY, options).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let before_job = snapshot(&chain).await;
    let first = create_job(&chain, STRANGER_KEY, &code_tx, b"removed", DEADLINE_MS).await;
    wait_until(Duration::from_secs(30), "the first answer", || async {
        responded_count(&chain, first).await == 1
    })
    .await;
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 1);

    // The job and our answer vanish; the gas account's nonce goes back to 0.
    revert(&chain, before_job).await;
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 0, "our answer is gone");
    relay.set(fault);
    let again = create_job(&chain, STRANGER_KEY, &code_tx, b"again", DEADLINE_MS).await;
    assert_eq!(
        again, first,
        "the same job id, created again in the new chain"
    );
    if fault != RpcFault::None {
        tokio::time::sleep(FAULT_FOR).await;
        relay.set(RpcFault::None);
    }
    let later = create_job(&chain, STRANGER_KEY, &code_tx, b"later", DEADLINE_MS).await;
    let last = create_job(&chain, STRANGER_KEY, &code_tx, b"last", DEADLINE_MS).await;

    let jobs = [
        CreatedJob {
            id: again,
            output: "again".into(),
        },
        CreatedJob {
            id: later,
            output: "later".into(),
        },
        CreatedJob {
            id: last,
            output: "last".into(),
        },
    ];
    let party = Party {
        node: &node,
        gas_key: GAS_KEY,
    };
    assert_settled(&chain, &jobs, &[party], None, None).await;
    assert!(
        node.logs()
            .contains("Blocks from the fork on were replaced"),
        "the reorg was noticed"
    );
}

#[tokio::test]
async fn a_reorg_removing_our_answer_is_followed_by_answers_to_every_job() {
    a_reorg_removing_our_answer_does_not_wedge_the_node(RpcFault::None).await;
}

#[tokio::test]
async fn a_reorg_removing_our_answer_then_a_slow_rpc() {
    a_reorg_removing_our_answer_does_not_wedge_the_node(RpcFault::Slow(Duration::from_secs(3)))
        .await;
}

#[tokio::test]
async fn a_reorg_removing_our_answer_then_rpc_errors() {
    a_reorg_removing_our_answer_does_not_wedge_the_node(RpcFault::Errors).await;
}

/// Answers with its input after a second, so a snapshot can be taken between the job's block
/// and our answer's.
const SLOW_ECHO: &str =
    "export default { async fetch(request) { const input = await request.text(); \
    await new Promise((resolve) => setTimeout(resolve, 1000)); return new Response(input); } };";

#[tokio::test]
async fn a_reorg_removing_only_our_answer_gets_it_sent_again() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;
    let job = create_job(&chain, STRANGER_KEY, &code_tx, b"kept", DEADLINE_MS).await;
    let after_job = snapshot(&chain).await;
    // Until the node has seen its answer included and stopped following the transaction.
    wait_until(Duration::from_secs(30), "our first answer", || async {
        responded_count(&chain, job).await == 1 && node.logs().contains("Output submitted on chain")
    })
    .await;

    // Our answer's block is gone, the job's block stays. anvil puts the reverted transaction
    // back in its pool (as geth does); dropped, it is lost as on a fork where it conflicts.
    // A new block makes the fork visible.
    revert(&chain, after_job).await;
    rpc(&chain, "anvil_dropAllTransactions", serde_json::json!([])).await;
    assert_eq!(responded_count(&chain, job).await, 0, "our answer is gone");
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 0);
    rpc(&chain, "evm_mine", serde_json::json!([])).await;

    let party = Party {
        node: &node,
        gas_key: GAS_KEY,
    };
    let kept = CreatedJob {
        id: job,
        output: "kept".into(),
    };
    // Answered once on the new chain, nothing reported, nothing else sent.
    assert_settled(&chain, &[kept], &[party], None, None).await;
    assert!(
        node.logs()
            .contains("Our output's block was replaced; sending it again"),
        "the removal was noticed:\n{}",
        node.logs()
    );
}
