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
/// Replies once the transaction is in the pool; [`AwaitReceipt`] waits for its inclusion.
#[derive(Debug, Message)]
#[rtype(result = "Result<crate::domain::TxHash, TxError>")]
pub struct SubmitOutput {
    /// The call's arguments, already signed by the enclave.
    pub call: crate::chain::submit::SubmitOutputCall,
}

/// Report a job whose deadline and buffer passed without every output: send
/// `slashOnExecutionTimeout` if a simulation says it would succeed. Sent by `JobScheduler`.
/// `None`: not sent, the call would revert (someone else reported it, or it is not due yet).
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<crate::domain::TxHash>, TxError>")]
pub struct ReportTimeout {
    /// Big-endian uint256 job id.
    pub job_id: [u8; 32],
}

/// Wait for a sent transaction's successful receipt. Answered without blocking other sends.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), TxError>")]
pub struct AwaitReceipt {
    /// The transaction.
    pub tx_hash: crate::domain::TxHash,
    /// How long to wait.
    pub wait: std::time::Duration,
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
}
