//! Messages understood by `CodeStore`, which turns a code-upload transaction hash into code.

use std::sync::Arc;

use actix::Message;

use crate::chain::code_tx::InvalidCodeTx;
use crate::code::calldata::CalldataError;
use crate::domain::TxHash;

/// Get the code uploaded by `code_tx` (a job's `codehash`). Sent by the job scheduler and the
/// direct-run route. Served from the cache without any RPC when possible; otherwise fetched,
/// retrying transient RPC failures until `deadline`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<FetchedCode, CodeError>")]
pub struct FetchCode {
    /// Hash of the code-upload transaction.
    pub code_tx: TxHash,
    /// When to stop retrying and answer [`CodeError::Unavailable`].
    pub deadline: tokio::time::Instant,
}

/// The code of a code-upload transaction, and whether the cache had it (the job's
/// `code_fetch_hit` or `code_fetch_miss` phase).
#[derive(Debug, Clone)]
pub struct FetchedCode {
    /// The code, shared with the cache.
    pub code: Arc<[u8]>,
    /// Served from the cache, without any RPC.
    pub cached: bool,
}

/// Why `CodeStore` has no code for a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The chain says the transaction cannot be code: job outcome 1.
    #[error("invalid code transaction")]
    InvalidCodeTx(#[from] InvalidCodeTx),
    /// The transaction's input is not a valid `saveCodeInCallData` call: job outcome 2.
    #[error("invalid code calldata")]
    InvalidCalldata(#[from] CalldataError),
    /// The RPC kept failing until the deadline: an infrastructure fault, never a job outcome.
    #[error("code transaction could not be fetched before the deadline")]
    Unavailable,
}

impl CodeError {
    /// The `errorCode` to report on chain, or `None` for an infrastructure fault that must
    /// not be reported as the user's error.
    pub const fn job_error_code(&self) -> Option<u8> {
        match self {
            Self::InvalidCodeTx(_) => Some(1),
            Self::InvalidCalldata(_) => Some(2),
            Self::Unavailable => None,
        }
    }
}
