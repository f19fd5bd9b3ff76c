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
}
