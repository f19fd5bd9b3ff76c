//! Decoding of the `Jobs` contract's `JobCreated` and `JobResponded` logs, and their filters.
//!
//! Receives raw `ethers` logs from the listener, returns [`JobsLog`] in domain types, sends
//! nothing. Anyone can emit logs with our topics, so malformed ones are an error value, never a
//! panic; only the canonical ABI encoding is accepted, as Solidity emits it.

use std::fmt;

use ethers::abi::{decode, encode, ParamType as P, Token};
use ethers::types::{Filter, Log, H160, H256, U256};

use crate::domain::{Address, ExecutionEnv, TxHash};

/// keccak("JobCreated(uint256,uint8,address,bytes32,bytes,uint256,address[])").
pub const JOB_CREATED_TOPIC: [u8; 32] =
    topic_from_hex("52a40f74e443e82ca6251ea4549e7a2c0f2f9e872d9405226603ad5613aa1319");
/// keccak("JobResponded(uint256,address,bytes,uint256,uint8,uint8)").
pub const JOB_RESPONDED_TOPIC: [u8; 32] =
    topic_from_hex("44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233");

/// Most executors a `JobCreated` may select: bounds what a hostile log makes every node scan.
pub const MAX_SELECTED_EXECUTORS: usize = 64;

/// A job id: the contract's `uint256`, big-endian. Shown in decimal, as the contract counts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub [u8; 32]);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", U256::from_big_endian(&self.0))
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

/// The job's execution time limit in milliseconds, as `JobCreated.deadline` carries it.
///
/// A `uint256` on chain: 2^64 ms and up is no real duration, but must still decode (Marlin's
/// `as_u64` panics there) so that the node can skip or time out the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobDeadline {
    /// A limit that fits in `u64` milliseconds.
    Millis(u64),
    /// A limit of 2^64 ms or more.
    Unrepresentable,
}

/// `JobCreated(jobId, env, jobOwner, codehash, codeInputs, deadline, selectedExecutors)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCreated {
    /// topic1.
    pub job_id: JobId,
    /// topic2; the handler must re-check it, the filter is only a hint to the RPC.
    pub env: ExecutionEnv,
    /// topic3; receives the result callback.
    pub job_owner: Address,
    /// `codehash`: the hash of the code-upload transaction, not of the code.
    pub code_tx: TxHash,
    /// `codeInputs`, passed to the worker as the request body.
    pub inputs: Vec<u8>,
    /// `deadline`.
    pub deadline: JobDeadline,
    /// `selectedExecutors`; at most [`MAX_SELECTED_EXECUTORS`].
    pub selected: Vec<Address>,
}

/// `JobResponded(jobId, executor, output, totalTime, errorCode, outputCount)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResponded {
    /// topic1.
    pub job_id: JobId,
    /// topic2: the enclave address recovered from the submission's signature.
    pub executor: Address,
    /// `output`.
    pub output: Vec<u8>,
    /// `totalTime` in ms; `None` above `u64::MAX` (the contract caps it at the deadline).
    pub total_time_ms: Option<u64>,
    /// `errorCode`, see `JobOutcome::error_code`.
    pub error_code: u8,
    /// How many outputs the job has after this one; complete when it equals the selection size.
    pub output_count: u8,
}

/// A decoded `Jobs` log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsLog {
    /// A new job.
    Created(JobCreated),
    /// An executor's output was accepted.
    Responded(JobResponded),
}

