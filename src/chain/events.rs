//! Decoding of the `Executors` logs the node reacts to, and the filter that selects them.
//!
//! Pure functions. Malformed log data is an error value, never a panic: logs come from the
//! network and anyone can emit a log with our topics from another contract.

use ethers::abi::{decode, ParamType, Token};
use ethers::types::{Filter, Log, H160, H256, U256};

use crate::domain::{Address, ExecutionEnv};

/// keccak("ExecutorRegistered(address,address,uint256,uint8)").
pub const EXECUTOR_REGISTERED_TOPIC: [u8; 32] =
    hex_literal("ec0a27e4d50a399506fe5b90d1dfbf556cc157b511ace50f261f7770aeedb4b6");
/// keccak("ExecutorDeregistered(address)").
pub const EXECUTOR_DEREGISTERED_TOPIC: [u8; 32] =
    hex_literal("bae032118ceb22b626b3d85db081a22cb175340e28f4e1c422b88586ea62c3d6");

/// An `Executors` log about our enclave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorLog {
    /// `ExecutorRegistered(enclave, owner, jobCapacity, env)`.
    Registered {
        /// topic2.
        owner: Address,
        /// Saturated to u64 (capacities beyond that are meaningless).
        job_capacity: u64,
        /// The env byte.
        env: ExecutionEnv,
    },
    /// `ExecutorDeregistered(enclave)`.
    Deregistered,
}

/// Where a log sits in the chain; the key for ordering and de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// Block number.
    pub block_number: u64,
    /// Index of the log in its block.
    pub log_index: u64,
}

/// Why a log was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A pending log without block number or index.
    #[error("log has no block number or log index")]
    Unmined,
    /// Topics are not what the event declares.
    #[error("log has unexpected topics")]
    Topics,
    /// The data does not ABI-decode as the event's fields.
    #[error("log data does not decode")]
    Data,
}

/// Logs of `executors` whose topic1 is our enclave: registration and deregistration.
pub fn executor_filter(executors: Address, enclave: Address) -> Filter {
    Filter::new()
        .address(H160(executors.0))
        .topic0(vec![
            H256(EXECUTOR_REGISTERED_TOPIC),
            H256(EXECUTOR_DEREGISTERED_TOPIC),
        ])
        .topic1(H256(address_topic(enclave)))
}

/// The position of a mined log.
pub fn log_position(log: &Log) -> Result<LogPosition, DecodeError> {
    match (log.block_number, log.log_index) {
        (Some(block), Some(index)) => Ok(LogPosition {
            block_number: block.as_u64(),
            log_index: index.low_u64(),
        }),
        _ => Err(DecodeError::Unmined),
    }
}

/// Decodes an `Executors` log; `enclave` must be topic1.
pub fn decode_executor_log(log: &Log, enclave: Address) -> Result<ExecutorLog, DecodeError> {
    let topics = &log.topics;
    let enclave_topic = H256(address_topic(enclave));
    match topics.first().map(|topic| topic.0) {
        Some(EXECUTOR_REGISTERED_TOPIC) if topics.len() == 3 && topics[1] == enclave_topic => {
            let owner = topic_address(&topics[2]).ok_or(DecodeError::Topics)?;
            let tokens = decode(&[ParamType::Uint(256), ParamType::Uint(8)], &log.data)
                .map_err(|_| DecodeError::Data)?;
            match tokens.as_slice() {
                [Token::Uint(capacity), Token::Uint(env)] if *env <= U256::from(u8::MAX) => {
                    Ok(ExecutorLog::Registered {
                        owner,
                        job_capacity: saturating_u64(*capacity),
                        env: ExecutionEnv(env.low_u32() as u8),
                    })
                }
                _ => Err(DecodeError::Data),
            }
        }
        Some(EXECUTOR_DEREGISTERED_TOPIC) if topics.len() == 2 && topics[1] == enclave_topic => {
            Ok(ExecutorLog::Deregistered)
        }
        _ => Err(DecodeError::Topics),
    }
}

/// An address left-padded into a 32-byte topic.
pub fn address_topic(address: Address) -> [u8; 32] {
    let mut topic = [0u8; 32];
    topic[12..].copy_from_slice(&address.0);
    topic
}

fn topic_address(topic: &H256) -> Option<Address> {
    if topic.0[..12] != [0u8; 12] {
        return None;
    }
    let mut address = [0u8; 20];
    address.copy_from_slice(&topic.0[12..]);
    Some(Address(address))
}

fn saturating_u64(value: U256) -> u64 {
    if value > U256::from(u64::MAX) {
        u64::MAX
    } else {
        value.as_u64()
    }
}

const fn hex_literal(text: &str) -> [u8; 32] {
    let bytes = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (hex_digit(bytes[2 * i]) << 4) | hex_digit(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("lowercase hex only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::types::{Bytes, U64};

    fn registered_log(enclave: Address, data: Vec<u8>) -> Log {
        Log {
            topics: vec![
                H256(EXECUTOR_REGISTERED_TOPIC),
                H256(address_topic(enclave)),
                H256(address_topic(Address([7; 20]))),
            ],
            data: Bytes::from(data),
            block_number: Some(U64::from(5)),
            log_index: Some(U256::from(2)),
            ..Log::default()
        }
    }

    #[test]
    fn topics_are_the_event_signature_hashes() {
        let hash = |s: &str| ethers::utils::keccak256(s);
        assert_eq!(
            EXECUTOR_REGISTERED_TOPIC,
            hash("ExecutorRegistered(address,address,uint256,uint8)")
        );
        assert_eq!(
            EXECUTOR_DEREGISTERED_TOPIC,
            hash("ExecutorDeregistered(address)")
        );
    }

    #[test]
    fn registered_log_decodes() {
        let enclave = Address([1; 20]);
        let data = ethers::abi::encode(&[Token::Uint(20.into()), Token::Uint(1.into())]);
        let log = registered_log(enclave, data);
        assert_eq!(
            decode_executor_log(&log, enclave),
            Ok(ExecutorLog::Registered {
                owner: Address([7; 20]),
                job_capacity: 20,
                env: ExecutionEnv(1)
            })
        );
        assert_eq!(
            log_position(&log),
            Ok(LogPosition {
                block_number: 5,
                log_index: 2
            })
        );
    }

    #[test]
    fn malformed_logs_are_errors_not_panics() {
        let enclave = Address([1; 20]);
        assert_eq!(
            decode_executor_log(&registered_log(enclave, vec![1, 2, 3]), enclave),
            Err(DecodeError::Data)
        );
        let huge_env = ethers::abi::encode(&[Token::Uint(U256::MAX), Token::Uint(U256::from(256))]);
        assert_eq!(
            decode_executor_log(&registered_log(enclave, huge_env), enclave),
            Err(DecodeError::Data)
        );
        let other = registered_log(Address([9; 20]), vec![]);
        assert_eq!(
            decode_executor_log(&other, enclave),
            Err(DecodeError::Topics)
        );
        let empty = Log::default();
        assert_eq!(
            decode_executor_log(&empty, enclave),
            Err(DecodeError::Topics)
        );
        assert_eq!(log_position(&empty), Err(DecodeError::Unmined));
    }
}
