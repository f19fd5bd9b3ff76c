//! The chain half of a job: sign the execution's outcome with the enclave key and have
//! `TxSender` submit it to `Jobs.submitOutput`, then wait for its inclusion (signing again if
//! the signature would grow too old for the contract), and report timed-out jobs.
//!
//! Receives an [`Execution`] from the pipeline; sends `SignOutput` to `Signer` and
//! `SubmitOutput`/`ReportTimeout` to `TxSender`. Failures are logged once here, at the boundary.

use std::time::Duration;

use actix::Recipient;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::actors::node_setup::now_unix;
use crate::chain::jobs_events::JobId;
use crate::chain::submit::{is_signature_too_old, SubmitError, SubmitOutputCall};
use crate::domain::Address;
use crate::messages::jobs::Execution;
use crate::messages::signing::SignOutput;
use crate::messages::tx::{ReportTimeout, SubmitOutput, TxError};

/// Attempts to get one output included: a new signature each time (the contract refuses
/// signatures older than `SIGN_MAX_AGE`), and again if another sender took our nonce.
const SUBMIT_ATTEMPTS: u32 = 3;
/// How often an output waiting for a gas key asks again.
const GAS_KEY_POLL: Duration = Duration::from_millis(500);

/// Where chain jobs report to.
#[derive(Debug, Clone)]
pub struct ChainLinks {
    /// This node's enclave address: a job is ours if it is among the selected executors.
    pub enclave: Address,
    /// Signs `SubmitOutput`.
    pub signer: Recipient<SignOutput>,
    /// Sends outputs.
    pub submit: Recipient<SubmitOutput>,
    /// Reports timed-out jobs.
    pub timeouts: Recipient<ReportTimeout>,
    /// `Jobs.EXECUTION_BUFFER_TIME`, read from the contract at start.
    pub execution_buffer: Duration,
    /// `Jobs.SIGN_MAX_AGE`, read from the contract at start.
    pub sign_max_age: Duration,
}

/// Signs and submits one job's outcome until it is included, the answer window closes
/// (`answer_by`) or the contract refuses it for good; logs the result.
pub(super) async fn report_output(
    links: ChainLinks,
    job_id: JobId,
    execution: Execution,
    answer_by: Instant,
) {
    let total_time_ms = u64::try_from(execution.total_time.as_millis()).unwrap_or(u64::MAX);
    let error_code = execution.outcome.error_code();
    let mut waiting_for_key = false;
    'attempts: for attempt in 1..=SUBMIT_ATTEMPTS {
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
            output: execution.output.clone(),
            total_time_ms,
            error_code,
            sign_timestamp,
        };
        let submitted = loop {
            match links.submit.send(SubmitOutput { call: call.clone() }).await {
                Ok(Ok(submitted)) => break submitted,
                // After a restart the owner sets the gas key again: wait for it, within the
                // window, rather than lose the output.
                Ok(Err(TxError::NoGasKey)) if Instant::now() + GAS_KEY_POLL < answer_by => {
                    if !std::mem::replace(&mut waiting_for_key, true) {
                        warn!(%job_id, "No gas key yet; the output waits for /mutable-config.");
                    }
                    tokio::time::sleep(GAS_KEY_POLL).await;
                }
                // Refused by the simulation because the signature aged (a long wait): sign again.
                Ok(Err(TxError::Submit(SubmitError::Reverted(data))))
                    if is_signature_too_old(data.as_deref()) =>
                {
                    warn!(%job_id, attempt, "Output signature too old before sending; signing again.");
                    continue 'attempts;
                }
                Ok(Err(error)) => return error!(%job_id, %error, "submitOutput not sent."),
                Err(_) => {
                    return error!(%job_id, "Transaction sender stopped; submitOutput not sent.")
                }
            }
        };
        // Past the signature's age the contract would refuse it: sign again instead of waiting.
        let wait_until = answer_by.min(Instant::now() + links.sign_max_age);
        let included = tokio::time::timeout_at(wait_until, submitted.included).await;
        let tx_hash = submitted.tx_hash;
        match included {
            Ok(Ok(Ok(hash))) => {
                return info!(%job_id, tx_hash = %hash, error_code, "Output submitted on chain.")
            }
            Ok(Ok(Err(TxError::Submit(SubmitError::Reverted(data)))))
                if is_signature_too_old(data.as_deref()) =>
            {
                warn!(%job_id, attempt, "Output signature too old on chain; signing again.");
            }
            Ok(Ok(Err(TxError::NonceTaken))) => {
                warn!(%job_id, attempt, "Submission lost its nonce to another sender; sending again.");
            }
            Ok(Ok(Err(error))) => {
                return error!(%job_id, %tx_hash, %error, "submitOutput not included.")
            }
            Ok(Err(_)) => {
                return error!(%job_id, %tx_hash, "Transaction sender stopped following submitOutput.")
            }
            Err(_) if Instant::now() >= answer_by => {
                return error!(%job_id, %tx_hash, "submitOutput not included before the answer window closed.")
            }
            Err(_) => {
                warn!(%job_id, %tx_hash, attempt, "submitOutput pending near SIGN_MAX_AGE; signing again.")
            }
        }
    }
    error!(%job_id, attempts = SUBMIT_ATTEMPTS, "submitOutput not included after every attempt.");
}

/// How often, and how many times, a report that is not due by the chain's clock is retried.
const NOT_DUE_PAUSE: Duration = Duration::from_secs(1);
const NOT_DUE_TRIES: u32 = 120;
/// How long to follow a timeout report before giving up on it.
const REPORT_WAIT: Duration = Duration::from_secs(120);

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
    let submitted = match sent {
        Ok(Ok(Some(submitted))) => submitted,
        Ok(Ok(None)) => return info!(%job_id, "Timeout already reported or not needed."),
        Ok(Err(error)) => return error!(%job_id, %error, "Timeout report not sent."),
        Err(_) => return error!(%job_id, "Transaction sender stopped; timeout not reported."),
    };
    let tx_hash = submitted.tx_hash;
    match tokio::time::timeout(REPORT_WAIT, submitted.included).await {
        Ok(Ok(Ok(hash))) => info!(%job_id, tx_hash = %hash, "Timeout reported on chain."),
        Ok(Ok(Err(error))) => error!(%job_id, %tx_hash, %error, "Timeout report not included."),
        Ok(Err(_)) => error!(%job_id, %tx_hash, "Transaction sender stopped following the report."),
        Err(_) => error!(%job_id, %tx_hash, "Timeout report still pending; given up."),
    }
}
