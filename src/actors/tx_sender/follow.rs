//! Following one sent transaction until it settles: the check `TxSender` runs on every pending
//! transaction each tick, as a plain async function over a snapshot, returning what happened
//! for the actor to apply.
//!
//! Order of questions: mined (under any of its hashes)? nonce taken by another transaction?
//! job orphaned by a reorg (an output is never sent again for a job whose block is gone:
//! replaced by a cancellation if still in the pool, forgotten if dropped)? dropped from the pool
//! (re-broadcast the same signed transaction)? pending too long (if the call would now revert,
//! replace it with a cancellation; otherwise bump both fees)?

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::chain::fees::Fees;
use crate::chain::rpc::ChainRpc;
use crate::chain::submit::{Draft, JobAnchor, SubmitError};
use crate::chain::wallet::GasWallet;
use crate::domain::TxHash;

/// How long a transaction may stay pending before its fees are bumped.
pub(super) const BUMP_AFTER: Duration = Duration::from_secs(10);

/// What a pending transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The call a caller waits for.
    Call,
    /// A zero-value self-transfer freeing the nonce of a call that would now revert.
    Cancel,
}

/// A snapshot of one pending transaction, taken for a check.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub(super) wallet: Arc<GasWallet>,
    pub(super) draft: Draft,
    pub(super) fees: Fees,
    pub(super) hashes: Vec<TxHash>,
    pub(super) last_sent: Instant,
    pub(super) purpose: Purpose,
    /// The block of the job an output answers: the output is wanted only while it is canonical.
    pub(super) anchor: Option<JobAnchor>,
}

/// What the check found.
#[derive(Debug)]
pub(super) enum Finding {
    /// Still pending, nothing to do.
    Waiting,
    /// Included; `success` from the receipt's status.
    Mined { hash: TxHash, success: bool },
    /// The account's nonce moved past ours without any of our hashes: someone else used it.
    NonceTaken,
    /// Sent again after the pool dropped it.
    Rebroadcast,
    /// Replaced with higher fees.
    Bumped { hash: TxHash, fees: Fees },
    /// The call would revert now; replaced by a cancellation with higher fees.
    Cancelled {
        hash: TxHash,
        fees: Fees,
        revert: Option<Vec<u8>>,
    },
    /// The job it answers was orphaned by a reorg: replaced by a cancellation if it was still
    /// in the pool, or, if dropped, not sent again.
    Orphaned { replacement: Option<(TxHash, Fees)> },
    /// Pending too long but the fee cap leaves no room for a bump.
    AtCap,
    /// A check failed (RPC down); the next tick tries again.
    Unknown(SubmitError),
}

/// Checks one transaction and acts on what it finds.
pub(super) async fn check(rpc: ChainRpc, tx: Snapshot, fee_cap: u128) -> Finding {
    match check_inner(&rpc, &tx, fee_cap).await {
        Ok(finding) => finding,
        Err(error) => Finding::Unknown(error),
    }
}

async fn check_inner(rpc: &ChainRpc, tx: &Snapshot, fee_cap: u128) -> Result<Finding, SubmitError> {
    if let Some(finding) = mined(rpc, &tx.hashes).await? {
        return Ok(finding);
    }
    if rpc.latest_nonce(tx.draft.from).await? > tx.draft.nonce {
        // One of ours may have been mined between the two questions: ask once more.
        return Ok(mined(rpc, &tx.hashes).await?.unwrap_or(Finding::NonceTaken));
    }
    let newest = tx.hashes.last().copied();
    if let Some(anchor) = tx.anchor.filter(|_| tx.purpose == Purpose::Call) {
        if !rpc.is_canonical(anchor).await? {
            let in_pool = match newest {
                Some(newest) => rpc.is_known(newest).await?,
                None => false,
            };
            if !in_pool {
                return Ok(Finding::Orphaned { replacement: None });
            }
            let fresh = rpc.next_fees(fee_cap).await?;
            let fees = tx.fees.bumped(fresh, fee_cap).unwrap_or(tx.fees);
            let hash = rpc
                .send_draft(&tx.wallet, &tx.draft.cancellation(), fees)
                .await?;
            return Ok(Finding::Orphaned {
                replacement: Some((hash, fees)),
            });
        }
    }
    if let Some(newest) = newest {
        if !rpc.is_known(newest).await? {
            rpc.send_draft(&tx.wallet, &tx.draft, tx.fees).await?;
            return Ok(Finding::Rebroadcast);
        }
    }
    if tx.last_sent.elapsed() < BUMP_AFTER {
        return Ok(Finding::Waiting);
    }
    let fresh = rpc.next_fees(fee_cap).await?;
    let Some(fees) = tx.fees.bumped(fresh, fee_cap) else {
        return Ok(Finding::AtCap);
    };
    if tx.purpose == Purpose::Call {
        if let Err(SubmitError::Reverted(revert)) = rpc
            .simulate(tx.draft.from, tx.draft.to, &tx.draft.data)
            .await
        {
            let hash = rpc
                .send_draft(&tx.wallet, &tx.draft.cancellation(), fees)
                .await?;
            return Ok(Finding::Cancelled { hash, fees, revert });
        }
    }
    let hash = rpc.send_draft(&tx.wallet, &tx.draft, fees).await?;
    Ok(Finding::Bumped { hash, fees })
}

async fn mined(rpc: &ChainRpc, hashes: &[TxHash]) -> Result<Option<Finding>, SubmitError> {
    for hash in hashes.iter().rev() {
        if let Some(success) = rpc.receipt_status(*hash).await? {
            return Ok(Some(Finding::Mined {
                hash: *hash,
                success,
            }));
        }
    }
    Ok(None)
}
