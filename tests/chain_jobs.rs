//! The chain job loop's happy path on anvil: a registered node sees `JobCreated` selecting it,
//! runs the job in workerd, signs the output and submits it; `Jobs` accepts it and emits
//! `JobResponded` with the output, recovered to the node's enclave address.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, fund_stake, register_executor, upload_code};
use common::*;
use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{Filter, H256, U256};

const PRIME_FACTORS: &str = "export default { async fetch(request) { const { num } = await request.json(); let n = num; const f = []; for (let d = 2; d * d <= n; d++) { while (n % d === 0) { f.push(d); n /= d; } } if (n > 1) f.push(n); return new Response(f.join(',')); } };";

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
    node
}

#[tokio::test]
async fn a_selected_node_runs_the_job_and_its_output_is_accepted_on_chain() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;
    let job_id = create_job(&chain, STRANGER_KEY, &code_tx, br#"{"num":600}"#, 5000).await;

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
        .from_block(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let responded = loop {
        let logs = provider.get_logs(&filter).await.unwrap_or_default();
        if !logs.is_empty() {
            break logs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no JobResponded: {}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = &responded[0];
    assert_eq!(U256::from_big_endian(log.topics[1].as_bytes()), job_id);
    let executor = format!("0x{}", hex::encode(&log.topics[2].as_bytes()[12..]));
    assert_eq!(executor, node.enclave_address());
    let kinds = [
        ethers::abi::ParamType::Bytes,
        ethers::abi::ParamType::Uint(256),
        ethers::abi::ParamType::Uint(8),
        ethers::abi::ParamType::Uint(8),
    ];
    let data = ethers::abi::decode(&kinds, &log.data).unwrap();
    assert_eq!(data[0], ethers::abi::Token::Bytes(b"2,2,2,3,5,5".to_vec()));
    assert_eq!(data[2], ethers::abi::Token::Uint(0.into()), "error code 0");
    assert_eq!(data[3], ethers::abi::Token::Uint(1.into()), "first output");
    let logs = node.logs();
    assert!(logs.contains("Output submitted on chain."), "{logs}");
}
