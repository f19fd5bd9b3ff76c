//! Messages understood by `JobScheduler` and `WorkerdRunner`.

use std::time::Duration;

use actix::Message;

use crate::chain::ecdsa::Signature65;
use crate::domain::{JobOutcome, TxHash};
use crate::workerd::classify::Classified;
use crate::workerd::process::ProcessJob;
use crate::workerd::run::RunError;

/// Run a direct job end to end: fetch its code, run it in a sandbox, classify, and sign its
/// receipt. Sent by the direct-run route.
#[derive(Debug, Message)]
#[rtype(result = "Result<DirectRun, ScheduleError>")]
pub struct ExecuteJob {
    /// The code-upload transaction.
    pub code_tx: TxHash,
    /// POSTed raw to the worker.
    pub input: Vec<u8>,
    /// The user's deadline, counted from acceptance.
    pub deadline: Duration,
    /// When the route sent it: the time to its admission is the job's `admission_wait` phase.
    pub sent: tokio::time::Instant,
}

/// Run one job in a workerd process: `WorkerdRunner` takes an idle warm process or starts one
/// (with its own cgroup and listener), hands the job over and classifies how it ended. Sent by
/// `JobScheduler`.
#[derive(Debug, Message)]
#[rtype(result = "Result<RunReport, RunError>")]
pub struct RunInProcess {
    /// The job.
    pub job: ProcessJob,
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The classified end.
    pub classified: Classified,
    /// The user's execution time: from handing the job to a serving process to its end,
    /// capped at the budget.
    pub user_time: Duration,
    /// Getting the process: an idle warm one, or a start on the job's path.
    pub acquired: Acquired,
    /// The process cgroup's peak memory in bytes, if the kernel reports it.
    pub peak_memory: Option<u64>,
}

/// How a run got its process, and how long that took (the node's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    /// An idle warm process was ready.
    pub warm: bool,
    /// From the request to a serving process.
    pub took: Duration,
}

/// How a job ended: always a valid answer to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The outcome code's meaning.
    pub outcome: JobOutcome,
    /// The response body on success, empty otherwise.
    pub output: Vec<u8>,
    /// From acceptance to the end, capped at the deadline (equal to it on a timeout).
    pub total_time: Duration,
}

impl Execution {
    /// `total_time` in whole milliseconds, as signed (saturating; never past the deadline).
    pub fn total_time_ms(&self) -> u64 {
        u64::try_from(self.total_time.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A direct job's execution and its signed receipt (the direct-run EIP-712 domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRun {
    /// How the job ended.
    pub execution: Execution,
    /// The receipt's `totalTime`, in milliseconds.
    pub total_time_ms: u64,
    /// The receipt's signing time, unix seconds.
    pub sign_timestamp: u64,
    /// The receipt's signature by the enclave key.
    pub signature: Signature65,
}

/// Why a job has no outcome. Never signed; the caller retries later or reports loudly.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A chain job no longer needs running: answered on chain already (seen again after a
    /// restart) or orphaned by a reorg.
    #[error("no longer needed")]
    Cancelled,
    /// All slots and the bounded queue are full.
    #[error("all execution slots and the queue are busy")]
    Busy,
    /// The sandbox or the chain kept failing until the deadline.
    #[error("infrastructure fault: {0}")]
    Infrastructure(String),
}

/// A `JobCreated` log seen by `ChainListener`. The scheduler runs the job if this node was
/// selected and submits the signed output on chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ChainJobCreated {
    /// The decoded log.
    pub job: crate::chain::jobs_events::JobCreated,
    /// The block the log is in: its timestamp is the job's execution start, its hash tells a
    /// re-delivery after a reorg from a duplicate.
    pub block: LogBlock,
    /// When the listener decoded it: the time to its admission is the job's `admission_wait`.
    pub seen: tokio::time::Instant,
}

/// The block a log was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBlock {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: [u8; 32],
    /// Unix seconds; `None` when the endpoint no longer knew the block (it was orphaned).
    pub timestamp: Option<u64>,
}

/// Blocks from `fork` on were replaced: jobs created in them and not answered yet must not be
/// answered (their logs are delivered again if they were re-included). Sent by `ChainListener`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ChainReorged {
    /// The lowest replaced block.
    pub fork: u64,
}

/// Whether this node is registered on `Executors` and so takes chain jobs. After a
/// deregistration, jobs in flight finish and no new one starts. Sent by `ChainListener`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ServingChanged {
    /// Registered.
    pub serving: bool,
}

/// A `JobResponded` log seen by `ChainListener`: one more output for a job, which ends the
/// job's timeout watch once every selected executor has answered.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ChainJobResponded {
    /// The job.
    pub job_id: crate::chain::jobs_events::JobId,
    /// Who answered (the enclave address the contract recovered).
    pub executor: crate::domain::Address,
    /// Outputs accepted so far.
    pub output_count: u8,
    /// The block of the log: a reorg from it on removes this output.
    pub block_number: u64,
}
