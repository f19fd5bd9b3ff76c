//! Reporting a timed-out job (`Jobs.slashOnExecutionTimeout`), once the scheduler's book says
//! it is due and ours to report (never a job that would slash us: `tracked::WindowEnd`).
//!
//! Receives a job id from the scheduler's timeout watch; sends `ReportTimeout` to `TxSender`.
//! A report is kept for [`REPORT_WINDOW`] after it falls due: while the chain's clock lags
//! ours (`JobsDeadlineNotOver`), while the RPC fails, and while no gas key is installed (after
//! a restart, until the owner sets it again), it waits and tries again instead of being
//! dropped. A simulation that reverts otherwise means someone reported it first: nothing to pay.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::chain_job::{ChainLinks, FAULT_RETRY_FIRST, FAULT_RETRY_MAX, GAS_KEY_POLL};
use crate::backoff::Backoff;
use crate::chain::jobs_events::JobId;
use crate::messages::tx::{ReportTimeout, Submitted, TxError};

/// How long a due report keeps waiting (RPC faults, no gas key, a lagging chain clock) before
/// it is given up. Another node may report it meanwhile; the simulation then says so.
pub(super) const REPORT_WINDOW: Duration = Duration::from_secs(600);
/// How often a report that is not due by the chain's clock is retried.
const NOT_DUE_PAUSE: Duration = Duration::from_secs(1);
/// How long to follow a sent report before giving up on it.
const REPORT_WAIT: Duration = Duration::from_secs(120);

/// Reports a timed-out job unless a simulation says someone already did (or it completed).
pub(super) async fn report_timeout(links: ChainLinks, job_id: JobId) {
    let Some(submitted) = send_report(&links, job_id).await else {
        return;
    };
    let tx_hash = submitted.tx_hash;
    match tokio::time::timeout(REPORT_WAIT, submitted.included).await {
        Ok(Ok(Ok(hash))) => info!(%job_id, tx_hash = %hash, "Timeout reported on chain."),
        Ok(Ok(Err(error))) => error!(%job_id, %tx_hash, %error, "Timeout report not included."),
        Ok(Err(_)) => error!(%job_id, %tx_hash, "Transaction sender stopped following the report."),
        Err(_) => error!(%job_id, %tx_hash, "Timeout report still pending; given up."),
    }
}

/// Sends the report, waiting out a missing gas key, RPC faults and a lagging chain clock
/// within [`REPORT_WINDOW`]; `None` when there is nothing (more) to send.
async fn send_report(links: &ChainLinks, job_id: JobId) -> Option<Submitted> {
    let give_up = Instant::now() + REPORT_WINDOW;
    let mut backoff = Backoff::new(FAULT_RETRY_FIRST, FAULT_RETRY_MAX);
    let (mut noted_key, mut noted_fault) = (false, false);
    loop {
        if Instant::now() >= give_up {
            error!(%job_id, window_secs = REPORT_WINDOW.as_secs(), "Timeout report not sent within its window; given up.");
            return None;
        }
        let pause = match links
            .timeouts
            .send(ReportTimeout { job_id: job_id.0 })
            .await
        {
            Ok(Ok(Some(submitted))) => return Some(submitted),
            Ok(Ok(None)) => {
                info!(%job_id, "Timeout already reported or not needed.");
                return None;
            }
            Ok(Err(TxError::NotDue)) => NOT_DUE_PAUSE,
            Ok(Err(TxError::NoGasKey)) => {
                if !std::mem::replace(&mut noted_key, true) {
                    warn!(%job_id, "No gas key yet; the timeout report waits for /mutable-config.");
                }
                GAS_KEY_POLL
            }
            Ok(Err(error)) if error.is_infrastructure() => {
                if std::mem::replace(&mut noted_fault, true) {
                    debug!(%job_id, %error, "Timeout report still not sent; retrying.");
                } else {
                    warn!(%job_id, %error, "Timeout report not sent (infrastructure fault); trying again.");
                }
                backoff.next_delay()
            }
            Ok(Err(error)) => {
                error!(%job_id, %error, "Timeout report not sent.");
                return None;
            }
            Err(_) => {
                error!(%job_id, "Transaction sender stopped; timeout not reported.");
                return None;
            }
        };
        tokio::time::sleep(pause).await;
    }
}
