//! Chain-side helpers for the job-loop tests: a registered node, raw anvil RPC calls, and the
//! facts the tests assert on (outputs per job, transactions sent by the gas account).

use std::time::Duration;

use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{BigEndianHash, Filter, H256, U256};

use super::contracts::{fund_stake, register_executor};
use super::*;

/// `JobResponded(uint256,address,bytes,uint256,uint8,uint8)`.
pub const JOB_RESPONDED: &str =
    "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233";

/// Answers after three seconds: long enough to act on the chain while the job runs.
pub const SLOW_ECHO: &str = "export default { async fetch(request) { const body = await request.text(); await new Promise((resolve) => setTimeout(resolve, 3000)); return new Response('slow:' + body); } };";

/// A node configured with `GAS_KEY`, registered by the owner, and seen to know it.
pub async fn registered_node(chain: &TestChain) -> TestNode {
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

pub async fn rpc(chain: &TestChain, method: &str, params: serde_json::Value) -> serde_json::Value {
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

pub async fn responded_count(chain: &TestChain, job_id: U256) -> usize {
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

pub async fn gas_nonce(chain: &TestChain) -> U256 {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let gas: ethers::types::Address = address_of_key(GAS_KEY).parse().unwrap();
    provider.get_transaction_count(gas, None).await.unwrap()
}
