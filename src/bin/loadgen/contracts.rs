//! The chain as a user sees it: a signing JSON-RPC client for the funded key, the addresses of
//! our deployment (`scripts/deploy-contracts.sh`'s JSON or flags), the few contract calls the
//! harness makes (upload code, mint and approve the fee token) and the `Jobs` ABI.
//!
//! Owns every ethers call of loadgen except the chain driver's hot path; sends transactions
//! from the user's key only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ethers::abi::{Abi, Token};
use ethers::contract::BaseContract;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{Address, TransactionReceipt, TransactionRequest, H256, U256};
use serde::Deserialize;

use crate::cli::ChainAccess;

/// The harness's signing client.
pub(crate) type Client = SignerMiddleware<Provider<Http>, LocalWallet>;

/// How often a receipt is polled for; anvil mines at once.
pub(crate) const RECEIPT_POLL: Duration = Duration::from_millis(5);
/// `saveCodeInCallData(string)`.
const SAVE_CODE_SELECTOR: [u8; 4] = [0xff, 0x7c, 0xda, 0xf3];

/// A chain call of the harness failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChainError {
    #[error("cannot read the deployment file {path}")]
    ReadDeployment {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not the JSON printed by scripts/deploy-contracts.sh")]
    ParseDeployment {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0} is needed: give it as a flag or through --deployment")]
    Missing(&'static str),
    #[error("--key must be 0x followed by 64 hex digits")]
    BadKey,
    #[error("{what} failed")]
    Rpc {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}: the transaction reverted (receipt status {status:?})")]
    Reverted {
        what: &'static str,
        status: Option<ethers::types::U64>,
    },
    #[error("{what}: no receipt")]
    NoReceipt { what: &'static str },
    #[error("the deployment is for chain {deployment} but the RPC serves chain {rpc}")]
    WrongChain { deployment: u64, rpc: u64 },
    #[error("the JobResponded subscription task ended before it was ready")]
    WatcherGone,
}

/// Addresses printed by `scripts/deploy-contracts.sh` (other keys are ignored).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Deployment {
    pub(crate) chain_id: u64,
    pub(crate) jobs: Address,
    pub(crate) code_contract: Address,
    pub(crate) usdc: Address,
}

impl Deployment {
    pub(crate) fn load(path: &Path) -> Result<Self, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::ReadDeployment {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ChainError::ParseDeployment {
            path: path.to_owned(),
            source,
        })
    }
}

/// A connected, signing view of the chain.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) client: Arc<Client>,
    pub(crate) rpc_url: url::Url,
    pub(crate) deployment: Option<Deployment>,
    pub(crate) chain_id: u64,
}

/// Connects with the user's key and reads the deployment file if one is given.
pub(crate) async fn connect(access: &ChainAccess) -> Result<Chain, ChainError> {
    let rpc_url = access
        .rpc_url
        .clone()
        .ok_or(ChainError::Missing("--rpc-url"))?;
    let key = access.key.as_deref().ok_or(ChainError::Missing("--key"))?;
    let deployment = access
        .deployment
        .as_deref()
        .map(Deployment::load)
        .transpose()?;
    let wallet: LocalWallet = key
        .strip_prefix("0x")
        .filter(|hex| hex.len() == 64)
        .and_then(|hex| hex.parse().ok())
        .ok_or(ChainError::BadKey)?;
    let provider = Provider::new(Http::new(rpc_url.clone())).interval(RECEIPT_POLL);
    let chain_id = provider
        .get_chainid()
        .await
        .map_err(|error| rpc("eth_chainId", error))?
        .as_u64();
    if let Some(deployment) = deployment.as_ref().filter(|d| d.chain_id != chain_id) {
        return Err(ChainError::WrongChain {
            deployment: deployment.chain_id,
            rpc: chain_id,
        });
    }
    let client = SignerMiddleware::new(provider, wallet.with_chain_id(chain_id));
    Ok(Chain {
        client: Arc::new(client),
        rpc_url,
        deployment,
        chain_id,
    })
}

impl Chain {
    /// `flag`, or the deployment's address picked by `pick`.
    pub(crate) fn address(
        &self,
        flag: Option<Address>,
        pick: fn(&Deployment) -> Address,
        name: &'static str,
    ) -> Result<Address, ChainError> {
        flag.or_else(|| self.deployment.as_ref().map(pick))
            .ok_or(ChainError::Missing(name))
    }

