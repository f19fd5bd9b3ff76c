//! Calls to our deployed contracts from the test side, through ethers and the ABI that
//! `scripts/setup.sh` compiled: what an owner or a user does with `cast` or a wallet.

use std::sync::Arc;

use ethers::abi::Abi;
use ethers::contract::Contract;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Provider};
use ethers::signers::LocalWallet;
use ethers::types::{Address, Bytes, TransactionReceipt, U256};

use super::{repo, wallet, TestChain};

pub type Client = SignerMiddleware<Provider<Http>, LocalWallet>;

pub fn client(chain: &TestChain, key_hex: &str) -> Arc<Client> {
    // Anvil mines at once; ethers' default 7 s receipt polling would only add waiting.
    let provider = Provider::<Http>::try_from(chain.anvil.http_url())
        .expect("provider")
        .interval(std::time::Duration::from_millis(20));
    Arc::new(SignerMiddleware::new(provider, wallet(key_hex)))
}

pub fn contract(name: &str, address: &str, client: Arc<Client>) -> Contract<Client> {
    let path = repo().join("build/contracts").join(format!("{name}.json"));
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("run scripts/setup.sh"))
            .expect("JSON");
    let abi: Abi = serde_json::from_value(artifact["abi"].clone()).expect("ABI");
    Contract::new(address.parse::<Address>().expect("address"), abi, client)
}

/// Mints `amount` of the staking token to the key's account and approves `Executors`.
pub async fn fund_stake(chain: &TestChain, key_hex: &str, amount: U256) {
    let client = client(chain, key_hex);
    let pond = contract("TestToken", &chain.deployment.pond, client.clone());
    let executors: Address = chain.deployment.executors.parse().expect("address");
    send(
        pond.method::<_, ()>("mint", (client.address(), amount))
            .expect("mint"),
    )
    .await
    .expect("mint mined");
    send(
        pond.method::<_, bool>("approve", (executors, amount))
            .expect("approve"),
    )
    .await
    .expect("approve mined");
}

/// `registerExecutor` sent from `key_hex`'s account with a registration message from the node.
pub async fn register_executor(
    chain: &TestChain,
    key_hex: &str,
    public_key: &str,
    message: &serde_json::Value,
    stake: U256,
) -> Result<TransactionReceipt, String> {
    let client = client(chain, key_hex);
    let executors = contract("Executors", &chain.deployment.executors, client);
    let public_key: Bytes = public_key.parse().expect("public key hex");
    let timestamp_ms = U256::from(super::now()) * 1000;
    let attestation = (
        public_key,
        Bytes::from(vec![1; 48]),
        Bytes::from(vec![2; 48]),
        Bytes::from(vec![3; 48]),
        timestamp_ms,
    );
    let signature: Bytes = message["signature"]
        .as_str()
        .expect("signature")
        .parse()
        .expect("hex");
    let call = executors
        .method::<_, ()>(
            "registerExecutor",
            (
                Bytes::new(),
                attestation,
                U256::from(message["job_capacity"].as_u64().expect("capacity")),
                U256::from(message["sign_timestamp"].as_u64().expect("timestamp")),
                signature,
                stake,
                message["env"].as_u64().expect("env") as u8,
            ),
        )
        .expect("registerExecutor in ABI");
    send(call).await
}

/// Sends a call and waits for its receipt; a revert (at estimation or mined) is an `Err`.
pub async fn send<D: ethers::abi::Detokenize>(
    call: ethers::contract::ContractCall<Client, D>,
) -> Result<TransactionReceipt, String> {
    // The estimate is exact for the block anvil assumed; the block the call lands in may differ
    // (a second later: `registerExecutor`'s age checks take another branch; another executor
    // picked by `createJob`), and an exact limit then runs out of gas. Leave headroom.
    let estimate = call
        .estimate_gas()
        .await
        .map_err(|error| format!("{error:?}"))?;
    let call = call.gas(estimate * 3 / 2);
    let pending = call.send().await.map_err(|error| format!("{error:?}"))?;
    let receipt = pending
        .await
        .map_err(|error| format!("{error:?}"))?
        .ok_or("dropped")?;
    if receipt.status != Some(1.into()) {
        return Err(format!("reverted: {receipt:?}"));
    }
    Ok(receipt)
}

