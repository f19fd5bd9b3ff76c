//! The chain job loop's happy path on anvil: a registered node sees `JobCreated` selecting it,
//! runs the job in workerd, signs the output and submits it; `Jobs` accepts it and emits
//! `JobResponded` with the output, recovered to the node's enclave address.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, fund_stake, register_executor, upload_code};
use common::*;
use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{Filter, Log, H256, U256};

const PRIME_FACTORS: &str = "export default { async fetch(request) { const { num } = await request.json(); let n = num; const f = []; for (let d = 2; d * d <= n; d++) { while (n % d === 0) { f.push(d); n /= d; } } if (n > 1) f.push(n); return new Response(f.join(',')); } };";

const JOB_RESPONDED: &str = "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233";

async fn registered_node(chain: &TestChain, gas_key: &str) -> TestNode {
    let node = TestNode::start(chain, NodeOptions::default()).await;
    node.configure_with(gas_key).await;
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
    let node = registered_node(&chain, GAS_KEY).await;
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
    // The node learns of the inclusion on its next check of pending transactions.
    wait_until(Duration::from_secs(10), "inclusion noticed", || async {
        node.logs().contains("Output submitted on chain.")
    })
    .await;
}

const SLASHED: &str = "0x5b7be43a9005feced634aa3c4ee6edf6d75149d297a3349f0e066743f4e440e7";

async fn jobs_logs(chain: &TestChain, topic: &str) -> Vec<Log> {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let filter = Filter::new()
        .address(
            chain
                .deployment
                .jobs
                .parse::<ethers::types::Address>()
                .unwrap(),
        )
        .topic0(topic.parse::<H256>().unwrap())
        .from_block(0);
    provider.get_logs(&filter).await.unwrap()
}

/// The executors a job selected, read from its `JobCreated` log.
async fn selected_of(chain: &TestChain, job_id: U256) -> Vec<String> {
    let created = "0x52a40f74e443e82ca6251ea4549e7a2c0f2f9e872d9405226603ad5613aa1319";
    let log = jobs_logs(chain, created)
        .await
        .into_iter()
        .find(|log| U256::from_big_endian(log.topics[1].as_bytes()) == job_id)
        .unwrap();
    let kinds = [
        ethers::abi::ParamType::FixedBytes(32),
        ethers::abi::ParamType::Bytes,
        ethers::abi::ParamType::Uint(256),
        ethers::abi::ParamType::Array(Box::new(ethers::abi::ParamType::Address)),
    ];
    let tokens = ethers::abi::decode(&kinds, &log.data).unwrap();
    tokens[3]
        .clone()
        .into_array()
        .unwrap()
        .into_iter()
        .map(|token| format!("{:?}", token.into_address().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_job_whose_executor_is_gone_is_reported_once_by_another_node() {
    let chain = TestChain::start_with(&["--execution-buffer", "1"]).await;
    let gone = registered_node(&chain, GAS_KEY).await;
    let watcher = registered_node(&chain, SECOND_GAS_KEY).await;
    let gone_address = gone.enclave_address();
    drop(gone);
    let code_tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;

    // Selection is stake-weighted random among the two: create jobs until one picks the dead node.
    let mut answered_by_watcher = Vec::new();
    let mut orphan = None;
    for _ in 0..24 {
        let job_id = create_job(&chain, STRANGER_KEY, &code_tx, br#"{"num":6}"#, 1000).await;
        if selected_of(&chain, job_id).await.contains(&gone_address) {
            orphan = Some(job_id);
            break;
        }
        answered_by_watcher.push(job_id);
    }
    let orphan = orphan.expect("the dead node was selected at least once in 24 jobs");

    // Blocks keep coming on a real chain; on anvil they must be mined for its clock to advance.
    let miner = tokio::spawn(mine_every(
        chain.anvil.http_url(),
        Duration::from_millis(500),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let slashed = loop {
        let logs = jobs_logs(&chain, SLASHED).await;
        if !logs.is_empty() {
            break logs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no timeout report: {}",
            watcher.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let every other watch come due, then count.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let slashed = if slashed.len() == 1 {
        jobs_logs(&chain, SLASHED).await
    } else {
        slashed
    };
    let slashed_jobs: Vec<U256> = slashed
        .iter()
        .map(|log| U256::from_big_endian(log.topics[1].as_bytes()))
        .collect();
    assert_eq!(
        slashed_jobs,
        vec![orphan],
        "only the orphaned job, reported once"
    );
    let executor = format!("0x{}", hex::encode(&slashed[0].topics[2].as_bytes()[12..]));
    assert_eq!(executor, gone_address, "the dead node is the one slashed");
    assert!(watcher.logs().contains("Timeout reported on chain."));
    miner.abort();
    let answered = jobs_logs(&chain, JOB_RESPONDED).await.len();
    assert_eq!(
        answered,
        answered_by_watcher.len(),
        "the watcher answered its own jobs"
    );
}

async fn mine_every(url: String, period: Duration) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    loop {
        let request =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []});
        let _ = client.post(&url).json(&request).send().await;
        tokio::time::sleep(period).await;
    }
}
