//! Domain types shared by every module: addresses, the execution environment and job capacity.
//!
//! Owns no state. These types keep units and validation in the type system so that messages
//! between actors never carry raw strings or bare integers (STYLE.md §3.3).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A 20-byte account address. Displayed as lowercase `0x` hex, as Marlin's routes return it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The zero address, which Marlin reports for "not configured".
    pub const ZERO: Self = Self([0; 20]);

    /// True for the zero address, which can never own a node.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AddressError {
    /// Not hex at all.
    #[error("invalid hex: {0}")]
    Hex(#[from] hex::FromHexError),
    /// Hex, but not 20 bytes.
    #[error("expected 20 bytes, got {0}")]
    Length(usize),
}

impl Address {
    /// Parses hex with or without a `0x` prefix (any case), as Marlin's admin routes accept it.
    pub fn parse_hex(text: &str) -> Result<Self, AddressError> {
        let bytes = decode_hex(text)?;
        let array: [u8; 20] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::Length(bytes.len()))?;
        Ok(Self(array))
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_hex(text)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Decodes hex after removing one optional `0x`/`0X` prefix.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(digits)
}

/// The execution environment id this node serves. Marlin's executor (JavaScript on workerd) is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ExecutionEnv(pub u8);

impl ExecutionEnv {
    /// JavaScript jobs on workerd: the only environment this node executes.
    pub const JAVASCRIPT: Self = Self(1);
}

impl fmt::Display for ExecutionEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 32-byte transaction hash; `JobCreated.codehash` is the hash of the code-upload transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxHash(pub [u8; 32]);

impl TxHash {
    /// Parses `0x` + 64 hex digits (the prefix is optional).
    pub fn parse_hex(text: &str) -> Option<Self> {
        decode_hex(text).ok()?.try_into().ok().map(Self)
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How a job ended, as reported on chain. Every variant is a valid answer, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobOutcome {
    /// The worker answered; the output is its response body.
    Success,
    /// The code transaction is missing, not mined, reverted or not sent to the code contract.
    InvalidCodeTx,
    /// The calldata is not a valid `saveCodeInCallData` call.
    InvalidCalldata,
    /// The module failed to load (syntax or compile error, or a throw at module top level).
    SyntaxError,
    /// The deadline passed before the worker answered.
    Timeout,
    /// The response body exceeded the output cap.
    OutputTooLarge,
    /// The job's cgroup recorded an OOM kill.
    MemoryExceeded,
    /// The handler threw (or its promise rejected) and nothing caught it.
    UncaughtException,
}

impl JobOutcome {
    /// The `errorCode` the Jobs contract expects.
    pub const fn error_code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::InvalidCodeTx => 1,
            Self::InvalidCalldata => 2,
            Self::SyntaxError => 3,
            Self::Timeout => 4,
            Self::OutputTooLarge => 5,
            Self::MemoryExceeded => 6,
            Self::UncaughtException => 7,
        }
    }
}

/// The enclave's public identity, derived from the enclave key. Public: safe to copy anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveIdentity {
    /// The address the contracts know this node by.
    pub address: Address,
    /// Uncompressed public key without its `04` prefix, as `registerExecutor` takes it.
    pub public_key: [u8; 64],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_parses_with_and_without_prefix_and_prints_lowercase() {
        let upper = "0xABCDEF0123456789ABCDEF0123456789ABCDEF01";
        let address = Address::parse_hex(upper).unwrap();
        assert_eq!(address.to_string(), upper.to_lowercase());
        assert_eq!(Address::parse_hex(&upper[2..]).unwrap(), address);
    }

    #[test]
    fn address_rejects_wrong_length_and_bad_hex() {
        assert_eq!(Address::parse_hex("0x1234"), Err(AddressError::Length(2)));
        assert!(matches!(
            Address::parse_hex("0xzz"),
            Err(AddressError::Hex(_))
        ));
    }

    #[test]
    fn address_serializes_as_a_json_string() {
        let json = serde_json::to_string(&Address::ZERO).unwrap();
        assert_eq!(json, format!("\"0x{}\"", "0".repeat(40)));
    }
}
