//! Reorg safety on anvil: a job whose block is rolled back while it runs is not answered, and
//! the same job created again in a new block is answered exactly once. Anvil 1.7.1 never sends
//! `removed: true`, so the node must notice the replaced block by its hash.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, fund_stake, register_executor, upload_code};
use common::*;
use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{BigEndianHash, Filter, H256, U256};

/// Answers after three seconds, long enough to roll its block back while it runs.
const SLOW_ECHO: &str = "export default { async fetch(request) { const body = await request.text(); await new Promise((resolve) => setTimeout(resolve, 3000)); return new Response('slow:' + body); } };";

const JOB_RESPONDED: &str = "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233";

async fn registered_node(chain: &TestChain) -> TestNode {
    let node = TestNode::start(chain, NodeOptions::default()).await;
    node.configure().await;
    let details = node.get_json("/executor-details").await;
    let message = node.get_json("/signed-registration-message").await;
    fund_stake(chain, OWNER_KEY, U256::exp10(18)).await;
    let public_key = details["enclave_public_key"].as_str().unwrap();
    register_executor(chain, OWNER_KEY, public_key, &message, U256::exp10(18))
        .await
        .unwrap();
    wait_until(Duration::from_secs(20), "node registered", || async {
        node.logs().contains("Chain job intake changed")
    })
    .await;
    node
}

async fn rpc(chain: &TestChain, method: &str, params: serde_json::Value) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response: serde_json::Value = client
        .post(chain.anvil.http_url())
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response.get("error").is_none(), "{method}: {response}");
    response["result"].clone()
}

async fn responded_count(chain: &TestChain, job_id: U256) -> usize {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let filter = Filter::new()
        .address(
            chain
                .deployment
                .jobs
                .parse::<ethers::types::Address>()
                .unwrap(),
        )
        .topic0(JOB_RESPONDED.parse::<H256>().unwrap())
        .topic1(H256::from_uint(&job_id))
        .from_block(0);
    provider.get_logs(&filter).await.unwrap().len()
}

async fn gas_nonce(chain: &TestChain) -> U256 {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let gas: ethers::types::Address = address_of_key(GAS_KEY).parse().unwrap();
    provider.get_transaction_count(gas, None).await.unwrap()
}

#[tokio::test]
async fn a_rolled_back_job_is_not_answered_and_its_reinclusion_is_answered_once() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;

    let job_id = create_job(&chain, STRANGER_KEY, &code_tx, b"first", 10_000).await;
    wait_until(Duration::from_secs(20), "job started", || async {
        node.logs().contains("Selected for a chain job.")
    })
    .await;
    // The job's block disappears and another block takes its number.
    rpc(&chain, "anvil_rollback", serde_json::json!([1])).await;
    rpc(&chain, "evm_mine", serde_json::json!([])).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !node
        .logs()
        .contains("Job orphaned by a reorg while it ran; output not submitted.")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reorg not noticed: {}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(responded_count(&chain, job_id).await, 0);
    assert_eq!(gas_nonce(&chain).await, U256::zero(), "nothing was sent");

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
    assert_eq!(gas_nonce(&chain).await, U256::one(), "one submission");
    let logs = node.logs();
    assert!(
        logs.contains("Blocks from the fork on were replaced"),
        "{logs}"
    );
}
