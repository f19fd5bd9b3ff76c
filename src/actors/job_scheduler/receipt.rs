//! A direct run's receipt: signed where the run ended, on the actors' thread, so the route gets
//! execution and signature in one answer. The route's own request to `Signer` cost two more
//! crossings between threads per job (measured with packet timestamps, README "The node's
//! own time, packet by packet").
//!
//! Sends [`SignReceipt`] to `Signer`; owns nothing.

use actix::Recipient;

use crate::actors::node_setup::now_unix;
use crate::domain::TxHash;
use crate::messages::jobs::{DirectRun, Execution, ScheduleError};
use crate::messages::signing::SignReceipt;
use crate::metrics::{Metrics, Phase};

/// Where direct runs' receipts are signed.
#[derive(Debug, Clone)]
pub struct ReceiptLinks {
    /// Signs receipts under the direct-run domain (never the Jobs domain).
    pub signer: Recipient<SignReceipt>,
    /// The chain id of that domain.
    pub chain_id: u64,
}

/// Signs the receipt of `execution`, the run of `code_tx` on `input`. No receipt, no answer:
/// a signer that fails or stopped is an infrastructure fault, never an unsigned output.
pub(super) async fn sign_receipt(
    links: &ReceiptLinks,
    metrics: &Metrics,
    code_tx: TxHash,
    input: &[u8],
    execution: Execution,
) -> Result<DirectRun, ScheduleError> {
    let total_time_ms = execution.total_time_ms();
    let sign_timestamp = now_unix();
    let receipt = SignReceipt {
        chain_id: links.chain_id,
        code_tx: code_tx.0,
        input: input.to_vec(),
        output: execution.output.clone(),
        total_time_ms,
        error_code: execution.outcome.error_code(),
        sign_timestamp,
    };
    let signing = tokio::time::Instant::now();
    let signature = links.signer.send(receipt).await;
    metrics.phase(Phase::Signing, signing.elapsed());
    let signature = signature
        .map_err(|_| ScheduleError::Infrastructure("signer stopped".into()))?
        .map_err(|_| ScheduleError::Infrastructure("signing failed".into()))?;
    Ok(DirectRun {
        execution,
        total_time_ms,
        sign_timestamp,
        signature,
    })
}
