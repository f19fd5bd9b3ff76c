//! The kit's chain client: a user's wallet and read-only calls, through ethers directly.
//!
//! This is a client of the contracts, like `src/bin/loadgen`, not part of the node: the node's
//! rule "only `src/chain/` imports ethers" keeps the node's chain code in one folder; the kit's
//! client-side calls live here, in one file, and reuse `src/chain/` for everything the node
//! also computes (the `SubmitOutput` digest, signature recovery, calldata decoding).
//!
//! Receives URLs, addresses and key files from the subcommands; sends JSON-RPC requests.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ethers::abi::{Abi, Token};
use ethers::contract::BaseContract;
use ethers::middleware::{Middleware, SignerMiddleware};
use ethers::providers::{Http, Provider};
use ethers::signers::{LocalWallet, Signer as _};
use ethers::types::{
    Address, BlockId, BlockNumber, Bytes, Filter, Log, TransactionReceipt, TransactionRequest,
    H256, U256,
};
use zeroize::Zeroizing;

use crate::secrets::SecretKey;

/// How often receipts and logs are polled.
pub const POLL: Duration = Duration::from_millis(200);

/// A chain call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The RPC URL, an address or a hash does not parse.
    #[error("{what} `{value}` is not valid")]
    Invalid {
        /// What the value is (a flag name).
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The key file could not be read or holds no key (its content is never shown).
    #[error("key file {path}: {reason}")]
    Key {
        /// The file (`-` for stdin).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON-RPC call failed.
    #[error("{what}: {detail}")]
    Rpc {
        /// The call.
        what: &'static str,
        /// The endpoint's or ethers' message.
        detail: String,
    },
    /// A transaction was mined but reverted.
    #[error("{what} reverted (transaction {hash:?})")]
    Reverted {
        /// The call.
        what: &'static str,
        /// The transaction.
        hash: H256,
    },
}

/// Wraps an RPC failure.
pub fn rpc(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> ClientError {
    move |error| ClientError::Rpc {
        what,
        detail: error.to_string(),
    }
}

/// A read-only provider.
pub type Reader = Provider<Http>;
/// A provider that signs with the user's key.
pub type Writer = SignerMiddleware<Provider<Http>, LocalWallet>;

/// Connects read-only.
pub fn reader(url: &str) -> Result<Reader, ClientError> {
    Provider::<Http>::try_from(url)
        .map(|provider| provider.interval(POLL))
        .map_err(|_| ClientError::Invalid {
            what: "--rpc",
            value: url.to_owned(),
        })
}

/// Connects with the key in `key_file` (raw 32 bytes, or 64 hex digits; `-` reads stdin).
pub async fn writer(url: &str, key_file: &Path) -> Result<Arc<Writer>, ClientError> {
    let provider = reader(url)?;
    let chain_id = provider
        .get_chainid()
        .await
        .map_err(|error| rpc("eth_chainId")(&error))?;
    let key = load_key(key_file)?;
    let wallet = LocalWallet::from(key.signing_key().clone()).with_chain_id(chain_id.as_u64());
    Ok(Arc::new(SignerMiddleware::new(provider, wallet)))
}

fn load_key(path: &Path) -> Result<SecretKey, ClientError> {
    let shown = path.display().to_string();
    let failed = |reason: &str| ClientError::Key {
        path: shown.clone(),
        reason: reason.to_owned(),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes))
    };
    read.map_err(|error| failed(&error.to_string()))?;
    if bytes.len() == 32 {
        return SecretKey::from_slice(&bytes).map_err(|error| failed(&error.to_string()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| failed("neither 32 bytes nor hex"))?;
    let text = text.trim();
    let hex_digits = text.strip_prefix("0x").unwrap_or(text);
    let raw = Zeroizing::new(hex::decode(hex_digits).map_err(|_| failed("not 32 bytes or hex"))?);
    SecretKey::from_slice(&raw).map_err(|error| failed(&error.to_string()))
}

/// Parses an address flag.
pub fn address(what: &'static str, value: &str) -> Result<Address, ClientError> {
    value.parse().map_err(|_| ClientError::Invalid {
        what,
        value: value.to_owned(),
    })
}

/// Parses a transaction-hash flag.
pub fn hash(what: &'static str, value: &str) -> Result<H256, ClientError> {
    value.parse().map_err(|_| ClientError::Invalid {
        what,
        value: value.to_owned(),
    })
}

/// Parses a job id (decimal or 0x hex).
pub fn job_id(value: &str) -> Result<U256, ClientError> {
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => U256::from_str_radix(hex, 16).ok(),
        None => U256::from_dec_str(value).ok(),
    };
    parsed.ok_or_else(|| ClientError::Invalid {
        what: "job id",
        value: value.to_owned(),
    })
}

/// Sends `data` to `to` with estimated gas, waits for the receipt (with progress on stderr),
/// requires success.
pub async fn send(
    client: &Writer,
    to: Address,
    data: Vec<u8>,
    what: &'static str,
) -> Result<TransactionReceipt, ClientError> {
    let request = TransactionRequest::new().to(to).data(data);
    let pending = client
        .send_transaction(request, None)
        .await
        .map_err(|error| rpc(what)(&error))?;
    // `Display` shortens the hash (0x1234…cdef): the spinner stays on one line.
    let status = format!("waiting for the {what} receipt of {}", pending.tx_hash());
    let receipt = super::progress::during(&status, pending.interval(POLL))
        .await
        .map_err(|error| rpc(what)(&error))?
        .ok_or_else(|| rpc(what)(&"no receipt"))?;
    if receipt.status != Some(1.into()) {
        return Err(ClientError::Reverted {
            what,
            hash: receipt.transaction_hash,
        });
    }
    Ok(receipt)
}

/// A view call at `block` (latest if `None`), decoded with `abi`'s `function`.
pub async fn view<D: ethers::abi::Detokenize>(
    client: &impl Middleware,
    abi: &BaseContract,
    to: Address,
    function: &'static str,
    args: impl ethers::abi::Tokenize,
    block: Option<u64>,
) -> Result<D, ClientError> {
    let data = abi
        .encode(function, args)
        .map_err(|error| rpc(function)(&error))?;
    let request = TransactionRequest::new().to(to).data(data);
    let block = block.map(|number| BlockId::Number(BlockNumber::Number(number.into())));
    let output = client
        .call(&request.into(), block)
        .await
        .map_err(|error| rpc(function)(&error))?;
    abi.decode_output(function, output)
        .map_err(|error| rpc(function)(&error))
}

/// Every log of `contract` with `topic0` and, if given, `topic1`, from block 0.
pub async fn logs(
    client: &impl Middleware,
    contract: Address,
    topic0: H256,
    topic1: Option<H256>,
) -> Result<Vec<Log>, ClientError> {
    let mut filter = Filter::new().address(contract).topic0(topic0).from_block(0);
    if let Some(topic1) = topic1 {
        filter = filter.topic1(topic1);
    }
    filtered_logs(client, &filter).await
}

/// Every log `filter` matches.
pub async fn filtered_logs(
    client: &impl Middleware,
    filter: &Filter,
) -> Result<Vec<Log>, ClientError> {
    client
        .get_logs(filter)
        .await
        .map_err(|error| rpc("eth_getLogs")(&error))
}

/// A transaction's input, if the endpoint knows it.
pub async fn tx_input(client: &Reader, hash: H256) -> Result<Option<Bytes>, ClientError> {
    let tx = client
        .get_transaction(hash)
        .await
        .map_err(|error| rpc("eth_getTransactionByHash")(&error))?;
    Ok(tx.map(|tx| tx.input))
}

/// The part of `Jobs` the kit uses.
pub fn jobs_abi() -> BaseContract {
    parse(&[
        "function createJob(uint8 env, bytes32 codehash, bytes codeInputs, uint256 deadline) returns (uint256)",
        "function submitOutput(bytes signature, uint256 jobId, bytes output, uint256 totalTime, uint8 errorCode, uint256 signTimestamp)",
        "function USDC_TOKEN() view returns (address)",
        "function EXECUTION_BUFFER_TIME() view returns (uint256)",
        "function executionEnv(uint8 env) view returns (uint256, uint256)",
        "event JobCreated(uint256 indexed jobId, uint8 indexed env, address indexed jobOwner, bytes32 codehash, bytes codeInputs, uint256 deadline, address[] selectedExecutors)",
        "event JobResponded(uint256 indexed jobId, address indexed executor, bytes output, uint256 totalTime, uint8 errorCode, uint8 outputCount)",
        "event SlashedOnExecutionTimeout(uint256 indexed jobId, address indexed enclaveAddress)",
    ])
}

/// The part of `Executors` the kit uses.
pub fn executors_abi() -> BaseContract {
    parse(&["function executors(address) view returns (uint256, uint256, uint256, address, bool, uint8)"])
}

/// The part of an ERC-20 fee token the kit uses.
pub fn token_abi() -> BaseContract {
    parse(&[
        "function allowance(address owner, address spender) view returns (uint256)",
        "function approve(address spender, uint256 value) returns (bool)",
    ])
}

fn parse(signatures: &[&str]) -> BaseContract {
    // The signatures above are constant Solidity; a typo is caught by the unit test.
    let abi: Abi = ethers::abi::parse_abi(signatures).unwrap_or_default();
    BaseContract::from(abi)
}

/// The topic0 of a `Jobs` event.
pub fn jobs_topic(event: &str) -> H256 {
    jobs_abi()
        .abi()
        .event(event)
        .map(|event| event.signature())
        .unwrap_or_default()
}

/// A decoded `JobCreated`.
#[derive(Debug, Clone)]
pub struct Created {
    /// The job id.
    pub id: U256,
    /// The code transaction.
    pub code_tx: H256,
    /// The input, byte for byte.
    pub input: Vec<u8>,
    /// Milliseconds.
    pub deadline: U256,
    /// Who must answer.
    pub selected: Vec<Address>,
    /// The block it is in.
    pub block: u64,
}

/// Decodes a `JobCreated` log.
pub fn decode_created(log: &Log) -> Result<Created, ClientError> {
    let event = jobs_abi();
    let event = event
        .abi()
        .event("JobCreated")
        .map_err(|error| rpc("JobCreated")(&error))?;
    let parsed = event
        .parse_log(log.clone().into())
        .map_err(|error| rpc("decoding JobCreated")(&error))?;
    let param = |name: &str| {
        parsed
            .params
            .iter()
            .find(|param| param.name == name)
            .map(|param| param.value.clone())
    };
    let bad = || rpc("decoding JobCreated")(&"unexpected field types");
    Ok(Created {
        id: param("jobId").and_then(Token::into_uint).ok_or_else(bad)?,
        code_tx: param("codehash")
            .and_then(Token::into_fixed_bytes)
            .map(|bytes| H256::from_slice(&bytes))
            .ok_or_else(bad)?,
        input: param("codeInputs")
            .and_then(Token::into_bytes)
            .ok_or_else(bad)?,
        deadline: param("deadline")
            .and_then(Token::into_uint)
            .ok_or_else(bad)?,
        selected: param("selectedExecutors")
            .and_then(Token::into_array)
            .ok_or_else(bad)?
            .into_iter()
            .filter_map(Token::into_address)
            .collect(),
        block: log.block_number.map_or(0, |number| number.as_u64()),
    })
}

/// A decoded `JobResponded`.
#[derive(Debug, Clone)]
pub struct Responded {
    /// Who answered (recovered by the contract).
    pub executor: Address,
    /// The output.
    pub output: Vec<u8>,
    /// Milliseconds, as accepted.
    pub total_time: U256,
    /// The outcome code.
    pub error_code: u8,
    /// Outputs accepted so far.
    pub output_count: u8,
    /// The transaction that carried it.
    pub tx: H256,
}

/// Decodes a `JobResponded` log.
pub fn decode_responded(log: &Log) -> Result<Responded, ClientError> {
    let bad = || rpc("decoding JobResponded")(&"unexpected fields");
    let executor = log
        .topics
        .get(2)
        .map(|topic| Address::from_slice(&topic.as_bytes()[12..]))
        .ok_or_else(bad)?;
    let kinds = [
        ethers::abi::ParamType::Bytes,
        ethers::abi::ParamType::Uint(256),
        ethers::abi::ParamType::Uint(8),
        ethers::abi::ParamType::Uint(8),
    ];
    let tokens = ethers::abi::decode(&kinds, &log.data).map_err(|_| bad())?;
    let mut tokens = tokens.into_iter();
    let output = tokens.next().and_then(Token::into_bytes).ok_or_else(bad)?;
    let total_time = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    let error_code = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    let output_count = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    Ok(Responded {
        executor,
        output,
        total_time,
        error_code: u8::try_from(error_code.low_u32()).unwrap_or(u8::MAX),
        output_count: u8::try_from(output_count.low_u32()).unwrap_or(u8::MAX),
        tx: log.transaction_hash.ok_or_else(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abi_strings_parse_and_topics_match_the_protocol() {
        assert!(jobs_abi().abi().function("submitOutput").is_ok());
        assert!(executors_abi().abi().function("executors").is_ok());
        assert!(token_abi().abi().function("approve").is_ok());
        let responded: H256 = "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233"
            .parse()
            .unwrap_or_default();
        assert_eq!(jobs_topic("JobResponded"), responded);
    }
}
