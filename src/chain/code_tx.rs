//! Fetches a code-upload transaction and decides whether it may serve as a job's code.
//!
//! Receives: a [`TxHash`] and the code contract's [`Address`]. Sends: `eth_getTransactionByHash`
//! and `eth_getTransactionReceipt`, concurrently, each bounded by the [`ChainRpc`] timeout.
//! Returns the transaction's input bytes only when the transaction exists, is mined, succeeded
//! (receipt status 1) and was sent to the code contract (compared as addresses, so the
//! configured spelling does not matter). Anything else the chain *says* is an [`InvalidCodeTx`]
//! verdict (job outcome 1); failing to *hear* from the chain is a [`CodeTxFetchError`], which is
//! transient and never a verdict (Marlin turned RPC errors into outcome 1, protocol.md §9.9).

use ethers::providers::Middleware;
use ethers::types::{Transaction, TransactionReceipt, H160, H256, U64};

use crate::chain::rpc::{ChainRpc, RpcError};
use crate::domain::{Address, TxHash};

/// What the chain says against using a transaction as code: job outcome 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum InvalidCodeTx {
    /// The node knows no transaction with this hash.
    #[error("code transaction not found")]
    Missing,
    /// The transaction is known but not mined yet (it may be later: never cache this).
    #[error("code transaction is not mined yet")]
    Pending,
    /// The transaction was mined but failed (receipt status other than 1, or none).
    #[error("code transaction reverted")]
    Reverted,
    /// The transaction deployed a contract instead of calling one.
    #[error("code transaction is a contract creation")]
    ContractCreation,
    /// The transaction called something other than the code contract.
    #[error("code transaction was not sent to the code contract")]
    WrongContract,
}

impl InvalidCodeTx {
    /// True for what the chain may say otherwise a moment later (not found, not mined yet):
    /// looked for again until the job's deadline, never judged at once.
    pub const fn may_change(&self) -> bool {
        matches!(self, Self::Missing | Self::Pending)
    }
}

/// Why no verdict could be reached; worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum CodeTxFetchError {
    /// Transport, timeout or JSON-RPC error reply.
    #[error("cannot fetch the code transaction")]
    Rpc(#[from] RpcError),
    /// The transaction and its receipt name different blocks (a reorg between the two reads).
    #[error("code transaction and receipt disagree on the block")]
    Inconsistent,
}

impl ChainRpc {
    /// The input of `tx` if it is a successful call to `code_contract`, else the verdict.
    pub async fn code_tx_input(
        &self,
        tx: TxHash,
        code_contract: Address,
    ) -> Result<Result<Vec<u8>, InvalidCodeTx>, CodeTxFetchError> {
        let hash = H256(tx.0);
        let (transaction, receipt) = futures::try_join!(
            self.bounded_call(self.provider().get_transaction(hash)),
            self.bounded_call(self.provider().get_transaction_receipt(hash)),
        )?;
        judge(transaction, receipt, code_contract)
    }

    async fn bounded_call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ethers::providers::ProviderError>>,
    ) -> Result<T, RpcError> {
        tokio::time::timeout(self.timeout(), call)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout()))?
            .map_err(RpcError::Provider)
    }
}

/// The verdict on a transaction and its receipt, as read from the node. Pure.
fn judge(
    transaction: Option<Transaction>,
    receipt: Option<TransactionReceipt>,
    code_contract: Address,
) -> Result<Result<Vec<u8>, InvalidCodeTx>, CodeTxFetchError> {
    let Some(transaction) = transaction else {
        return Ok(Err(InvalidCodeTx::Missing));
    };
    let verdict = match transaction.to {
        None => Err(InvalidCodeTx::ContractCreation),
        Some(to) if to != H160(code_contract.0) => Err(InvalidCodeTx::WrongContract),
        Some(_) => Ok(()),
    };
    if let Err(verdict) = verdict {
        return Ok(Err(verdict));
    }
    let (Some(block), Some(receipt)) = (transaction.block_hash, receipt) else {
        return Ok(Err(InvalidCodeTx::Pending));
    };
    if receipt.block_hash != Some(block) {
        return Err(CodeTxFetchError::Inconsistent);
    }
    if receipt.status != Some(U64::one()) {
        return Ok(Err(InvalidCodeTx::Reverted));
    }
    Ok(Ok(transaction.input.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: Address = Address([0xc0; 20]);

    fn mined_tx(to: Option<[u8; 20]>) -> Transaction {
        Transaction {
            to: to.map(H160),
            block_hash: Some(H256([1; 32])),
            block_number: Some(7.into()),
            input: vec![0xff, 0x7c, 0xda, 0xf3].into(),
            ..Transaction::default()
        }
    }

    fn receipt(status: Option<u64>, block: [u8; 32]) -> TransactionReceipt {
        TransactionReceipt {
            block_hash: Some(H256(block)),
            block_number: Some(7.into()),
            status: status.map(U64::from),
            ..TransactionReceipt::default()
        }
    }

    #[test]
    fn verdicts_follow_the_chain_state() {
        use InvalidCodeTx as V;
        let pending = Transaction {
            block_hash: None,
            block_number: None,
            ..mined_tx(Some(CODE.0))
        };
        let cases: Vec<(&str, Option<Transaction>, Option<TransactionReceipt>, V)> = vec![
            ("unknown hash", None, None, V::Missing),
            (
                "creation",
                Some(mined_tx(None)),
                Some(receipt(Some(1), [1; 32])),
                V::ContractCreation,
            ),
            (
                "other contract",
                Some(mined_tx(Some([0xaa; 20]))),
                Some(receipt(Some(1), [1; 32])),
                V::WrongContract,
            ),
            ("in the pool", Some(pending), None, V::Pending),
            (
                "receipt not indexed yet",
                Some(mined_tx(Some(CODE.0))),
                None,
                V::Pending,
            ),
            (
                "status 0",
                Some(mined_tx(Some(CODE.0))),
                Some(receipt(Some(0), [1; 32])),
                V::Reverted,
            ),
            (
                "no status (pre-Byzantium)",
                Some(mined_tx(Some(CODE.0))),
                Some(receipt(None, [1; 32])),
                V::Reverted,
            ),
        ];
        for (name, transaction, receipt, expected) in cases {
            let verdict = judge(transaction, receipt, CODE).unwrap();
            assert_eq!(verdict, Err(expected), "{name}");
        }
    }

    #[test]
    fn a_mined_successful_call_to_the_code_contract_yields_its_input() {
        let input = judge(
            Some(mined_tx(Some(CODE.0))),
            Some(receipt(Some(1), [1; 32])),
            CODE,
        )
        .unwrap()
        .unwrap();
        assert_eq!(input, vec![0xff, 0x7c, 0xda, 0xf3]);
    }

    #[test]
    fn a_receipt_from_another_block_is_not_a_verdict() {
        let result = judge(
            Some(mined_tx(Some(CODE.0))),
            Some(receipt(Some(0), [2; 32])),
            CODE,
        );
        assert!(matches!(result, Err(CodeTxFetchError::Inconsistent)));
    }
}
