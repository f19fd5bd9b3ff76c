//! The chain half of a job: sign the execution's outcome with the enclave key and have
//! `TxSender` submit it to `Jobs.submitOutput`, then wait for its inclusion.
//!
//! Receives an [`Execution`] from the pipeline; sends `SignOutput` to `Signer` and
//! `SubmitOutput`/`AwaitReceipt` to `TxSender`. Failures are logged once here, at the boundary.

use std::time::Duration;

use actix::Recipient;
use tracing::{error, info};

use crate::actors::node_setup::now_unix;
use crate::chain::jobs_events::JobId;
use crate::chain::submit::SubmitOutputCall;
use crate::domain::Address;
use crate::messages::jobs::Execution;
use crate::messages::signing::SignOutput;
use crate::messages::tx::{AwaitReceipt, ReportTimeout, SubmitOutput, TxError};

/// How long to wait for the submission's receipt.
const RECEIPT_WAIT: Duration = Duration::from_secs(60);

/// Where chain jobs report to.
#[derive(Debug, Clone)]
pub struct ChainLinks {
    /// This node's enclave address: a job is ours if it is among the selected executors.
    pub enclave: Address,
    /// Signs `SubmitOutput`.
    pub signer: Recipient<SignOutput>,
    /// Sends transactions.
    pub submit: Recipient<SubmitOutput>,
    /// Waits for receipts.
    pub receipts: Recipient<AwaitReceipt>,
    /// Reports timed-out jobs.
    pub timeouts: Recipient<ReportTimeout>,
    /// `Jobs.EXECUTION_BUFFER_TIME`, read from the contract at start.
    pub execution_buffer: Duration,
    /// `Jobs.SIGN_MAX_AGE`, read from the contract at start.
    pub sign_max_age: Duration,
}

/// Signs and submits one job's outcome; logs the result.
pub(super) async fn report_output(links: ChainLinks, job_id: JobId, execution: Execution) {
    let total_time_ms = u64::try_from(execution.total_time.as_millis()).unwrap_or(u64::MAX);
    let error_code = execution.outcome.error_code();
    let sign_timestamp = now_unix();
    let sign = SignOutput {
        job_id: job_id.0,
        output: execution.output.clone(),
        total_time_ms,
        error_code,
        sign_timestamp,
    };
    let signature = match links.signer.send(sign).await {
        Ok(Ok(signature)) => signature,
        _ => return error!(%job_id, "Output not signed; the job will time out on chain."),
    };
    let call = SubmitOutputCall {
        signature: signature.0.to_vec(),
        job_id: job_id.0,
        output: execution.output,
        total_time_ms,
        error_code,
        sign_timestamp,
    };
    let tx_hash = match links.submit.send(SubmitOutput { call }).await {
        Ok(Ok(tx_hash)) => tx_hash,
        Ok(Err(error)) => return error!(%job_id, %error, "submitOutput not sent."),
        Err(_) => return error!(%job_id, "Transaction sender stopped; submitOutput not sent."),
    };
    match links
        .receipts
        .send(AwaitReceipt {
            tx_hash,
            wait: RECEIPT_WAIT,
        })
        .await
    {
        Ok(Ok(())) => info!(%job_id, %tx_hash, error_code, "Output submitted on chain."),
        Ok(Err(error)) => error!(%job_id, %tx_hash, %error, "submitOutput not confirmed."),
        Err(_) => error!(%job_id, %tx_hash, "Transaction sender stopped before the receipt."),
    }
}

/// How often, and how many times, a report that is not due by the chain's clock is retried.
const NOT_DUE_PAUSE: Duration = Duration::from_secs(1);
const NOT_DUE_TRIES: u32 = 120;

/// Reports a timed-out job unless a simulation says someone already did (or it completed).
pub(super) async fn report_timeout(links: ChainLinks, job_id: JobId) {
    let mut tries = 0;
    let sent = loop {
        match links
            .timeouts
            .send(ReportTimeout { job_id: job_id.0 })
            .await
        {
            Ok(Err(TxError::NotDue)) if tries < NOT_DUE_TRIES => {
                tries += 1;
                tokio::time::sleep(NOT_DUE_PAUSE).await;
            }
            other => break other,
        }
    };
    let tx_hash = match sent {
        Ok(Ok(Some(tx_hash))) => tx_hash,
        Ok(Ok(None)) => return info!(%job_id, "Timeout already reported or not needed."),
        Ok(Err(error)) => return error!(%job_id, %error, "Timeout report not sent."),
        Err(_) => return error!(%job_id, "Transaction sender stopped; timeout not reported."),
    };
    match links
        .receipts
        .send(AwaitReceipt {
            tx_hash,
            wait: RECEIPT_WAIT,
        })
        .await
    {
        Ok(Ok(())) => info!(%job_id, %tx_hash, "Timeout reported on chain."),
        Ok(Err(error)) => error!(%job_id, %tx_hash, %error, "Timeout report not confirmed."),
        Err(_) => error!(%job_id, %tx_hash, "Transaction sender stopped before the receipt."),
    }
}
