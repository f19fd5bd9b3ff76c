//! Chain-job helpers for the job-loop tests: a registered node, the `Jobs` logs read from anvil
//! over HTTP (never through a test relay), waiting for outputs, the gas account's nonce and how
//! often a node's log says it ran a job.

use std::time::Duration;

use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{Address, Filter, Log, H256, U256};

use super::contracts::{create_job, fund_stake, register_executor, upload_code};
use super::{
    address_of_key, poll_until, wait_until, NodeOptions, TestChain, TestNode, OWNER_KEY,
    STRANGER_KEY,
};

pub const JOB_CREATED: &str = "0x52a40f74e443e82ca6251ea4549e7a2c0f2f9e872d9405226603ad5613aa1319";
pub const JOB_RESPONDED: &str =
    "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233";
pub const SLASHED: &str = "0x5b7be43a9005feced634aa3c4ee6edf6d75149d297a3349f0e066743f4e440e7";

/// How long a test waits for outputs; generous, since a slow machine is not a failure.
pub const OUTPUT_WAIT: Duration = Duration::from_secs(60);

/// What the node logs when `JobCreated` selects it and it starts the job.
const SELECTED_LINE: &str = "Selected for a chain job.";

/// A node with default options, configured with `gas_key`, staked and registered by the owner.
pub async fn registered_node(chain: &TestChain, gas_key: &str) -> TestNode {
    registered_node_with(chain, gas_key, NodeOptions::default()).await
}

/// As [`registered_node`], started with `options`.
pub async fn registered_node_with(
    chain: &TestChain,
    gas_key: &str,
    options: NodeOptions,
) -> TestNode {
    let node = TestNode::start(chain, options).await;
    node.configure_with(gas_key).await;
    let details = node.get_json("/executor-details").await;
    let message = node.get_json("/signed-registration-message").await;
    fund_stake(chain, OWNER_KEY, U256::exp10(18)).await;
    let public_key = details["enclave_public_key"].as_str().expect("public key");
    register_executor(chain, OWNER_KEY, public_key, &message, U256::exp10(18))
        .await
        .expect("registered");
    node
}

/// Every `Jobs` log whose first topic is `topic`, read from anvil over HTTP.
pub async fn jobs_logs(chain: &TestChain, topic: &str) -> Vec<Log> {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).expect("provider");
    let filter = Filter::new()
        .address(chain.deployment.jobs.parse::<Address>().expect("address"))
        .topic0(topic.parse::<H256>().expect("topic"))
        .from_block(0);
    provider.get_logs(&filter).await.expect("eth_getLogs")
}

/// The executors a job selected, read from its `JobCreated` log.
pub async fn selected_of(chain: &TestChain, job_id: U256) -> Vec<String> {
    let log = jobs_logs(chain, JOB_CREATED)
        .await
        .into_iter()
        .find(|log| U256::from_big_endian(log.topics[1].as_bytes()) == job_id)
        .expect("JobCreated log");
    let kinds = [
        ethers::abi::ParamType::FixedBytes(32),
        ethers::abi::ParamType::Bytes,
        ethers::abi::ParamType::Uint(256),
        ethers::abi::ParamType::Array(Box::new(ethers::abi::ParamType::Address)),
    ];
    let tokens = ethers::abi::decode(&kinds, &log.data).expect("JobCreated data");
    tokens[3]
        .clone()
        .into_array()
        .expect("address array")
        .into_iter()
        .map(|token| format!("{:?}", token.into_address().expect("address")))
        .collect()
}

/// One `JobResponded` log, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub job_id: U256,
    /// Recovered by the contract from the signature: lowercase 0x hex.
    pub executor: String,
    pub output: Vec<u8>,
    pub error_code: u8,
    pub output_count: u8,
}

/// Every `JobResponded` so far, in chain order.
pub async fn outputs(chain: &TestChain) -> Vec<Output> {
    let kinds = [
        ethers::abi::ParamType::Bytes,
        ethers::abi::ParamType::Uint(256),
        ethers::abi::ParamType::Uint(8),
        ethers::abi::ParamType::Uint(8),
    ];
    jobs_logs(chain, JOB_RESPONDED)
        .await
        .into_iter()
        .map(|log| {
            let data = ethers::abi::decode(&kinds, &log.data).expect("JobResponded data");
            let small = |token: &ethers::abi::Token| {
                u8::try_from(token.clone().into_uint().expect("uint")).expect("uint8")
            };
            Output {
                job_id: U256::from_big_endian(log.topics[1].as_bytes()),
                executor: format!("0x{}", hex::encode(&log.topics[2].as_bytes()[12..])),
                output: data[0].clone().into_bytes().expect("bytes"),
                error_code: small(&data[2]),
                output_count: small(&data[3]),
            }
        })
        .collect()
}

