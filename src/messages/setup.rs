//! Messages understood by `NodeSetup`, which owns the owner, the gas address, the admin nonce
//! and the registration state. Sent by the HTTP admin routes.

use std::fmt;

use actix::Message;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::chain::ecdsa::Signature65;
use crate::domain::{Address, ExecutionEnv};

/// An owner's signature on one admin call, taken from the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSignature {
    /// `r || s || v`, v = 27/28.
    pub signature: Vec<u8>,
    /// Must be above every nonce accepted before.
    pub nonce: u64,
    /// Unix seconds.
    pub expiry: u64,
}

/// Everything needed to check that the owner authorised this exact call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCall {
    /// The route path, bound into the signed message.
    pub route: &'static str,
    /// keccak-256 of the raw body, bound into the signed message.
    pub body_hash: [u8; 32],
    /// `None` when the caller sent no signature headers.
    pub signature: Option<OwnerSignature>,
}

/// Set the owner, once. Carries the raw hex because Marlin checks "already configured" before
/// parsing, and operators' tooling keys on that order.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SetupError>")]
pub struct ConfigureOwner {
    /// As sent in `owner_address_hex`.
    pub owner_hex: String,
    /// Ignored: the first call is trust-on-first-use, later calls are refused anyway.
    pub call: AdminCall,
}

/// Install or rotate the gas key (owner-signed once an owner is set).
#[derive(Message)]
#[rtype(result = "Result<Address, SetupError>")]
pub struct ConfigureGasKey {
    /// As sent in `gas_key_hex`; zeroized on drop.
    pub gas_key_hex: Zeroizing<String>,
    /// The authorisation to check.
    pub call: AdminCall,
}

impl fmt::Debug for ConfigureGasKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigureGasKey")
            .field("gas_key_hex", &"<redacted>")
            .field("call", &self.call)
            .finish()
    }
}

/// Read the identity and configuration (`/executor-details`). No side effects.
#[derive(Debug, Message)]
#[rtype(result = "ExecutorDetails")]
pub struct GetExecutorDetails;

/// Sign a fresh registration message (`/signed-registration-message`). No side effects.
#[derive(Debug, Message)]
#[rtype(result = "Result<SignedRegistration, SetupError>")]
pub struct GetSignedRegistration;

/// Read the node's lifecycle state (`/health`).
#[derive(Debug, Message)]
#[rtype(result = "NodeStatus")]
pub struct GetNodeStatus;

/// Marlin's `/executor-details` body, field for field.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutorDetails {
    /// Derived from the enclave key.
    pub enclave_address: Address,
    /// `0x` + 128 hex chars: the uncompressed point without its `04` prefix.
    pub enclave_public_key: String,
    /// Zero until configured.
    pub owner_address: Address,
    /// Zero until configured.
    pub gas_address: Address,
}

/// Marlin's `/signed-registration-message` body, field for field.
#[derive(Debug, Clone, Serialize)]
pub struct SignedRegistration {
    /// Jobs run at once.
    pub job_capacity: u64,
    /// Unix seconds at signing.
    pub sign_timestamp: u64,
    /// Always 1 (JavaScript on workerd).
    pub env: ExecutionEnv,
    /// The configured owner.
    pub owner: Address,
    /// EIP-712 `Register` signature by the enclave key.
    pub signature: Signature65,
}

/// What `/health` reports.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// Always "ok" while the node answers.
    pub status: &'static str,
    /// The enclave address, to match logs and chain state.
    pub enclave_address: Address,
    /// An owner has been set.
    pub owner_configured: bool,
    /// A gas key has been installed.
    pub gas_configured: bool,
    /// `Executors` says this enclave is registered.
    pub registered: bool,
}

/// Why an admin call was refused. Display strings for Marlin's cases are Marlin's, verbatim.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Second `/immutable-config`.
    #[error("Immutable params already configured!")]
    OwnerAlreadySet,
    /// The owner is not hex.
    #[error("Invalid owner address hex string: {}", hex_problem(.0))]
    OwnerHex(hex::FromHexError),
    /// The owner is not 20 bytes.
    #[error("Owner address must be 20 bytes long!")]
    OwnerLength,
    /// The zero address would brick the node until restart.
    #[error("Owner address must not be the zero address!")]
    OwnerZero,
    /// The gas key is not hex.
    #[error("Invalid gas private key hex string: {}", hex_problem(.0))]
    GasKeyHex(hex::FromHexError),
    /// The gas key is not 32 bytes.
    #[error("Gas private key must be 32 bytes long!")]
    GasKeyLength,
    /// Zero or not below the curve order.
    #[error("Invalid gas private key provided: not a valid secp256k1 scalar")]
    GasKeyScalar,
    /// The gas key must not be the enclave key: it would be used by two nonce owners.
    #[error("Invalid gas private key provided: must differ from the enclave key")]
    GasKeyIsEnclaveKey,
    /// The chain did not answer the nonce query.
    #[error("Failed to fetch current nonce for the gas address: chain RPC unavailable")]
    GasNonceUnavailable,
    /// `/signed-registration-message` before `/immutable-config`.
    #[error("Immutable params not configured yet!")]
    OwnerNotSet,
    /// `/signed-registration-message` before `/mutable-config`.
    #[error("Mutable params not configured yet!")]
    GasKeyNotSet,
    /// The registration message could not be signed.
    #[error("Failed to sign the registration message using enclave key")]
    Signing,
    /// The owner's signature was missing or refused.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// An actor did not answer.
    #[error("node is shutting down")]
    Unavailable,
}

/// Why an owner signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature headers on a call that needs them.
    #[error("Owner signature required: send X-Owner-Signature, X-Owner-Nonce and X-Owner-Expiry")]
    Missing,
    /// The signature is not a valid 65-byte low-s signature.
    #[error("Owner signature malformed")]
    Malformed,
    /// It recovers to someone other than the owner (or was made for another enclave/body/route).
    #[error("Owner signature invalid for this node, route and body")]
    WrongSigner,
    /// The expiry has passed.
    #[error("Owner signature expired")]
    Expired,
    /// The expiry is further away than the configured maximum.
    #[error("Owner signature expiry too far in the future")]
    ExpiryTooFar,
    /// The nonce is not above the last accepted one.
    #[error("Owner signature nonce already used")]
    Replayed,
}

/// What is wrong with a hex string, without quoting any of it: error bodies never echo request
/// values (the hex crate's own message names the offending character).
fn hex_problem(error: &hex::FromHexError) -> &'static str {
    match error {
        hex::FromHexError::InvalidHexCharacter { .. } => "not a hex digit",
        hex::FromHexError::OddLength => "odd number of digits",
        hex::FromHexError::InvalidStringLength => "wrong length",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_errors_never_quote_the_request() {
        let error =
            SetupError::OwnerHex(hex::FromHexError::InvalidHexCharacter { c: 'Z', index: 0 });
        assert_eq!(
            error.to_string(),
            "Invalid owner address hex string: not a hex digit"
        );
        let error = SetupError::GasKeyHex(hex::FromHexError::OddLength);
        assert_eq!(
            error.to_string(),
            "Invalid gas private key hex string: odd number of digits"
        );
    }
}
