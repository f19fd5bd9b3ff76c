//! On-chain registration on anvil with our `Executors`: the node's signed registration message
//! is accepted when the owner sends it, refused from anyone else, and the node notices the
//! registration through its chain listener (and from chain state after a restart), and a
//! deregistered node stops taking chain jobs.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{fund_stake, register_executor};
use common::*;
use ethers::types::U256;

fn one_token() -> U256 {
    U256::exp10(18)
}

/// Stakes from `key_hex`'s account and sends `registerExecutor` with `message`.
async fn register_from(
    chain: &TestChain,
    node: &TestNode,
    key_hex: &str,
    message: &serde_json::Value,
) -> Result<ethers::types::TransactionReceipt, String> {
    let details = node.get_json("/executor-details").await;
    fund_stake(chain, key_hex, one_token()).await;
    let public_key = details["enclave_public_key"].as_str().unwrap();
    register_executor(chain, key_hex, public_key, message, one_token()).await
}

/// The revert selector of `ExecutorsInvalidSigner()`, as hex in ethers' error text.
fn invalid_signer() -> String {
    hex::encode(&ethers::utils::id("ExecutorsInvalidSigner()")[..4])
}

async fn registered(node: &TestNode) -> bool {
    node.get_json("/health").await["registered"] == true
}

#[tokio::test]
async fn owner_registers_the_node_and_the_node_notices() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    node.configure().await;
    assert!(!registered(&node).await);

    let message = node.get_json("/signed-registration-message").await;
    let error = register_from(&chain, &node, STRANGER_KEY, &message)
        .await
        .unwrap_err();
    assert!(
        error.contains(&invalid_signer()),
        "a stranger cannot use the owner's message: {error}"
    );

    let receipt = register_from(&chain, &node, OWNER_KEY, &message)
        .await
        .unwrap();
    let topic = receipt
        .logs
        .iter()
        .find_map(|log| log.topics.first().copied())
        .unwrap();
    assert_eq!(
        format!("{topic:?}"),
        "0xec0a27e4d50a399506fe5b90d1dfbf556cc157b511ace50f261f7770aeedb4b6"
    );

    wait_until(
        Duration::from_secs(20),
        "the node to see its registration",
        || registered(&node),
    )
    .await;
    let logs = node.logs();
    assert!(logs.contains("Executor registered on chain."), "{logs}");
    assert!(logs.contains(&node.enclave_address()), "{logs}");
}

#[tokio::test]
async fn restarted_node_learns_its_registration_from_chain_state() {
    let chain = TestChain::start().await;
    let first = TestNode::start(&chain, NodeOptions::default()).await;
    first.configure().await;
    let message = first.get_json("/signed-registration-message").await;
    register_from(&chain, &first, OWNER_KEY, &message)
        .await
        .unwrap();
    let enclave_key = first.enclave_key;
    drop(first);

    // The restarted node is never asked for a registration message: knowing it is registered
    // is a lifecycle matter, not a side effect of a GET.
    let options = NodeOptions {
        enclave_key: Some(enclave_key),
        ..NodeOptions::default()
    };
    let second = TestNode::start(&chain, options).await;
    wait_until(
        Duration::from_secs(20),
        "the restarted node to read its registration",
        || registered(&second),
    )
    .await;
    assert!(second.logs().contains("Executor registered on chain."));
}

#[tokio::test]
async fn stale_registration_signature_is_refused_by_the_contract() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    node.configure().await;
    let mut message = node.get_json("/signed-registration-message").await;
    // Tampering with any signed field makes the contract recover a different signer.
    message["job_capacity"] = serde_json::json!(21);
    let error = register_from(&chain, &node, OWNER_KEY, &message)
        .await
        .unwrap_err();
    assert!(
        error.contains(&invalid_signer()),
        "expected ExecutorsInvalidSigner: {error}"
    );
    assert!(!registered(&node).await);
}

#[tokio::test]
async fn deregistered_node_stops_taking_chain_jobs() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    node.configure().await;
    let message = node.get_json("/signed-registration-message").await;
    register_from(&chain, &node, OWNER_KEY, &message)
        .await
        .unwrap();
    wait_until(Duration::from_secs(20), "registration noticed", || {
        registered(&node)
    })
    .await;

    let owner = common::contracts::client(&chain, OWNER_KEY);
    let executors = common::contracts::contract("Executors", &chain.deployment.executors, owner);
    let enclave: ethers::types::Address = node.enclave_address().parse().unwrap();
    for step in ["drainExecutor", "deregisterExecutor"] {
        common::contracts::send(executors.method::<_, ()>(step, enclave).unwrap())
            .await
            .unwrap();
    }
    wait_until(
        Duration::from_secs(20),
        "deregistration noticed",
        || async { !registered(&node).await },
    )
    .await;
    wait_until(Duration::from_secs(5), "job intake closed", || async {
        node.logs()
            .contains("Chain job intake changed; jobs in flight finish. serving=false")
    })
    .await;
}
