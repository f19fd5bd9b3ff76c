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

/// Why `TxSender` refused a request.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The chain could not tell the gas account's nonce.
    #[error("cannot fetch the gas account's nonce")]
    NonceUnavailable(#[source] crate::chain::rpc::RpcError),
}
