//! The chain half of a job: sign the execution's outcome with the enclave key and have
//! `TxSender` submit it to `Jobs.submitOutput`, then wait for its inclusion.
//!
//! Receives an [`OutputJob`] from the scheduler once a run ends; sends `SignOutput` to `Signer`
//! and `SubmitOutput` to `TxSender`. The rule: **an output we hold is sent until its answer
//! window closes.** An infrastructure fault (the RPC down, timing out, answering 5xx or
//! JSON-RPC errors; no gas key yet after a restart) never drops it: the signed output is kept
//! and sent again with a capped backoff, signed afresh before the signature reaches
//! `SIGN_MAX_AGE`. It stops only when the contract refuses it for good, when the job is
//! orphaned by a reorg, or when the window closes. An included output is held until then too:
//! a reorg can remove the block that included it while the job's own block stays, and the
//! output is then sent again. Failures are logged once here, at the boundary.

use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::actors::node_setup::now_unix;
use crate::backoff::Backoff;
use crate::chain::jobs_events::JobId;
use crate::chain::submit::{
    is_already_submitted, is_signature_too_old, JobAnchor, SubmitError, SubmitOutputCall,
};
use crate::domain::Address;
use crate::messages::jobs::Execution;
use crate::messages::signing::SignOutput;
use crate::messages::tx::{ReportTimeout, ResyncNonce, SubmitOutput, Submitted, TxError};
use crate::metrics::{Metrics, Phase};

use super::wanted::Wanted;

/// How often an output waiting for a gas key asks again.
pub(super) const GAS_KEY_POLL: Duration = Duration::from_millis(500);
/// Pauses between sends after an infrastructure fault: short at first, since an RPC blip is
/// usually short, and capped so a recovered RPC is used within a couple of seconds.
pub(super) const FAULT_RETRY_FIRST: Duration = Duration::from_millis(250);
pub(super) const FAULT_RETRY_MAX: Duration = Duration::from_secs(2);

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
    /// Told of reorgs, to take the gas account's nonce from the chain again.
    pub resync: Recipient<ResyncNonce>,
    /// `Jobs.EXECUTION_BUFFER_TIME`, read from the contract at start.
    pub execution_buffer: Duration,
    /// `Jobs.SIGN_MAX_AGE`, read from the contract at start.
    pub sign_max_age: Duration,
    /// Where the signing phase is timed.
    pub metrics: Arc<Metrics>,
}

/// One output to get on chain.
#[derive(Debug)]
pub(super) struct OutputJob {
    pub(super) job_id: JobId,
    /// The block the job was created in: outputs are sent only while it is canonical.
    pub(super) anchor: JobAnchor,
    pub(super) execution: Execution,
    /// When the contract stops accepting outputs for the job.
    pub(super) answer_by: Instant,
    /// Set by the scheduler: ours is on chain (or no longer, after a reorg), or the job's
    /// block was replaced (a re-created job with the same id is a new job).
    pub(super) wanted: Arc<Wanted>,
    /// Where the submission and inclusion phases are timed.
    pub(super) metrics: Arc<Metrics>,
}

impl OutputJob {
    fn cancelled(&self) -> bool {
        self.wanted.cancelled()
    }
}

/// What to do after one signed call ended.
enum Step {
    /// Refused for good, not sent, no longer wanted or out of time: stop.
    Done,
    /// Included: held until the window closes, in case a reorg removes it.
    Included,
    /// The signature is (nearly) too old, or the nonce was lost: sign again and resend.
    SignAgain,
}

/// Logged once per wait, so a long outage is one line per job, not one per retry.
#[derive(Debug, Default)]
struct Noted {
    key: bool,
    fault: bool,
}

/// Signs and submits one job's outcome until the answer window closes, unless it is refused
/// for good or the job is orphaned; while ours is on chain it only waits.
pub(super) async fn report_output(links: ChainLinks, job: OutputJob) {
    let job_id = job.job_id;
    let mut noted = Noted::default();
    let mut backoff = Backoff::new(FAULT_RETRY_FIRST, FAULT_RETRY_MAX);
    loop {
        if job.wanted.orphaned() {
            return info!(%job_id, "Output no longer wanted: the job was orphaned by a reorg.");
        }
        if job.cancelled() {
            debug!(%job_id, "Our output is on chain; held until the answer window closes.");
            if !held_until_removed(&job).await {
                return;
            }
            continue;
        }
        if Instant::now() >= job.answer_by {
            return error!(%job_id, "Answer window closed before our output was included.");
        }
        let Some((call, fresh_until)) = sign(&links, &job).await else {
            return error!(%job_id, "Output not signed; the job will time out on chain.");
        };
        match submit(&links, &job, &call, fresh_until, &mut noted, &mut backoff).await {
            Step::Done => return,
            Step::Included if !held_until_removed(&job).await => return,
            Step::Included | Step::SignAgain => {}
        }
    }
}

/// Waits until the answer window closes (false) or a reorg may have removed our included
/// output (true: send it again).
async fn held_until_removed(job: &OutputJob) -> bool {
    tokio::select! {
        () = job.wanted.removed() => {
            warn!(job_id = %job.job_id, "Our output may have been removed by a reorg; sending it again.");
            true
        }
        () = tokio::time::sleep_until(job.answer_by) => false,
    }
}