/// Waits until each of `jobs` has at least `per_job` outputs and returns every output; on
/// timeout fails naming the jobs still short and showing the nodes' logs.
pub async fn wait_for_outputs(
    chain: &TestChain,
    jobs: &[U256],
    per_job: usize,
    nodes: &[&TestNode],
) -> Vec<Output> {
    let short = |all: &[Output]| -> Vec<U256> {
        jobs.iter()
            .filter(|&&job| all.iter().filter(|o| o.job_id == job).count() < per_job)
            .copied()
            .collect()
    };
    let done = poll_until(OUTPUT_WAIT, || async {
        short(&outputs(chain).await).is_empty()
    })
    .await;
    let all = outputs(chain).await;
    if !done {
        let logs: Vec<String> = nodes.iter().map(|node| node.logs()).collect();
        panic!(
            "jobs {:?} have fewer than {per_job} outputs after {OUTPUT_WAIT:?}; node logs:\n{}",
            short(&all),
            logs.join("\n-----\n")
        );
    }
    all
}

/// The outputs of one job.
pub fn outputs_of(all: &[Output], job_id: U256) -> Vec<&Output> {
    all.iter()
        .filter(|output| output.job_id == job_id)
        .collect()
}

/// The number of transactions `key_hex`'s account has had mined.
pub async fn gas_nonce(chain: &TestChain, key_hex: &str) -> u64 {
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).expect("provider");
    let address: Address = address_of_key(key_hex).parse().expect("address");
    provider
        .get_transaction_count(address, None)
        .await
        .expect("eth_getTransactionCount")
        .as_u64()
}

/// How many times `node`'s log says a `JobCreated` selecting it started `job_id`.
pub fn runs_of(node: &TestNode, job_id: U256) -> usize {
    let field = format!("job_id={job_id}");
    node.logs()
        .lines()
        .filter(|line| line.contains(SELECTED_LINE))
        .filter(|line| line.split_whitespace().any(|word| word == field))
        .count()
}

/// Answers after three seconds: long enough to act on the chain while the job runs.
pub const SLOW_ECHO: &str = "export default { async fetch(request) { const body = await request.text(); await new Promise((resolve) => setTimeout(resolve, 3000)); return new Response('slow:' + body); } };";

/// A raw JSON-RPC call to anvil (its `anvil_*`/`evm_*` methods); panics on an error reply.
pub async fn rpc(chain: &TestChain, method: &str, params: serde_json::Value) -> serde_json::Value {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response: serde_json::Value = client
        .post(chain.anvil.http_url())
        .json(&request)
        .send()
        .await
        .expect("anvil answers")
        .json()
        .await
        .expect("JSON reply");
    assert!(response.get("error").is_none(), "{method}: {response}");
    response["result"].clone()
}

/// How many outputs `job_id` has on chain.
pub async fn responded_count(chain: &TestChain, job_id: U256) -> usize {
    outputs_of(&outputs(chain).await, job_id).len()
}

/// Uploads [`SLOW_ECHO`], creates a job for it with `input` and waits until `node` started
/// running it; returns the code transaction and the job id.
pub async fn slow_job_started(
    chain: &TestChain,
    node: &TestNode,
    input: &[u8],
    deadline_ms: u64,
) -> (String, U256) {
    let code_tx = upload_code(chain, STRANGER_KEY, SLOW_ECHO.as_bytes()).await;
    let job_id = create_job(chain, STRANGER_KEY, &code_tx, input, deadline_ms).await;
    wait_until(Duration::from_secs(20), "job started", || async {
        node.logs().contains(SELECTED_LINE)
    })
    .await;
    (code_tx, job_id)
}

/// The pending transaction (as anvil's `txpool_content` shows it) of `key_hex`'s account,
/// waited for up to 20 s.
pub async fn pending_tx_of(chain: &TestChain, key_hex: &str) -> serde_json::Value {
    let account = address_of_key(key_hex).to_lowercase();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pool = rpc(chain, "txpool_content", serde_json::json!([])).await;
        let ours = pool["pending"]
            .as_object()
            .and_then(|senders| senders.iter().find(|(s, _)| s.to_lowercase() == account))
            .and_then(|(_, by_nonce)| by_nonce.as_object()?.values().next().cloned());
        if let Some(tx) = ours {
            return tx;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pending transaction from {account}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
