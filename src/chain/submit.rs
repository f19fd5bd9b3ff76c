//! Building, simulating, signing and sending a transaction to the Jobs contract, and checking on
//! it afterwards (receipt, still in the pool, nonce used): the JSON-RPC side of `TxSender`.
//!
//! Pure helpers over [`ChainRpc`] and a borrowed [`GasWallet`]; the nonce and the fees are
//! chosen by the caller (`TxSender`, their only owner). A call that would revert is never sent:
//! it is simulated with `eth_call` first, and failures are classified from typed JSON-RPC data.

use ethers::abi::{encode, Token};
use ethers::providers::Middleware;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{BlockNumber, Bytes, Eip1559TransactionRequest, H160, H256, U256};

use crate::chain::fees::Fees;
use crate::chain::rpc::ChainRpc;
use crate::chain::tx_errors::{classify_rpc_error, TxErrorKind};
use crate::chain::wallet::GasWallet;
use crate::domain::{Address, TxHash};

/// `submitOutput(bytes,uint256,bytes,uint256,uint8,uint256)`.
const SUBMIT_OUTPUT_SELECTOR: [u8; 4] = [0x4a, 0xf5, 0x0f, 0xc8];
/// Gas estimate headroom, in percent, so a state change between estimate and inclusion does
/// not run the transaction out of gas.
const GAS_BUFFER_PERCENT: u64 = 25;

/// The arguments of `Jobs.submitOutput`.
#[derive(Debug, Clone)]
pub struct SubmitOutputCall {
    /// The enclave's `SubmitOutput` signature.
    pub signature: Vec<u8>,
    /// Big-endian uint256.
    pub job_id: [u8; 32],
    /// The output bytes.
    pub output: Vec<u8>,
    /// Milliseconds.
    pub total_time_ms: u64,
    /// The outcome code.
    pub error_code: u8,
    /// Unix seconds of the signature.
    pub sign_timestamp: u64,
}

/// Why a transaction was not sent or not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The RPC refused or failed; the kind says whether retrying can help.
    #[error("transaction failed: {0:?}")]
    Rpc(TxErrorKind),
    /// The call would revert (or did): sending it (again) would only burn gas. Carries the
    /// revert data (a custom error) when the node returned it.
    #[error("transaction reverts")]
    Reverted(Option<Vec<u8>>),
    /// A query the sending depends on (fees) failed.
    #[error("chain query failed")]
    Query(#[from] crate::chain::rpc::RpcError),
    /// The wallet could not sign.
    #[error("cannot sign the transaction")]
    Signing,
    /// The block of the job this call answers is no longer on the chain (a reorg): a job
    /// created again with the same id is another job, and this output must not answer it.
    #[error("the job's block was replaced (reorg)")]
    Orphaned,
}

/// Whether revert data is `Jobs`' `JobsSignatureTooOld()`: the output must be signed again.
pub fn is_signature_too_old(data: Option<&[u8]>) -> bool {
    let selector = ethers::utils::id("JobsSignatureTooOld()");
    data.is_some_and(|data| data.starts_with(&selector))
}

/// Whether revert data is `Jobs`' `JobsDeadlineNotOver()`: a timeout report that is not due
/// yet by the chain's clock (which can lag ours), as opposed to one that is not needed.
pub fn is_deadline_not_over(data: Option<&[u8]>) -> bool {
    let selector = ethers::utils::id("JobsDeadlineNotOver()");
    data.is_some_and(|data| data.starts_with(&selector))
}

/// Whether revert data is `Jobs`' `JobsExecutorAlreadySubmittedOutput()`: our output is on chain
/// already (an earlier attempt that timed out on our side reached the node after all).
pub fn is_already_submitted(data: Option<&[u8]>) -> bool {
    let selector = ethers::utils::id("JobsExecutorAlreadySubmittedOutput()");
    data.is_some_and(|data| data.starts_with(&selector))
}

/// `slashOnExecutionTimeout(uint256)`.
const SLASH_SELECTOR: [u8; 4] = [0x95, 0xe1, 0x1e, 0xf7];

/// ABI-encoded calldata of `slashOnExecutionTimeout`.
pub fn slash_calldata(job_id: [u8; 32]) -> Vec<u8> {
    let mut data = SLASH_SELECTOR.to_vec();
    data.extend_from_slice(&job_id);
    data
}

