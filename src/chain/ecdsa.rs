//! secp256k1 signatures in Ethereum's form: `r || s || v` with `v` = 27 + recovery id, low-s.
//!
//! Pure functions, no state. Signing borrows a key held by its owning actor (`Signer`); this
//! module never stores one. Recovery refuses what OpenZeppelin's `ECDSA.recover` refuses.

use std::fmt;

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use serde::{Serialize, Serializer};

use crate::domain::Address;

/// A 65-byte recoverable signature, printed as `0x` + 130 hex chars.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature65(pub [u8; 65]);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not exactly 65 bytes.
    #[error("signature must be 65 bytes, got {0}")]
    Length(usize),
    /// `v` is not 27 or 28.
    #[error("signature v must be 27 or 28, got {0}")]
    RecoveryByte(u8),
    /// `s` in the upper half of the curve order (malleable) or r/s out of range.
    #[error("signature is malformed or not in low-s form")]
    Malformed,
    /// No public key recovers from it.
    #[error("no signer recovers from signature")]
    Unrecoverable,
}

/// Signs a 32-byte digest; k256 normalises `s` to the low half, as the contracts require.
pub fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> Result<Signature65, SignatureError> {
    let (signature, recovery) = key
        .sign_prehash_recoverable(digest)
        .map_err(|_| SignatureError::Unrecoverable)?;
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&signature.to_bytes());
    bytes[64] = 27 + recovery.to_byte();
    Ok(Signature65(bytes))
}

/// Recovers the signer's address from a digest and a 65-byte signature.
pub fn recover_address(digest: &[u8; 32], signature: &[u8]) -> Result<Address, SignatureError> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| SignatureError::Length(signature.len()))?;
    let v = bytes[64];
    let recovery = match v {
        27 | 28 => RecoveryId::from_byte(v - 27).ok_or(SignatureError::RecoveryByte(v))?,
        other => return Err(SignatureError::RecoveryByte(other)),
    };
    let parsed = Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::Malformed)?;
    if parsed.normalize_s().is_some() {
        return Err(SignatureError::Malformed);
    }
    let key = VerifyingKey::recover_from_prehash(digest, &parsed, recovery)
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(address_of(&key))
}

/// The Ethereum address of a public key: the last 20 bytes of keccak(x || y).
pub fn address_of(key: &VerifyingKey) -> Address {
    let hash = ethers::utils::keccak256(public_key_bytes(key));
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    Address(address)
}

/// The uncompressed public key without its `0x04` prefix: 64 bytes, as the contracts take it.
pub fn public_key_bytes(key: &VerifyingKey) -> [u8; 64] {
    let point = key.to_encoded_point(false);
    let mut bytes = [0u8; 64];
    bytes.copy_from_slice(&point.as_bytes()[1..]);
    bytes
}

impl fmt::Display for Signature65 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature65 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Signature65 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[0x42; 32]).unwrap()
    }

    #[test]
    fn signature_recovers_to_signer_with_v_27_or_28() {
        let digest = [5u8; 32];
        let signature = sign_digest(&key(), &digest).unwrap();
        assert!(matches!(signature.0[64], 27 | 28));
        let recovered = recover_address(&digest, &signature.0).unwrap();
        assert_eq!(recovered, address_of(key().verifying_key()));
    }

    #[test]
    fn high_s_wrong_v_and_wrong_length_are_refused() {
        let digest = [5u8; 32];
        let signature = sign_digest(&key(), &digest).unwrap();
        // Malleate: s' = n - s, flip v. OpenZeppelin refuses this; so must we.
        let parsed = Signature::from_slice(&signature.0[..64]).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        let mut malleated = [0u8; 65];
        malleated[..64].copy_from_slice(&high.to_bytes());
        malleated[64] = if signature.0[64] == 27 { 28 } else { 27 };
        assert_eq!(
            recover_address(&digest, &malleated),
            Err(SignatureError::Malformed)
        );
        let mut raw_v = signature.0;
        raw_v[64] -= 27;
        assert!(matches!(
            recover_address(&digest, &raw_v),
            Err(SignatureError::RecoveryByte(_))
        ));
        assert_eq!(
            recover_address(&digest, &signature.0[..64]),
            Err(SignatureError::Length(64))
        );
    }

    #[test]
    fn known_key_has_known_address() {
        // Anvil's first development account.
        let key = SigningKey::from_slice(
            &hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            address_of(key.verifying_key()).to_string(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
    }
}
