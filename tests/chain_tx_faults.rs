//! Transaction faults on anvil, each while a real job runs: a base-fee spike before the node
//! submits, the node's pending submission dropped from the pool, the gas key's nonce used by
//! another sender, the gas key rotated while a submission is pending, and a submission pending
//! too long (its fees bumped). Every job is still answered exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{client, create_job, upload_code};
use common::jobs::{
    gas_nonce, pending_tx_of, registered_node, responded_count, rpc, slow_job_started, SLOW_ECHO,
};
use common::*;
use ethers::providers::Middleware;
use ethers::types::{TransactionRequest, U256};

const GWEI: u64 = 1_000_000_000;

async fn wait_answered_once(chain: &TestChain, node: &TestNode, job_id: U256) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while responded_count(chain, job_id).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "job not answered: {}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate every chance to appear before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(responded_count(chain, job_id).await, 1, "{}", node.logs());
}

#[tokio::test]
async fn a_base_fee_spike_is_outbid() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let (_, job_id) = slow_job_started(&chain, &node, b"spike", 10_000).await;
    // A hundredfold base fee for the block the submission lands in.
    let spike = U256::from(100 * GWEI);
    rpc(
        &chain,
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("{spike:#x}")]),
    )
    .await;
    wait_answered_once(&chain, &node, job_id).await;

    let provider = client(&chain, STRANGER_KEY);
    let gas = address_of_key(GAS_KEY).parse().unwrap();
    let block = provider.get_block_number().await.unwrap();
    let mut paid = None;
    for number in (0..=block.as_u64()).rev() {
        let block = provider.get_block_with_txs(number).await.unwrap().unwrap();
        if let Some(tx) = block.transactions.iter().find(|tx| tx.from == gas) {
            let receipt = provider
                .get_transaction_receipt(tx.hash)
                .await
                .unwrap()
                .unwrap();
            paid = receipt.effective_gas_price;
            break;
        }
    }
    let paid = paid.expect("the submission's receipt");
    assert!(
        paid >= spike,
        "paid {paid} under the spiked base fee {spike}"
    );
}

#[tokio::test]
async fn a_dropped_submission_is_sent_again() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let (_, job_id) = slow_job_started(&chain, &node, b"drop", 10_000).await;
    // Blocks are mined by hand from now on, so the submission stays pending.
    rpc(&chain, "evm_setAutomine", serde_json::json!([false])).await;
    let dropped = pending_tx_of(&chain, GAS_KEY).await["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    rpc(
        &chain,
        "anvil_dropTransaction",
        serde_json::json!([dropped]),
    )
    .await;
    wait_until(Duration::from_secs(20), "submission sent again", || async {
        node.logs()
            .contains("Transaction dropped from the pool; sent again.")
    })
    .await;
    rpc(&chain, "evm_mine", serde_json::json!([])).await;
    rpc(&chain, "evm_setAutomine", serde_json::json!([true])).await;
    wait_answered_once(&chain, &node, job_id).await;
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 1, "one submission");
}

#[tokio::test]
async fn a_nonce_used_by_another_sender_is_skipped() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    // The operator (or anyone holding the gas key) spends from the gas account behind the
    // node's back: the node's next nonce is now taken.
    let gas_client = client(&chain, GAS_KEY);
    let transfer = TransactionRequest::new()
        .to(address_of_key(STRANGER_KEY)
            .parse::<ethers::types::Address>()
            .unwrap())
        .value(1u64);
    gas_client
        .send_transaction(transfer, None)
        .await
        .unwrap()
        .await
        .unwrap();
    let code_tx = upload_code(&chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;
    let job_id = create_job(&chain, STRANGER_KEY, &code_tx, b"nonce", 10_000).await;
    wait_answered_once(&chain, &node, job_id).await;
    assert_eq!(
        gas_nonce(&chain, GAS_KEY).await,
        2,
        "the foreign transfer and one submission"
    );
}

#[tokio::test]
async fn the_gas_key_rotates_while_a_submission_is_pending() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let (code_tx, first) = slow_job_started(&chain, &node, b"old key", 10_000).await;
    rpc(&chain, "evm_setAutomine", serde_json::json!([false])).await;
    wait_until(Duration::from_secs(20), "submission pending", || async {
        node.logs().contains("Transaction sent.")
    })
    .await;
    // The owner installs a new gas key while the old key's submission waits in the pool.
    let body = serde_json::json!({ "gas_key_hex": SECOND_GAS_KEY }).to_string();
    let headers = node.owner_signed("/mutable-config", &body, 2).await;
    let (status, text) = node.post_raw("/mutable-config", body, &headers).await;
    assert_eq!(status, 200, "{text}");
    rpc(&chain, "evm_mine", serde_json::json!([])).await;
    rpc(&chain, "evm_setAutomine", serde_json::json!([true])).await;
    wait_answered_once(&chain, &node, first).await;

    let second = create_job(&chain, STRANGER_KEY, &code_tx, b"new key", 10_000).await;
    wait_answered_once(&chain, &node, second).await;
    let provider = client(&chain, STRANGER_KEY);
    let nonce_of = |key: &str| {
        let address: ethers::types::Address = address_of_key(key).parse().unwrap();
        let provider = provider.clone();
        async move { provider.get_transaction_count(address, None).await.unwrap() }
    };
    assert_eq!(
        nonce_of(GAS_KEY).await,
        U256::one(),
        "old key: the first job"
    );
    assert_eq!(
        nonce_of(SECOND_GAS_KEY).await,
        U256::one(),
        "new key: the second job"
    );
}

#[tokio::test]
async fn a_submission_pending_too_long_is_replaced_with_higher_fees() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let (_, job_id) = slow_job_started(&chain, &node, b"bump", 30_000).await;
    rpc(&chain, "evm_setAutomine", serde_json::json!([false])).await;
    let max_fee = |tx: serde_json::Value| {
        let fee = tx["maxFeePerGas"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x")
            .to_owned();
        U256::from_str_radix(&fee, 16).unwrap()
    };
    let first_fee = max_fee(pending_tx_of(&chain, GAS_KEY).await);
    wait_until(Duration::from_secs(30), "fees bumped", || async {
        node.logs().contains("Fees bumped.")
    })
    .await;
    let bumped = max_fee(pending_tx_of(&chain, GAS_KEY).await);
    assert!(
        bumped * 100 >= first_fee * 110,
        "at least +10 %: {first_fee} -> {bumped}"
    );
    rpc(&chain, "evm_mine", serde_json::json!([])).await;
    rpc(&chain, "evm_setAutomine", serde_json::json!([true])).await;
    wait_answered_once(&chain, &node, job_id).await;
    assert_eq!(gas_nonce(&chain, GAS_KEY).await, 1, "one submission");
}
