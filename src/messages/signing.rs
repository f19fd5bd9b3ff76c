//! Messages understood by `Signer`, the only holder of the enclave key.

use actix::Message;

use crate::chain::ecdsa::Signature65;
use crate::chain::eip712::RegisterMessage;

/// Sign Marlin's `Register` message. Sent by `NodeSetup` for `/signed-registration-message`.
#[derive(Debug, Message)]
#[rtype(result = "Result<Signature65, SignerError>")]
pub struct SignRegistration {
    /// The message to sign; the digest is computed by the signer.
    pub message: RegisterMessage,
}

/// Why the signer could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// k256 refused to sign (practically unreachable with a valid key).
    #[error("enclave key failed to sign")]
    Signing,
}