/// Why a `Jobs` log was not understood: the check that failed, to tell hostile logs from upgrades.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobsDecodeError {
    /// topic0 is missing or not one of our events.
    #[error("log is not a JobCreated or JobResponded event")]
    UnknownEvent,
    /// The event matched but carries the wrong number of topics.
    #[error("{0} log has the wrong number of topics")]
    TopicCount(&'static str),
    /// The env topic has non-zero bytes above the `uint8`.
    #[error("env topic does not fit in a uint8")]
    EnvTopic,
    /// An address topic has non-zero upper 12 bytes.
    #[error("address topic has non-zero upper bytes")]
    AddressTopic,
    /// The data is truncated, has trailing bytes or is not the canonical ABI encoding.
    #[error("log data is not the canonical ABI encoding of the event's fields")]
    Data,
    /// A `uint8` field holds a larger value.
    #[error("{0} does not fit in a uint8")]
    FieldRange(&'static str),
    /// `selectedExecutors` is longer than [`MAX_SELECTED_EXECUTORS`].
    #[error("{0} selected executors exceeds the bound of {MAX_SELECTED_EXECUTORS}")]
    TooManySelected(usize),
}

/// `JobCreated` logs of `jobs` for our `env` only (topic2), so the RPC drops other envs early.
pub fn job_created_filter(jobs: Address, env: ExecutionEnv) -> Filter {
    Filter::new()
        .address(H160(jobs.0))
        .topic0(H256(JOB_CREATED_TOPIC))
        .topic2(H256(env_topic(env)))
}

/// All `JobResponded` logs of `jobs`. Its own filter because its topic2 is the executor, not
/// the env, so it cannot share `JobCreated`'s topic2 constraint.
pub fn job_responded_filter(jobs: Address) -> Filter {
    Filter::new()
        .address(H160(jobs.0))
        .topic0(H256(JOB_RESPONDED_TOPIC))
}

/// The env byte left-padded into a 32-byte topic, as Solidity indexes a `uint8`.
pub fn env_topic(env: ExecutionEnv) -> [u8; 32] {
    let mut topic = [0u8; 32];
    topic[31] = env.0;
    topic
}

/// Decodes a `Jobs` log. The caller must have checked `log.address` (the filter does).
pub fn decode_jobs_log(log: &Log) -> Result<JobsLog, JobsDecodeError> {
    match log.topics.first().map(|topic| topic.0) {
        Some(JOB_CREATED_TOPIC) => decode_created(log).map(JobsLog::Created),
        Some(JOB_RESPONDED_TOPIC) => decode_responded(log).map(JobsLog::Responded),
        _ => Err(JobsDecodeError::UnknownEvent),
    }
}

fn decode_created(log: &Log) -> Result<JobCreated, JobsDecodeError> {
    expect_topics(log, "JobCreated", 4)?;
    let selected = P::Array(Box::new(P::Address));
    let types = [P::FixedBytes(32), P::Bytes, P::Uint(256), selected];
    let tokens = decode_canonical(&types, &log.data)?;
    use Token::{Array, Bytes, FixedBytes, Uint};
    let [FixedBytes(code_tx), Bytes(inputs), Uint(deadline), Array(selected)] = tokens.as_slice()
    else {
        return Err(JobsDecodeError::Data);
    };
    if selected.len() > MAX_SELECTED_EXECUTORS {
        return Err(JobsDecodeError::TooManySelected(selected.len()));
    }
    let code_tx = <[u8; 32]>::try_from(code_tx.as_slice()).map_err(|_| JobsDecodeError::Data)?;
    let deadline =
        u64::try_from(*deadline).map_or(JobDeadline::Unrepresentable, JobDeadline::Millis);
    let selected: Result<Vec<_>, _> = selected.iter().map(token_address).collect();
    Ok(JobCreated {
        job_id: JobId(log.topics[1].0),
        env: topic_env(&log.topics[2])?,
        job_owner: topic_address(&log.topics[3])?,
        code_tx: TxHash(code_tx),
        inputs: inputs.clone(),
        deadline,
        selected: selected?,
    })
}

fn decode_responded(log: &Log) -> Result<JobResponded, JobsDecodeError> {
    expect_topics(log, "JobResponded", 3)?;
    let types = [P::Bytes, P::Uint(256), P::Uint(8), P::Uint(8)];
    let tokens = decode_canonical(&types, &log.data)?;
    use Token::{Bytes, Uint};
    let [Bytes(output), Uint(total_time), Uint(error_code), Uint(output_count)] = tokens.as_slice()
    else {
        return Err(JobsDecodeError::Data);
    };
    Ok(JobResponded {
        job_id: JobId(log.topics[1].0),
        executor: topic_address(&log.topics[2])?,
        output: output.clone(),
        total_time_ms: u64::try_from(*total_time).ok(),
        error_code: u8_of(*error_code, "errorCode")?,
        output_count: u8_of(*output_count, "outputCount")?,
    })
}

fn expect_topics(log: &Log, event: &'static str, n: usize) -> Result<(), JobsDecodeError> {
    let ok = log.topics.len() == n;
    ok.then_some(()).ok_or(JobsDecodeError::TopicCount(event))
}

/// ABI-decodes and then re-encodes: ethers' decoder accepts dirty address words, non-zero
/// padding, odd offsets and trailing bytes, which Solidity never emits. Only the canonical
/// encoding is accepted.
fn decode_canonical(types: &[P], data: &[u8]) -> Result<Vec<Token>, JobsDecodeError> {
    let tokens = decode(types, data).map_err(|_| JobsDecodeError::Data)?;
    let canonical = encode(&tokens) == data;
    canonical.then_some(tokens).ok_or(JobsDecodeError::Data)
}

fn topic_env(topic: &H256) -> Result<ExecutionEnv, JobsDecodeError> {
    let env = u8::try_from(U256::from_big_endian(&topic.0));
    env.map(ExecutionEnv).map_err(|_| JobsDecodeError::EnvTopic)
}

fn topic_address(topic: &H256) -> Result<Address, JobsDecodeError> {
    if topic.0[..12] != [0u8; 12] {
        return Err(JobsDecodeError::AddressTopic);
    }
    let mut address = [0u8; 20];
    address.copy_from_slice(&topic.0[12..]);
    Ok(Address(address))
}

fn token_address(token: &Token) -> Result<Address, JobsDecodeError> {
    match token {
        Token::Address(address) => Ok(Address(address.0)),
        _ => Err(JobsDecodeError::Data),
    }
}

fn u8_of(value: U256, field: &'static str) -> Result<u8, JobsDecodeError> {
    u8::try_from(value).map_err(|_| JobsDecodeError::FieldRange(field))
}

/// Compile-time hex: a typo fails the build, never a running node.
const fn topic_from_hex(text: &str) -> [u8; 32] {
    match ethers::utils::hex::const_decode_to_array(text.as_bytes()) {
        Ok(topic) => topic,
        Err(_) => panic!("topic constants are 64 hex digits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::events::address_topic;
    use JobsDecodeError as E;

    const OWNER: Address = Address([7; 20]);
    const EXECUTOR: Address = Address([9; 20]);

    fn id() -> [u8; 32] {
        H256::from_low_u64_be(42).0
    }

    fn log(topics: &[[u8; 32]], tokens: &[Token]) -> Log {
        Log {
            topics: topics.iter().copied().map(H256).collect(),
            data: encode(tokens).into(),
            ..Log::default()
        }
    }

    fn created_log(deadline: U256, selected: &[Address]) -> Log {
        let selected = selected.iter().map(|a| Token::Address(H160(a.0))).collect();
        let env = env_topic(ExecutionEnv(1));
        let topics = [JOB_CREATED_TOPIC, id(), env, address_topic(OWNER)];
        let code = Token::FixedBytes(vec![0xab; 32]);
        let inputs = Token::Bytes(b"{}".to_vec());
        let tokens = [code, inputs, Token::Uint(deadline), Token::Array(selected)];
        log(&topics, &tokens)
    }

    fn responded_log(error_code: u64) -> Log {
        let topics = [JOB_RESPONDED_TOPIC, id(), address_topic(EXECUTOR)];
        let output = Token::Bytes(b"hello".to_vec());
        let numbers = [1500, error_code, 2].map(|n| Token::Uint(n.into()));
        log(&topics, &[[output].as_slice(), &numbers].concat())
    }

    fn created(log: &Log) -> JobCreated {
        match decode_jobs_log(log) {
            Ok(JobsLog::Created(created)) => created,
            other => panic!("expected JobCreated, got {other:?}"),
        }
    }

    /// A valid one-executor `JobCreated` log with one edit applied.
    fn edited(edit: impl FnOnce(&mut Log)) -> Log {
        let mut log = created_log(1.into(), &[Address([1; 20])]);
        edit(&mut log);
        log
    }

    #[test]
    fn topics_are_the_event_signature_hashes() {
        let hash = ethers::utils::keccak256;
        let created = "JobCreated(uint256,uint8,address,bytes32,bytes,uint256,address[])";
        assert_eq!(JOB_CREATED_TOPIC, hash(created));
        let responded = "JobResponded(uint256,address,bytes,uint256,uint8,uint8)";
        assert_eq!(JOB_RESPONDED_TOPIC, hash(responded));
    }

    #[test]
    fn job_created_decodes_with_empty_and_three_address_selections() {
        let job = created(&created_log(5000.into(), &[]));
        assert_eq!(job.env, ExecutionEnv::JAVASCRIPT);
        assert_eq!(job.job_owner, OWNER);
        assert_eq!(job.code_tx, TxHash([0xab; 32]));
        assert_eq!(job.inputs, b"{}");
        assert_eq!(job.deadline, JobDeadline::Millis(5000));
        assert!(job.selected.is_empty());
        let three = [Address([1; 20]), Address([2; 20]), Address([3; 20])];
        assert_eq!(created(&created_log(5000.into(), &three)).selected, three);
    }

    #[test]
    fn huge_deadlines_decode_as_unrepresentable() {
        let max = U256::from(u64::MAX);
        let cases = [
            (max, JobDeadline::Millis(u64::MAX)),
            (max + 1, JobDeadline::Unrepresentable),
            (U256::MAX, JobDeadline::Unrepresentable),
        ];
        for (deadline, expected) in cases {
            assert_eq!(created(&created_log(deadline, &[])).deadline, expected);
        }
    }

    #[test]
    fn job_responded_decodes() {
        let expected = JobResponded {
            job_id: JobId(id()),
            executor: EXECUTOR,
            output: b"hello".to_vec(),
            total_time_ms: Some(1500),
            error_code: 4,
            output_count: 2,
        };
        let decoded = decode_jobs_log(&responded_log(4));
        assert_eq!(decoded, Ok(JobsLog::Responded(expected)));
        assert_eq!(JobId([0xff; 32]).to_string(), U256::MAX.to_string());
        assert_eq!(format!("{:?}", JobId(id())), "JobId(42)");
    }

    /// One row per line: `name: log => expected error`.
    macro_rules! assert_rejects {
        ($($name:literal: $log:expr => $error:expr;)*) => {
            $(assert_eq!(decode_jobs_log(&$log), Err($error), $name);)*
        };
    }

    #[test]
    fn malformed_logs_are_errors_not_panics() {
        let data = edited(|_| {}).data.to_vec();
        let mut dirty = data.clone();
        dirty[data.len() - 32] = 1;
        let crowd = vec![Address([5; 20]); MAX_SELECTED_EXECUTORS + 1];
        let created_count = E::TopicCount("JobCreated");
        assert_rejects! {
            "no topics": Log::default() => E::UnknownEvent;
            "unknown topic0": edited(|l| l.topics[0] = H256([1; 32])) => E::UnknownEvent;
            "missing topic": edited(|l| l.topics.truncate(3)) => created_count.clone();
            "extra topic": edited(|l| l.topics.push(H256::zero())) => created_count.clone();
            "env topic 256": edited(|l| l.topics[2] = H256::from_low_u64_be(256)) => E::EnvTopic;
            "dirty owner topic": edited(|l| l.topics[3].0[0] = 1) => E::AddressTopic;
            "truncated": edited(|l| l.data = data[..data.len() - 1].to_vec().into()) => E::Data;
            "trailing": edited(|l| l.data = [&data[..], &[0; 32]].concat().into()) => E::Data;
            "garbage": edited(|l| l.data = vec![0xff; 300].into()) => E::Data;
            "empty data": edited(|l| l.data = Vec::new().into()) => E::Data;
            "dirty selected address": edited(|l| l.data = dirty.into()) => E::Data;
            "65 selected": created_log(1.into(), &crowd) => E::TooManySelected(65);
            "errorCode 256": responded_log(256) => E::FieldRange("errorCode");
            "responded, 4 topics": edited(|l| l.topics[0] = H256(JOB_RESPONDED_TOPIC))
                => E::TopicCount("JobResponded");
        }
    }

    #[test]
    fn filters_select_the_events_and_env() {
        let jobs = Address([3; 20]);
        let topic = |t: [u8; 32]| format!("0x{}", hex::encode(t));
        let created = serde_json::to_value(job_created_filter(jobs, ExecutionEnv(1)));
        let created = created.expect("filters serialize");
        assert_eq!(created["topics"][0], topic(JOB_CREATED_TOPIC));
        assert!(created["topics"][1].is_null());
        assert_eq!(created["topics"][2], topic(env_topic(ExecutionEnv(1))));
        let responded = serde_json::to_value(job_responded_filter(jobs));
        let responded = responded.expect("filters serialize");
        assert_eq!(responded["topics"][0], topic(JOB_RESPONDED_TOPIC));
        assert_eq!(responded["address"], jobs.to_string());
    }
}