/// A fresh signature over the outcome, and until when it may be sent: a margin before
/// `SIGN_MAX_AGE`, so that it is not refused by the time it is included.
async fn sign(links: &ChainLinks, job: &OutputJob) -> Option<(SubmitOutputCall, Instant)> {
    let execution = &job.execution;
    let total_time_ms = execution.total_time_ms();
    let error_code = execution.outcome.error_code();
    let sign_timestamp = now_unix();
    let signed_at = Instant::now();
    let sign = SignOutput {
        job_id: job.job_id.0,
        output: execution.output.clone(),
        total_time_ms,
        error_code,
        sign_timestamp,
    };
    let signature = links.signer.send(sign).await;
    links.metrics.phase(Phase::Signing, signed_at.elapsed());
    let Ok(Ok(signature)) = signature else {
        return None;
    };
    let margin = (links.sign_max_age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let call = SubmitOutputCall {
        signature: signature.0.to_vec(),
        job_id: job.job_id.0,
        output: execution.output.clone(),
        total_time_ms,
        error_code,
        sign_timestamp,
    };
    Some((call, signed_at + links.sign_max_age.saturating_sub(margin)))
}

/// Sends one signed call until `TxSender` takes it, then follows it to inclusion.
async fn submit(
    links: &ChainLinks,
    job: &OutputJob,
    call: &SubmitOutputCall,
    fresh_until: Instant,
    noted: &mut Noted,
    backoff: &mut Backoff,
) -> Step {
    let job_id = job.job_id;
    loop {
        if job.cancelled() || Instant::now() >= job.answer_by {
            return Step::SignAgain; // the outer loop says which, and stops
        }
        if Instant::now() >= fresh_until {
            debug!(%job_id, "Signature near SIGN_MAX_AGE while waiting to send; signing again.");
            return Step::SignAgain;
        }
        let submit = SubmitOutput {
            call: call.clone(),
            anchor: job.anchor,
        };
        let handed = Instant::now();
        let pause = match links.submit.send(submit).await {
            Ok(Ok(submitted)) => {
                backoff.reset();
                job.metrics.phase(Phase::Submission, handed.elapsed());
                return follow(job, submitted, fresh_until).await;
            }
            Ok(Err(TxError::NoGasKey)) => {
                if !std::mem::replace(&mut noted.key, true) {
                    warn!(%job_id, "No gas key yet; the output waits for /mutable-config until its window closes.");
                }
                GAS_KEY_POLL
            }
            Ok(Err(TxError::Submit(SubmitError::Reverted(data)))) => {
                return refused(job_id, data.as_deref(), "before sending")
            }
            Ok(Err(TxError::Submit(SubmitError::Orphaned))) => {
                warn!(%job_id, "The job's block was replaced (reorg); output not sent.");
                return Step::Done;
            }
            Ok(Err(error)) if error.is_infrastructure() => {
                if std::mem::replace(&mut noted.fault, true) {
                    debug!(%job_id, %error, "submitOutput still not sent; retrying.");
                } else {
                    warn!(%job_id, %error, "submitOutput not sent (infrastructure fault); the signed output is kept and sent again until its window closes.");
                }
                backoff.next_delay()
            }
            Ok(Err(error)) => {
                error!(%job_id, %error, "submitOutput not sent.");
                return Step::Done;
            }
            Err(_) => {
                error!(%job_id, "Transaction sender stopped; submitOutput not sent.");
                return Step::Done;
            }
        };
        let wake = (Instant::now() + pause).min(job.answer_by);
        tokio::time::sleep_until(wake).await;
    }
}

/// Waits for a sent call's inclusion, at most until the signature grows too old.
async fn follow(job: &OutputJob, submitted: Submitted, fresh_until: Instant) -> Step {
    let sent = Instant::now();
    let job_id = job.job_id;
    let tx_hash = submitted.tx_hash;
    let until = job.answer_by.min(fresh_until);
    match tokio::time::timeout_at(until, submitted.included).await {
        Ok(Ok(Ok(hash))) => {
            job.metrics.phase(Phase::Inclusion, sent.elapsed());
            let error_code = job.execution.outcome.error_code();
            info!(%job_id, tx_hash = %hash, error_code, "Output submitted on chain.");
            Step::Included
        }
        Ok(Ok(Err(TxError::Submit(SubmitError::Reverted(data))))) => {
            refused(job_id, data.as_deref(), "on chain")
        }
        Ok(Ok(Err(TxError::Submit(SubmitError::Orphaned)))) => {
            warn!(%job_id, %tx_hash, "The job's block was replaced (reorg); output withdrawn.");
            Step::Done
        }
        Ok(Ok(Err(TxError::NonceTaken))) => {
            warn!(%job_id, %tx_hash, "Submission lost its nonce to another transaction; sending again.");
            Step::SignAgain
        }
        Ok(Ok(Err(error))) => {
            error!(%job_id, %tx_hash, %error, "submitOutput not included.");
            Step::Done
        }
        Ok(Err(_)) => {
            error!(%job_id, %tx_hash, "Transaction sender stopped following submitOutput.");
            Step::Done
        }
        Err(_) if Instant::now() >= job.answer_by => {
            error!(%job_id, %tx_hash, "submitOutput not included before the answer window closed.");
            Step::Done
        }
        Err(_) => {
            warn!(%job_id, %tx_hash, "submitOutput pending near SIGN_MAX_AGE; signing again.");
            Step::SignAgain
        }
    }
}

/// The contract refused the call (in the simulation or on inclusion): sign again if only the
/// signature aged, stop otherwise.
fn refused(job_id: JobId, data: Option<&[u8]>, when: &'static str) -> Step {
    if is_signature_too_old(data) {
        warn!(%job_id, when, "Output signature too old; signing again.");
        return Step::SignAgain;
    }
    if is_already_submitted(data) {
        info!(%job_id, when, "Our output is already on chain (an earlier attempt got through).");
    } else {
        error!(%job_id, when, "submitOutput refused by the contract; not sent.");
    }
    Step::Done
}
