//! Reorg safety on anvil: a job whose block is rolled back while it runs is not answered, and
//! the same job created again in a new block is answered exactly once. Anvil 1.7.1 never sends
//! `removed: true`, so the node must notice the replaced block by its hash.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::create_job;
use common::jobs::{gas_nonce, registered_node, responded_count, rpc, slow_job_started};
use common::*;

#[tokio::test]
async fn a_rolled_back_job_is_not_answered_and_its_reinclusion_is_answered_once() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let (code_tx, job_id) = slow_job_started(&chain, &node, b"first", 10_000).await;
    // The job's block disappears and another block takes its number.
    rpc(&chain, "anvil_rollback", serde_json::json!([1])).await;
    rpc(&chain, "evm_mine", serde_json::json!([])).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !node
        .logs()
        .contains("Job's block was replaced (reorg) or its window closed; output not submitted.")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reorg not noticed: {}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(responded_count(&chain, job_id).await, 0);
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 0, "nothing was sent");

    // The same job (same id: the contract counts from its state) in a new block.
    let again = create_job(&chain, STRANGER_KEY, &code_tx, b"second", 10_000).await;
    assert_eq!(again, job_id);
    wait_until(
        Duration::from_secs(30),
        "re-included job answered",
        || async { responded_count(&chain, job_id).await == 1 },
    )
    .await;
    // Give a duplicate every chance to appear before counting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(responded_count(&chain, job_id).await, 1, "{}", node.logs());
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 1, "one submission");
    let logs = node.logs();
    assert!(
        logs.contains("Blocks from the fork on were replaced"),
        "{logs}"
    );
}
