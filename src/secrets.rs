//! Secret key material: the enclave key file and the gas key as it arrives over the admin API.
//!
//! Owns nothing long-lived; the types here are moved into `Signer` (enclave key) and `TxSender`
//! (gas key), which are the only holders. Invariants: key bytes are zeroized on drop, have no
//! `Display`/`Serialize`, and their `Debug` prints a redaction marker only.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use k256::ecdsa::SigningKey;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// A secp256k1 private key that is a valid scalar (non-zero and below the curve order).
pub struct SecretKey(SigningKey);

/// Why key material was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}")]
    Read {
        /// The file that was tried.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The key file could not be written.
    #[error("cannot write key file {path}")]
    Write {
        /// The file that was tried.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The key is not exactly 32 bytes.
    #[error("key must be 32 bytes, got {0}")]
    Length(usize),
    /// Zero or not below the secp256k1 order.
    #[error("key is not a valid secp256k1 scalar")]
    Scalar,
}

impl SecretKey {
    /// Accepts exactly 32 bytes that form a valid scalar.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::Length(bytes.len()));
        }
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| KeyError::Scalar)
    }

    /// Reads a raw 32-byte key file, as Marlin's `keygen-secp256k1` writes it.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read_error = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        // Read one byte more than a key so that an oversized file is reported as such.
        let mut buffer = Zeroizing::new([0u8; 33]);
        let mut filled = 0;
        loop {
            let read = file.read(&mut buffer[filled..]).map_err(read_error)?;
            if read == 0 || filled + read == buffer.len() {
                filled += read;
                break;
            }
            filled += read;
        }
        if filled == buffer.len() {
            let total = std::fs::metadata(path).map_err(read_error)?.len();
            return Err(KeyError::Length(
                usize::try_from(total).unwrap_or(usize::MAX),
            ));
        }
        Self::from_slice(&buffer[..filled])
    }

    /// Creates a fresh random key and writes it to `path` with mode 0600. Never overwrites.
    pub fn generate_file(path: &Path) -> Result<Self, KeyError> {
        let key = SigningKey::random(&mut OsRng);
        let write_error = |source| KeyError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(write_error)?;
        let bytes = Zeroizing::new(key.to_bytes());
        file.write_all(&bytes).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        Ok(Self(key))
    }

    /// The signing key, for the chain module's signing helpers.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_file_round_trips_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave.sec");
        let key = SecretKey::generate_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = SecretKey::load(&path).unwrap();
        assert_eq!(loaded.0.to_bytes(), key.0.to_bytes());
        assert!(
            SecretKey::generate_file(&path).is_err(),
            "must not overwrite"
        );
    }

    #[test]
    fn key_file_of_wrong_size_or_invalid_scalar_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 31]).unwrap();
        assert!(matches!(SecretKey::load(&short), Err(KeyError::Length(31))));
        let long = dir.path().join("long");
        std::fs::write(&long, [1u8; 64]).unwrap();
        assert!(matches!(SecretKey::load(&long), Err(KeyError::Length(64))));
        let zero = dir.path().join("zero");
        std::fs::write(&zero, [0u8; 32]).unwrap();
        assert!(matches!(SecretKey::load(&zero), Err(KeyError::Scalar)));
        let order = dir.path().join("order");
        std::fs::write(&order, [0xffu8; 32]).unwrap();
        assert!(matches!(SecretKey::load(&order), Err(KeyError::Scalar)));
        let missing = dir.path().join("missing");
        assert!(matches!(
            SecretKey::load(&missing),
            Err(KeyError::Read { .. })
        ));
    }

    #[test]
    fn debug_output_never_contains_key_bytes() {
        let key = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains("0707"));
        assert_eq!(printed, "SecretKey(<redacted>)");
    }
}
