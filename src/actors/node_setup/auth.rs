//! The owner-signature policy for mutating admin calls: a pure function and its table tests.
//!
//! Once an owner is set, a mutating call must carry the owner's EIP-712 `AdminRequest`
//! signature over this route, this body and this enclave, with an expiry that has not passed
//! (and is not too far away) and a nonce above every nonce accepted before.

use std::time::Duration;

use crate::chain::ecdsa::recover_address;
use crate::chain::eip712::{admin_request_digest, AdminRequestMessage};
use crate::domain::Address;
use crate::messages::setup::{AdminCall, AuthError};

/// What the node checks owner signatures against.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// Part of the signature domain.
    pub chain_id: u64,
    /// Binds a signature to this node: one made for another enclave never verifies here.
    pub enclave: Address,
    /// Longest allowed distance between now and the expiry.
    pub max_ttl: Duration,
    /// Marlin's behaviour: no signatures at all.
    pub compat_unauthenticated: bool,
}

/// The state the policy reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthState {
    /// `None` before `/immutable-config`: calls are open, as in Marlin (trust on first use).
    pub(crate) owner: Option<Address>,
    /// The highest nonce accepted so far.
    pub(crate) last_nonce: Option<u64>,
}

/// Decides whether `call` may proceed. `Ok(Some(nonce))` means it may, and `nonce` must be
/// recorded as used; `Ok(None)` means no signature was needed.
pub(crate) fn authorize(
    policy: &AuthPolicy,
    state: AuthState,
    call: &AdminCall,
    now_unix: u64,
) -> Result<Option<u64>, AuthError> {
    let Some(owner) = state.owner else {
        return Ok(None);
    };
    if policy.compat_unauthenticated {
        return Ok(None);
    }
    let signed = call.signature.as_ref().ok_or(AuthError::Missing)?;
    if signed.expiry <= now_unix {
        return Err(AuthError::Expired);
    }
    if signed.expiry > now_unix.saturating_add(policy.max_ttl.as_secs()) {
        return Err(AuthError::ExpiryTooFar);
    }
    let digest = admin_request_digest(&AdminRequestMessage {
        chain_id: policy.chain_id,
        route: call.route,
        body_hash: call.body_hash,
        enclave: policy.enclave,
        nonce: signed.nonce,
        expiry: signed.expiry,
    });
    let signer = recover_address(&digest, &signed.signature).map_err(|_| AuthError::Malformed)?;
    if signer != owner {
        return Err(AuthError::WrongSigner);
    }
    if state.last_nonce.is_some_and(|last| signed.nonce <= last) {
        return Err(AuthError::Replayed);
    }
    Ok(Some(signed.nonce))
}

#[cfg(test)]
mod tests {
    use k256::ecdsa::SigningKey;

    use super::*;
    use crate::chain::ecdsa::{address_of, sign_digest};
    use crate::messages::setup::OwnerSignature;

    const NOW: u64 = 1_700_000_000;

    fn owner_key() -> SigningKey {
        SigningKey::from_slice(&[0x11; 32]).unwrap()
    }

    fn policy() -> AuthPolicy {
        AuthPolicy {
            chain_id: 31337,
            enclave: Address([0xee; 20]),
            max_ttl: Duration::from_secs(300),
            compat_unauthenticated: false,
        }
    }

    fn state() -> AuthState {
        AuthState {
            owner: Some(address_of(owner_key().verifying_key())),
            last_nonce: Some(4),
        }
    }

    fn signed_call(key: &SigningKey, enclave: Address, nonce: u64, expiry: u64) -> AdminCall {
        let body_hash = [0xab; 32];
        let digest = admin_request_digest(&AdminRequestMessage {
            chain_id: 31337,
            route: "/mutable-config",
            body_hash,
            enclave,
            nonce,
            expiry,
        });
        let signature = sign_digest(key, &digest).unwrap().0.to_vec();
        AdminCall {
            route: "/mutable-config",
            body_hash,
            signature: Some(OwnerSignature {
                signature,
                nonce,
                expiry,
            }),
        }
    }

    #[test]
    fn valid_owner_signature_is_accepted_and_returns_its_nonce() {
        let call = signed_call(&owner_key(), policy().enclave, 5, NOW + 60);
        assert_eq!(authorize(&policy(), state(), &call, NOW), Ok(Some(5)));
    }

    #[test]
    fn refusals_cover_every_way_a_signature_can_be_wrong() {
        let enclave = policy().enclave;
        let stranger = SigningKey::from_slice(&[0x22; 32]).unwrap();
        let mut other_body = signed_call(&owner_key(), enclave, 5, NOW + 60);
        other_body.body_hash = [0; 32];
        let mut garbage = signed_call(&owner_key(), enclave, 5, NOW + 60);
        garbage.signature.as_mut().unwrap().signature = vec![1; 65];
        let cases = [
            (
                AdminCall {
                    route: "/mutable-config",
                    body_hash: [0; 32],
                    signature: None,
                },
                AuthError::Missing,
            ),
            (
                signed_call(&owner_key(), enclave, 5, NOW),
                AuthError::Expired,
            ),
            (
                signed_call(&owner_key(), enclave, 5, NOW + 301),
                AuthError::ExpiryTooFar,
            ),
            (
                signed_call(&stranger, enclave, 5, NOW + 60),
                AuthError::WrongSigner,
            ),
            (
                signed_call(&owner_key(), Address([0xdd; 20]), 5, NOW + 60),
                AuthError::WrongSigner,
            ),
            (other_body, AuthError::WrongSigner),
            (garbage, AuthError::Malformed),
            (
                signed_call(&owner_key(), enclave, 4, NOW + 60),
                AuthError::Replayed,
            ),
            (
                signed_call(&owner_key(), enclave, 3, NOW + 60),
                AuthError::Replayed,
            ),
        ];
        for (call, expected) in cases {
            assert_eq!(
                authorize(&policy(), state(), &call, NOW),
                Err(expected.clone()),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn no_owner_or_compat_mode_needs_no_signature() {
        let unsigned = AdminCall {
            route: "/mutable-config",
            body_hash: [0; 32],
            signature: None,
        };
        let open = AuthState {
            owner: None,
            last_nonce: None,
        };
        assert_eq!(authorize(&policy(), open, &unsigned, NOW), Ok(None));
        let compat = AuthPolicy {
            compat_unauthenticated: true,
            ..policy()
        };
        assert_eq!(authorize(&compat, state(), &unsigned, NOW), Ok(None));
    }
}
