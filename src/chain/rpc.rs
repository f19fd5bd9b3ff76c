//! The one place that talks JSON-RPC over HTTP: nonces, block numbers, logs and contract views.
//!
//! `ChainRpc` is a cheap handle (one pooled HTTP client, built once at start and shared by
//! clone, so no job or call ever builds a new client). Every call is bounded by the configured
//! timeout; transient failures are returned as [`RpcError`] for the caller's policy to decide.

use std::time::Duration;

use ethers::abi::{decode, ParamType, Token};
use ethers::providers::{Http, Middleware, Provider};
use ethers::types::{BlockNumber, Filter, Log, TransactionRequest, H160};
use url::Url;

use crate::backoff::Backoff;
use crate::domain::{Address, ExecutionEnv};

/// Why a JSON-RPC call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The endpoint did not answer within the timeout.
    #[error("RPC call timed out after {0:?}")]
    Timeout(Duration),
    /// Transport or JSON-RPC error.
    #[error("RPC call failed")]
    Provider(#[source] ethers::providers::ProviderError),
    /// The HTTP client could not be built.
    #[error("cannot build the RPC client")]
    Client(#[source] reqwest::Error),
    /// A contract view returned something that does not decode.
    #[error("unexpected return data from {0}")]
    Decode(&'static str),
}

/// What `Executors.executors(enclave)` says about an enclave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorRecord {
    /// The registering owner; zero means "not registered".
    pub owner: Address,
    /// Announced capacity.
    pub job_capacity: u64,
    /// Registered environment.
    pub env: ExecutionEnv,
    /// Draining nodes get no new jobs.
    pub draining: bool,
}

/// A JSON-RPC client over HTTP with a per-call timeout.
#[derive(Debug, Clone)]
pub struct ChainRpc {
    provider: Provider<Http>,
    timeout: Duration,
}

impl ChainRpc {
    /// Builds the client once; `timeout` bounds each call.
    pub fn new(url: &Url, timeout: Duration) -> Result<Self, RpcError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(RpcError::Client)?;
        let provider = Provider::new(Http::new_with_client(url.clone(), client));
        Ok(Self { provider, timeout })
    }

    /// The provider, for calls written in sibling modules (e.g. `code_tx`).
    pub(crate) fn provider(&self) -> &Provider<Http> {
        &self.provider
    }

    /// The per-call bound.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The account's `pending` nonce, so transactions already in the pool are counted.
    pub async fn pending_nonce(&self, account: Address) -> Result<u64, RpcError> {
        let call = self
            .provider
            .get_transaction_count(H160(account.0), Some(BlockNumber::Pending.into()));
        Ok(self.bounded(call).await?.low_u64())
    }

    /// The account's balance in the latest block, in wei (saturating at `u128::MAX`).
    pub async fn balance(&self, account: Address) -> Result<u128, RpcError> {
        let call = self.provider.get_balance(H160(account.0), None);
        let wei = self.bounded(call).await?;
        Ok(if wei > ethers::types::U256::from(u128::MAX) {
            u128::MAX
        } else {
            wei.as_u128()
        })
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        Ok(self
            .bounded(self.provider.get_block_number())
            .await?
            .as_u64())
    }

    /// The chain id the endpoint serves.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        Ok(self.bounded(self.provider.get_chainid()).await?.low_u64())
    }

    /// Logs matching `filter` between two blocks, inclusive.
    pub async fn logs(&self, filter: &Filter, from: u64, to: u64) -> Result<Vec<Log>, RpcError> {
        let ranged = filter.clone().from_block(from).to_block(to);
        self.bounded(self.provider.get_logs(&ranged)).await
    }

    /// `Executors.executors(enclave)`; `None` when the enclave is not registered.
    pub async fn executor_record(
        &self,
        executors: Address,
        enclave: Address,
    ) -> Result<Option<ExecutorRecord>, RpcError> {
        // executors(address) selector followed by the left-padded address.
        let mut data = ethers::utils::id("executors(address)").to_vec();
        data.extend_from_slice(&crate::chain::events::address_topic(enclave));
        let request = TransactionRequest::new().to(H160(executors.0)).data(data);
        let output = self
            .bounded(self.provider.call(&request.into(), None))
            .await?;
        decode_executor_record(&output)
    }

    /// `Jobs.EXECUTION_BUFFER_TIME()`: how long after a job's deadline outputs are still
    /// accepted, and so when a timeout may be reported.
    pub async fn execution_buffer(&self, jobs: Address) -> Result<Duration, RpcError> {
        self.seconds_view(jobs, "EXECUTION_BUFFER_TIME()").await
    }

    /// `Jobs.SIGN_MAX_AGE()`: how old an output signature may be when it is included.
    pub async fn sign_max_age(&self, jobs: Address) -> Result<Duration, RpcError> {
        self.seconds_view(jobs, "SIGN_MAX_AGE()").await
    }

    /// A parameterless view returning a uint256 number of seconds.
    async fn seconds_view(
        &self,
        contract: Address,
        signature: &'static str,
    ) -> Result<Duration, RpcError> {
        let data = ethers::utils::id(signature).to_vec();
        let request = TransactionRequest::new().to(H160(contract.0)).data(data);
        let output = self
            .bounded(self.provider.call(&request.into(), None))
            .await?;
        let tokens =
            decode(&[ParamType::Uint(256)], &output).map_err(|_| RpcError::Decode(signature))?;
        match tokens.as_slice() {
            [Token::Uint(seconds)] if *seconds <= u64::MAX.into() => {
                Ok(Duration::from_secs(seconds.as_u64()))
            }
            _ => Err(RpcError::Decode(signature)),
        }
    }

    /// The hash of block `number` on the chain as the endpoint sees it now; `None` if the chain
    /// is shorter.
    pub async fn block_hash(&self, number: u64) -> Result<Option<[u8; 32]>, RpcError> {
        let block = self.bounded(self.provider.get_block(number)).await?;
        Ok(block.and_then(|block| block.hash).map(|hash| hash.0))
    }

    /// The timestamp (unix seconds) of the block with `hash`; `None` if it is unknown (orphaned).
    pub async fn block_timestamp(&self, hash: [u8; 32]) -> Result<Option<u64>, RpcError> {
        let block = self
            .bounded(self.provider.get_block(ethers::types::H256(hash)))
            .await?;
        Ok(block.map(|block| block.timestamp.min(u64::MAX.into()).as_u64()))
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ethers::providers::ProviderError>>,
    ) -> Result<T, RpcError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
            .map_err(RpcError::Provider)
    }
}