/// Uploads `code` through `saveCodeInCallData(string)` (selector 0xff7cdaf3) and returns the
/// transaction hash, which jobs name as their `codehash`.
pub async fn upload_code(chain: &TestChain, key_hex: &str, code: &[u8]) -> String {
    let calldata = code_calldata(code);
    send_raw(chain, key_hex, &chain.deployment.code_contract, calldata).await
}

/// `saveCodeInCallData(string)` calldata for raw bytes (the string need not be UTF-8).
pub fn code_calldata(code: &[u8]) -> Vec<u8> {
    let mut data = vec![0xff, 0x7c, 0xda, 0xf3];
    data.extend(ethers::abi::encode(&[ethers::abi::Token::Bytes(
        code.to_vec(),
    )]));
    data
}

/// Sends a code upload and returns its hash at once, mined or not (with anvil's automine off it
/// stays pending until a block is mined).
pub async fn upload_code_unmined(chain: &TestChain, key_hex: &str, code: &[u8]) -> String {
    use ethers::middleware::Middleware;
    let client = client(chain, key_hex);
    let request = ethers::types::TransactionRequest::new()
        .to(chain
            .deployment
            .code_contract
            .parse::<Address>()
            .expect("address"))
        .data(code_calldata(code))
        .gas(5_000_000u64);
    let pending = client.send_transaction(request, None).await.expect("sent");
    format!("{:?}", pending.tx_hash())
}

/// Sends a transaction with raw calldata to `to`; returns its hash once mined successfully.
pub async fn send_raw(chain: &TestChain, key_hex: &str, to: &str, data: Vec<u8>) -> String {
    use ethers::middleware::Middleware;
    let client = client(chain, key_hex);
    let request = ethers::types::TransactionRequest::new()
        .to(to.parse::<Address>().expect("address"))
        .data(data);
    let pending = client.send_transaction(request, None).await.expect("sent");
    let receipt = pending.await.expect("mined").expect("receipt");
    assert_eq!(receipt.status, Some(1.into()), "transaction succeeded");
    format!("{:?}", receipt.transaction_hash)
}

/// Mints fee tokens to the key's account, approves `Jobs`, and creates a job; returns its id.
pub async fn create_job(
    chain: &TestChain,
    key_hex: &str,
    code_tx: &str,
    input: &[u8],
    deadline_ms: u64,
) -> U256 {
    create_job_with_deadline(chain, key_hex, code_tx, input, U256::from(deadline_ms)).await
}

/// As [`create_job`], with any `uint256` deadline (the contract accepts far more than `u64`).
pub async fn create_job_with_deadline(
    chain: &TestChain,
    key_hex: &str,
    code_tx: &str,
    input: &[u8],
    deadline_ms: U256,
) -> U256 {
    let client = client(chain, key_hex);
    let usdc = contract("TestToken", &chain.deployment.usdc, client.clone());
    let jobs_address: Address = chain.deployment.jobs.parse().expect("address");
    // The deployment's fees: 1 per ms for execution plus 1 per ms staking reward.
    let escrow = deadline_ms * 2;
    send(
        usdc.method::<_, ()>("mint", (client.address(), escrow))
            .expect("mint"),
    )
    .await
    .expect("mint mined");
    send(
        usdc.method::<_, bool>("approve", (jobs_address, escrow))
            .expect("approve"),
    )
    .await
    .expect("approve mined");
    let jobs = contract("Jobs", &chain.deployment.jobs, client);
    let code_tx: ethers::types::H256 = code_tx.parse().expect("hash");
    let call = jobs
        .method::<_, U256>(
            "createJob",
            (1u8, code_tx.0, Bytes::from(input.to_vec()), deadline_ms),
        )
        .expect("createJob in ABI");
    let receipt = send(call).await.expect("createJob mined");
    let log = receipt
        .logs
        .iter()
        .find(|log| log.topics.len() == 4)
        .expect("JobCreated log");
    U256::from_big_endian(log.topics[1].as_bytes())
}
