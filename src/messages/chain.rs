//! Chain events delivered to `NodeSetup` by `ChainListener` (past tense: they happened).

use actix::Message;

use crate::domain::{Address, ExecutionEnv};

/// Our enclave is registered on `Executors`: from an `ExecutorRegistered` log, or from the
/// contract's state when the listener starts (so a restarted node knows it is registered).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct ExecutorRegistered {
    /// The owner that registered us.
    pub owner: Address,
    /// Capacity announced on chain.
    pub job_capacity: u64,
    /// Environment we were registered for.
    pub env: ExecutionEnv,
    /// Block of the log; `None` when read from contract state.
    pub block_number: Option<u64>,
}

/// Our enclave is not (or no longer) registered: from an `ExecutorDeregistered` log, or from
/// the contract's state when the listener (re)connects.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct ExecutorDeregistered {
    /// Block of the log; `None` when read from contract state.
    pub block_number: Option<u64>,
}
