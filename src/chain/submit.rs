//! Building, simulating, signing and sending a transaction to the Jobs contract, and waiting for
//! its receipt: the JSON-RPC side of `TxSender`.
//!
//! Pure helpers over [`ChainRpc`] and a borrowed [`GasWallet`]; the nonce is chosen by the
//! caller (`TxSender`, its only owner). A call that would revert is never sent: it is simulated
//! with `eth_call` first, and failures are classified from typed JSON-RPC data.

use std::time::Duration;

use ethers::abi::{encode, Token};
use ethers::providers::Middleware;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{Bytes, Eip1559TransactionRequest, H160, H256, U256};

use crate::chain::rpc::ChainRpc;
use crate::chain::tx_errors::{classify_rpc_error, TxErrorKind};
use crate::chain::wallet::GasWallet;
use crate::domain::{Address, TxHash};

/// `submitOutput(bytes,uint256,bytes,uint256,uint8,uint256)`.
const SUBMIT_OUTPUT_SELECTOR: [u8; 4] = [0x4a, 0xf5, 0x0f, 0xc8];
/// Gas estimate headroom, in percent, so a state change between estimate and inclusion does
/// not run the transaction out of gas.
const GAS_BUFFER_PERCENT: u64 = 25;
const RECEIPT_POLL: Duration = Duration::from_millis(100);

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
    /// No receipt within the wait.
    #[error("no receipt within {0:?}")]
    NoReceipt(Duration),
    /// The wallet could not sign.
    #[error("cannot sign the transaction")]
    Signing,
}

/// Whether revert data is `Jobs`' `JobsDeadlineNotOver()`: a timeout report that is not due
/// yet by the chain's clock (which can lag ours), as opposed to one that is not needed.
pub fn is_deadline_not_over(data: Option<&[u8]>) -> bool {
    let selector = ethers::utils::id("JobsDeadlineNotOver()");
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

impl ChainRpc {
    /// Simulates, prices (EIP-1559), signs and sends `data` to `to` at `nonce`.
    pub async fn send_call(
        &self,
        wallet: &GasWallet,
        to: Address,
        data: Vec<u8>,
        nonce: u64,
    ) -> Result<TxHash, SubmitError> {
        let provider = self.provider();
        let mut request = Eip1559TransactionRequest::new()
            .from(H160(wallet.address().0))
            .to(H160(to.0))
            .data(Bytes::from(data))
            .nonce(nonce)
            .chain_id(wallet.chain_id());
        let mut tx = TypedTransaction::Eip1559(request.clone());
        let rpc = |error| SubmitError::Rpc(classify_rpc_error(&error));
        if let Err(error) = provider.call(&tx, None).await {
            return Err(match classify_rpc_error(&error) {
                TxErrorKind::Reverted { data } => SubmitError::Reverted(data),
                kind => SubmitError::Rpc(kind),
            });
        }
        let gas = provider.estimate_gas(&tx, None).await.map_err(rpc)?;
        let (max_fee, priority) = provider.estimate_eip1559_fees(None).await.map_err(rpc)?;
        request = request
            .gas(gas * (100 + GAS_BUFFER_PERCENT) / 100)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(priority);
        tx = TypedTransaction::Eip1559(request);
        let signature = wallet.sign(&tx).map_err(|_| SubmitError::Signing)?;
        let raw = tx.rlp_signed(&signature);
        let pending = provider.send_raw_transaction(raw).await.map_err(rpc)?;
        Ok(TxHash(pending.tx_hash().0))
    }

    /// Polls for the receipt until `wait` passes; `Ok` only for a successful (status 1) receipt.
    pub async fn wait_success(&self, hash: TxHash, wait: Duration) -> Result<(), SubmitError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.provider().get_transaction_receipt(H256(hash.0)).await {
                Ok(Some(receipt)) if receipt.status == Some(1.into()) => return Ok(()),
                Ok(Some(_)) => return Err(SubmitError::Reverted(None)),
                Ok(None) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RECEIPT_POLL).await;
                }
                _ => return Err(SubmitError::NoReceipt(wait)),
            }
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