/// ABI-encoded calldata of `submitOutput`.
pub fn submit_output_calldata(call: &SubmitOutputCall) -> Vec<u8> {
    let mut data = SUBMIT_OUTPUT_SELECTOR.to_vec();
    data.extend(encode(&[
        Token::Bytes(call.signature.clone()),
        Token::Uint(U256::from_big_endian(&call.job_id)),
        Token::Bytes(call.output.clone()),
        Token::Uint(call.total_time_ms.into()),
        Token::Uint(call.error_code.into()),
        Token::Uint(call.sign_timestamp.into()),
    ]));
    data
}

/// A transaction with everything but its fees: simulated and gas-estimated once, then signed
/// again for every fee bump or re-broadcast.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The paying account.
    pub from: Address,
    /// The callee (or `from` itself for a cancellation).
    pub to: Address,
    /// Calldata.
    pub data: Vec<u8>,
    /// The account nonce it occupies.
    pub nonce: u64,
    /// Gas limit, estimate plus buffer.
    pub gas: u64,
}

/// Gas of a plain transfer: what a cancellation costs.
const TRANSFER_GAS: u64 = 21_000;

impl Draft {
    /// A zero-value transfer from `from` to itself at `nonce`: fills a nonce the chain lost
    /// (our transaction there was removed by a reorg), so the transactions above it can go.
    pub fn filler(from: Address, nonce: u64) -> Self {
        Self {
            from,
            to: from,
            data: Vec::new(),
            nonce,
            gas: TRANSFER_GAS,
        }
    }

    /// A zero-value transfer to ourselves at the same nonce: replaces a transaction that would
    /// now revert, so that it neither burns gas nor blocks the nonces behind it.
    pub fn cancellation(&self) -> Self {
        Self {
            from: self.from,
            to: self.from,
            data: Vec::new(),
            nonce: self.nonce,
            gas: TRANSFER_GAS,
        }
    }
}

/// The block a job was created in: an output is sent (and re-sent) only while it is on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobAnchor {
    /// Block number of the job's `JobCreated`.
    pub number: u64,
    /// That block's hash as we saw it.
    pub hash: [u8; 32],
}

impl ChainRpc {
    /// Whether `anchor`'s block is still the chain's block at its height.
    pub async fn is_canonical(&self, anchor: JobAnchor) -> Result<bool, SubmitError> {
        Ok(self.block_hash(anchor.number).await? == Some(anchor.hash))
    }

    /// Simulates a call from `from`; `Reverted` carries the revert data.
    pub async fn simulate(
        &self,
        from: Address,
        to: Address,
        data: &[u8],
    ) -> Result<(), SubmitError> {
        let request = Eip1559TransactionRequest::new()
            .from(H160(from.0))
            .to(H160(to.0))
            .data(Bytes::from(data.to_vec()));
        let tx = TypedTransaction::Eip1559(request);
        match self.bounded_provider(self.provider().call(&tx, None)).await {
            Ok(_) => Ok(()),
            Err(kind) => Err(match kind {
                TxErrorKind::Reverted { data } => SubmitError::Reverted(data),
                kind => SubmitError::Rpc(kind),
            }),
        }
    }

    /// The gas limit for a call: the node's estimate plus a buffer. A call that reverts fails
    /// here too, without the revert data [`Self::simulate`] gives.
    pub async fn estimate(
        &self,
        from: Address,
        to: Address,
        data: &[u8],
    ) -> Result<u64, SubmitError> {
        let request = Eip1559TransactionRequest::new()
            .from(H160(from.0))
            .to(H160(to.0))
            .data(Bytes::from(data.to_vec()));
        let estimate = self
            .bounded_provider(
                self.provider()
                    .estimate_gas(&TypedTransaction::Eip1559(request), None),
            )
            .await
            .map_err(SubmitError::Rpc)?;
        let gas = estimate.min(U256::from(u64::MAX / 2)).as_u64();
        Ok(gas.saturating_add(gas * GAS_BUFFER_PERCENT / 100))
    }