    /// Uploads `code` through `saveCodeInCallData(string)`; returns the mined transaction hash,
    /// which names the code in jobs.
    pub(crate) async fn upload_code(
        &self,
        code_contract: Address,
        code: &str,
    ) -> Result<H256, ChainError> {
        let mut data = SAVE_CODE_SELECTOR.to_vec();
        data.extend(ethers::abi::encode(&[Token::String(code.to_owned())]));
        let request = TransactionRequest::new().to(code_contract).data(data);
        let receipt = self.send(request.into(), "uploading the code").await?;
        Ok(receipt.transaction_hash)
    }

    /// Mints `amount` of the (open-mint) test fee token to the user and approves `spender`.
    pub(crate) async fn fund_fees(
        &self,
        token: Address,
        spender: Address,
        amount: U256,
    ) -> Result<(), ChainError> {
        let abi = token_abi();
        let user = self.client.address();
        let mint = abi
            .encode("mint", (user, amount))
            .map_err(|error| rpc("encoding mint", error))?;
        let approve = abi
            .encode("approve", (spender, amount))
            .map_err(|error| rpc("encoding approve", error))?;
        for (what, data) in [("minting fee tokens", mint), ("approving Jobs", approve)] {
            let request = TransactionRequest::new().to(token).data(data);
            self.send(request.into(), what).await?;
        }
        Ok(())
    }

    /// Sends with estimated gas and fees, waits for the receipt, and requires status 1.
    pub(crate) async fn send(
        &self,
        tx: TypedTransaction,
        what: &'static str,
    ) -> Result<TransactionReceipt, ChainError> {
        let pending = self
            .client
            .send_transaction(tx, None)
            .await
            .map_err(|error| rpc(what, error))?;
        let receipt = pending
            .interval(RECEIPT_POLL)
            .await
            .map_err(|error| rpc(what, error))?
            .ok_or(ChainError::NoReceipt { what })?;
        if receipt.status != Some(1.into()) {
            return Err(ChainError::Reverted {
                what,
                status: receipt.status,
            });
        }
        Ok(receipt)
    }
}

/// The part of `Jobs` the harness uses.
pub(crate) fn jobs_abi() -> BaseContract {
    parse(&[
        "function createJob(uint8 env, bytes32 codehash, bytes codeInputs, uint256 deadline) returns (uint256)",
        "event JobCreated(uint256 indexed jobId, uint8 indexed env, address indexed jobOwner, bytes32 codehash, bytes codeInputs, uint256 deadline, address[] selectedExecutors)",
        "event JobResponded(uint256 indexed jobId, address indexed executor, bytes output, uint256 totalTime, uint8 errorCode, uint8 outputCount)",
    ])
}

fn token_abi() -> BaseContract {
    parse(&[
        "function mint(address to, uint256 amount)",
        "function approve(address spender, uint256 value) returns (bool)",
    ])
}

fn parse(signatures: &[&str]) -> BaseContract {
    let abi: Abi =
        ethers::abi::parse_abi(signatures).expect("the harness's ABI strings are valid Solidity");
    BaseContract::from(abi)
}

/// The topic0 of a `Jobs` event.
pub(crate) fn jobs_topic(event: &str) -> H256 {
    jobs_abi()
        .abi()
        .event(event)
        .expect("the event is in jobs_abi")
        .signature()
}

pub(crate) fn rpc(
    what: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> ChainError {
    ChainError::Rpc {
        what,
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_topics_match_the_protocol() {
        let responded: H256 = "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233"
            .parse()
            .unwrap();
        let created: H256 = "0x52a40f74e443e82ca6251ea4549e7a2c0f2f9e872d9405226603ad5613aa1319"
            .parse()
            .unwrap();
        assert_eq!(jobs_topic("JobResponded"), responded);
        assert_eq!(jobs_topic("JobCreated"), created);
    }

    #[test]
    fn create_job_has_the_protocol_selector() {
        let selector = jobs_abi()
            .abi()
            .function("createJob")
            .unwrap()
            .short_signature();
        assert_eq!(selector, [0xe7, 0xeb, 0xa1, 0x9b]);
    }
}
