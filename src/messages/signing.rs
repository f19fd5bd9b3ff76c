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

/// Sign Marlin's `SubmitOutput` message for `Jobs.submitOutput`. Sent by the chain job loop.
#[derive(Debug, Message)]
#[rtype(result = "Result<Signature65, SignerError>")]
pub struct SignOutput {
    /// Big-endian uint256 job id.
    pub job_id: [u8; 32],
    /// The output (empty unless the outcome is success).
    pub output: Vec<u8>,
    /// Milliseconds, capped at the deadline; equal to it on a timeout.
    pub total_time_ms: u64,
    /// The outcome code.
    pub error_code: u8,
    /// Unix seconds; the contract refuses signatures older than `SIGN_MAX_AGE`.
    pub sign_timestamp: u64,
}

/// Sign a receipt for a direct run (`POST /api/serverless`), under the direct-run domain.
#[derive(Debug, Message)]
#[rtype(result = "Result<Signature65, SignerError>")]
pub struct SignReceipt {
    /// The chain id of the receipt's domain.
    pub chain_id: u64,
    /// The code-upload transaction.
    pub code_tx: [u8; 32],
    /// The input that was run.
    pub input: Vec<u8>,
    /// The output returned.
    pub output: Vec<u8>,
    /// Milliseconds.
    pub total_time_ms: u64,
    /// The outcome code.
    pub error_code: u8,
    /// Unix seconds.
    pub sign_timestamp: u64,
}

/// Why the signer could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// k256 refused to sign (practically unreachable with a valid key).
    #[error("enclave key failed to sign")]
    Signing,
}