    /// Signs `draft` with `fees` and sends it. A node that already has exactly this
    /// transaction counts as sent.
    pub async fn send_draft(
        &self,
        wallet: &GasWallet,
        draft: &Draft,
        fees: Fees,
    ) -> Result<TxHash, SubmitError> {
        let request = Eip1559TransactionRequest::new()
            .from(H160(draft.from.0))
            .to(H160(draft.to.0))
            .data(Bytes::from(draft.data.clone()))
            .nonce(draft.nonce)
            .gas(draft.gas)
            .max_fee_per_gas(fees.max_fee)
            .max_priority_fee_per_gas(fees.priority)
            .chain_id(wallet.chain_id());
        let tx = TypedTransaction::Eip1559(request);
        let signature = wallet.sign(&tx).map_err(|_| SubmitError::Signing)?;
        let raw = tx.rlp_signed(&signature);
        let hash = TxHash(ethers::utils::keccak256(&raw));
        match self
            .bounded_provider(self.provider().send_raw_transaction(raw))
            .await
        {
            Ok(_) | Err(TxErrorKind::AlreadyKnown) => Ok(hash),
            Err(kind) => Err(SubmitError::Rpc(kind)),
        }
    }

    /// `Some(true)` for a successful receipt, `Some(false)` for a reverted one, `None` if the
    /// transaction is not mined.
    pub async fn receipt_status(&self, hash: TxHash) -> Result<Option<bool>, SubmitError> {
        let receipt = self
            .bounded_provider(self.provider().get_transaction_receipt(H256(hash.0)))
            .await
            .map_err(SubmitError::Rpc)?;
        Ok(receipt.map(|receipt| receipt.status == Some(1.into())))
    }

    /// Whether the node still knows the transaction (pending or mined); false once dropped.
    pub async fn is_known(&self, hash: TxHash) -> Result<bool, SubmitError> {
        let tx = self
            .bounded_provider(self.provider().get_transaction(H256(hash.0)))
            .await
            .map_err(SubmitError::Rpc)?;
        Ok(tx.is_some())
    }

    /// The account's nonce in the latest block: nonces below it are used for good.
    pub async fn latest_nonce(&self, account: Address) -> Result<u64, SubmitError> {
        let count = self
            .bounded_provider(
                self.provider()
                    .get_transaction_count(H160(account.0), Some(BlockNumber::Latest.into())),
            )
            .await
            .map_err(SubmitError::Rpc)?;
        Ok(count.low_u64())
    }

    async fn bounded_provider<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ethers::providers::ProviderError>>,
    ) -> Result<T, TxErrorKind> {
        match tokio::time::timeout(self.timeout(), call).await {
            Err(_) => Err(TxErrorKind::Timeout),
            Ok(result) => result.map_err(|error| classify_rpc_error(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_output_calldata_has_the_selector_and_six_fields() {
        let call = SubmitOutputCall {
            signature: vec![1; 65],
            job_id: [0; 32],
            output: b"2,5".to_vec(),
            total_time_ms: 7,
            error_code: 0,
            sign_timestamp: 9,
        };
        let data = submit_output_calldata(&call);
        assert_eq!(data[..4], SUBMIT_OUTPUT_SELECTOR);
        assert_eq!(
            ethers::utils::id("submitOutput(bytes,uint256,bytes,uint256,uint8,uint256)"),
            SUBMIT_OUTPUT_SELECTOR
        );
        let kinds = [
            ethers::abi::ParamType::Bytes,
            ethers::abi::ParamType::Uint(256),
            ethers::abi::ParamType::Bytes,
            ethers::abi::ParamType::Uint(256),
            ethers::abi::ParamType::Uint(8),
            ethers::abi::ParamType::Uint(256),
        ];
        let tokens = ethers::abi::decode(&kinds, &data[4..]).unwrap();
        assert_eq!(tokens[2], Token::Bytes(b"2,5".to_vec()));
        assert_eq!(tokens[5], Token::Uint(9.into()));
    }

    #[test]
    fn slash_calldata_has_the_selector_and_the_job_id() {
        assert_eq!(
            ethers::utils::id("slashOnExecutionTimeout(uint256)"),
            SLASH_SELECTOR
        );
        let data = slash_calldata([7; 32]);
        assert_eq!(data.len(), 36);
        assert_eq!(data[4..], [7; 32]);
    }
}
