//! Messages understood by `TxSender`, the only holder of the gas key and its nonce.

use actix::Message;

use crate::domain::Address;
use crate::secrets::SecretKey;

/// Install or rotate the gas key. Sent by `NodeSetup` after the owner authorised the call.
/// Replies with the key's address once its pending nonce is known.
#[derive(Debug, Message)]
#[rtype(result = "Result<Address, TxError>")]
pub struct SetGasKey {
    /// Moved into `TxSender`; zeroized when replaced.
    pub key: SecretKey,
}

/// Send `Jobs.submitOutput` with the next nonce. Sent by `JobScheduler` for a chain job.
/// Replies once the transaction is in the pool; `TxSender` then sees it included (bumping its
/// fees, re-broadcasting it if dropped) and reports through [`Submitted::included`].
#[derive(Debug, Message)]
#[rtype(result = "Result<Submitted, TxError>")]
pub struct SubmitOutput {
    /// The call's arguments, already signed by the enclave.
    pub call: crate::chain::submit::SubmitOutputCall,
    /// The job's block: checked before every send and re-send, so that an output never
    /// answers a job created again with the same id after a reorg.
    pub anchor: crate::chain::submit::JobAnchor,
}

/// Report a job whose deadline and buffer passed without every output: send
/// `slashOnExecutionTimeout` if a simulation says it would succeed. Sent by `JobScheduler`.
/// `None`: not sent, the call would revert (someone else reported it, or the job completed).
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<Submitted>, TxError>")]
pub struct ReportTimeout {
    /// Big-endian uint256 job id.
    pub job_id: [u8; 32],
}

/// Blocks were replaced (a reorg): take the gas account's nonce from the chain again, and fill
/// any nonce the new chain lost below our pending transactions. Sent by `JobScheduler` when
/// `ChainListener` reports a reorg; transactions the new chain no longer holds are not sent
/// again here: the scheduler re-sends, re-signed, what is still wanted.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ResyncNonce;

/// How many transactions are not settled yet: being prepared, or sent and followed until
/// included (outputs, timeout reports, cancellations, fillers). A graceful drain waits for 0,
/// within its own deadline; the scheduler's outputs not yet handed over are not counted.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct PendingCount;

/// A transaction in the pool, followed by `TxSender` until it is settled.
#[derive(Debug)]
pub struct Submitted {
    /// Its first hash (a fee bump changes it).
    pub tx_hash: crate::domain::TxHash,
    /// Answers once: the hash that was included successfully, or why it was not (reverted on
    /// inclusion, cancelled because it would revert, its nonce used by another transaction).
    pub included: tokio::sync::oneshot::Receiver<Result<crate::domain::TxHash, TxError>>,
}

/// Why `TxSender` refused a request.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The chain could not tell the gas account's nonce.
    #[error("cannot fetch the gas account's nonce")]
    NonceUnavailable(#[source] crate::chain::rpc::RpcError),
    /// No gas key has been configured yet.
    #[error("no gas key configured")]
    NoGasKey,
    /// The transaction was not sent or not confirmed.
    #[error(transparent)]
    Submit(#[from] crate::chain::submit::SubmitError),
    /// A timeout report is not due by the chain's clock yet; ask again later.
    #[error("timeout not due on chain yet")]
    NotDue,
    /// Another transaction from the gas account took the nonce (someone else uses the key).
    #[error("nonce used by another transaction of the gas account")]
    NonceTaken,
    /// `TxSender` stopped following the transaction (node shutting down).
    #[error("transaction no longer followed")]
    Abandoned,
}

impl TxError {
    /// A fault of the node's infrastructure (the RPC down, slow or answering errors, the gas
    /// account unfunded for now): the transaction itself is fine, so it is kept and tried again
    /// within its window, never given up for (reliability.md §3.5).
    pub fn is_infrastructure(&self) -> bool {
        use crate::chain::submit::SubmitError;
        use crate::chain::tx_errors::{is_retryable, TxErrorKind};
        match self {
            Self::NonceUnavailable(_) | Self::Submit(SubmitError::Query(_)) => true,
            Self::Submit(SubmitError::Rpc(kind)) => {
                is_retryable(kind) || *kind == TxErrorKind::InsufficientFunds
            }
            _ => false,
        }
    }
}