fn decode_executor_record(output: &[u8]) -> Result<Option<ExecutorRecord>, RpcError> {
    let kinds = [
        ParamType::Uint(256),
        ParamType::Uint(256),
        ParamType::Uint(256),
        ParamType::Address,
        ParamType::Bool,
        ParamType::Uint(8),
    ];
    let tokens = decode(&kinds, output).map_err(|_| RpcError::Decode("executors(address)"))?;
    let [Token::Uint(capacity), _, _, Token::Address(owner), Token::Bool(draining), Token::Uint(env)] =
        tokens.as_slice()
    else {
        return Err(RpcError::Decode("executors(address)"));
    };
    if owner.is_zero() {
        return Ok(None);
    }
    Ok(Some(ExecutorRecord {
        owner: Address(owner.0),
        job_capacity: capacity.min(&u64::MAX.into()).as_u64(),
        env: ExecutionEnv(u8::try_from(env.low_u32()).map_err(|_| RpcError::Decode("env"))?),
        draining: *draining,
    }))
}

/// Retries `call` up to `retries` more times, waiting per [`Backoff`] from `first`, and returns
/// the last error.
pub async fn with_retries<T, F, Fut>(
    retries: u32,
    first: Duration,
    mut call: F,
) -> Result<T, RpcError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RpcError>>,
{
    let mut backoff = Backoff::new(first, first.saturating_mul(1 << retries.min(16)));
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if backoff.attempt() >= retries => return Err(error),
            Err(_) => tokio::time::sleep(backoff.next_delay()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_record_decodes_registered_and_unregistered() {
        let record = |owner: [u8; 20]| {
            ethers::abi::encode(&[
                Token::Uint(20.into()),
                Token::Uint(0.into()),
                Token::Uint(5.into()),
                Token::Address(H160(owner)),
                Token::Bool(false),
                Token::Uint(1.into()),
            ])
        };
        assert_eq!(decode_executor_record(&record([0; 20])).unwrap(), None);
        let found = decode_executor_record(&record([3; 20])).unwrap().unwrap();
        assert_eq!(found.owner, Address([3; 20]));
        assert_eq!(found.job_capacity, 20);
        assert!(decode_executor_record(&[1, 2]).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_limit_and_return_the_last_error() {
        let mut calls = 0;
        let result: Result<(), RpcError> = with_retries(3, Duration::from_millis(5), || {
            calls += 1;
            async { Err(RpcError::Decode("test")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 4);
    }
}
