//! The follow tick: every pending transaction checked at once ([`super::follow::check`]), the
//! findings applied to the actor's table (settle, re-broadcast, bump, cancel, forget), waiters
//! answered, and the gauges (pending count, oldest pending in blocks, balance) refreshed.
//!
//! A round also reads the head block number (for the age in blocks), and after a round that
//! saw one of ours mined, the gas account's balance: a balance only moves when we pay, so
//! reading it after receipts keeps the gauge exact without a query per scrape.

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};
use tracing::{debug, info, warn};

use super::follow::{check, Finding, Purpose, Snapshot};
use super::TxSender;
use crate::chain::submit::SubmitError;
use crate::domain::Address;
use crate::messages::tx::{ResyncNonce, TxError};
use crate::metrics::chain::TxFailure;

impl TxSender {
    /// Starts one round of checks unless the previous one is still running.
    pub(super) fn follow_pending(&mut self, ctx: &mut Context<Self>) {
        if self.checking || self.pending.is_empty() {
            return;
        }
        self.checking = true;
        let rpc = self.rpc.clone();
        let cap = self.fee_cap;
        let snapshots: Vec<((Address, u64), Snapshot)> = self
            .pending
            .iter()
            .map(|(key, pending)| (*key, pending.tx.clone()))
            .collect();
        let round = async move {
            let checks = snapshots.into_iter().map(|(key, tx)| {
                let rpc = rpc.clone();
                async move { (key, check(rpc, tx, cap).await) }
            });
            tokio::join!(futures::future::join_all(checks), rpc.block_number())
        };
        ctx.spawn(round.into_actor(self).map(|(findings, head), act, ctx| {
            act.checking = false;
            if let Ok(head) = head {
                act.head = Some(head);
            }
            let mut forgotten = false;
            let mut mined = false;
            for (key, finding) in findings {
                mined |= matches!(finding, Finding::Mined { .. });
                forgotten |= act.apply(key, finding);
            }
            act.publish_pending();
            if mined {
                act.refresh_balance();
            }
            if forgotten {
                // A nonce we held is free again: read the chain's, filling a gap if needed.
                ctx.notify(ResyncNonce);
            }
        }));
    }

    /// Sets the pending gauges: how many, and how many blocks the oldest has waited.
    pub(super) fn publish_pending(&mut self) {
        let head = self.head;
        let mut oldest = None::<u64>;
        for pending in self.pending.values_mut() {
            let sent = *pending.sent_block.get_or_insert_with(|| head.unwrap_or(0));
            oldest = Some(oldest.map_or(sent, |low| low.min(sent)));
        }
        let waited = match (head, oldest) {
            (Some(head), Some(oldest)) => head.saturating_sub(oldest),
            _ => 0,
        };
        self.metrics.chain.pending(self.pending.len(), waited);
    }

    /// Reads the gas account's balance in the background into its gauge.
    pub(super) fn refresh_balance(&self) {
        let Some(account) = self.account.as_ref() else {
            return;
        };
        let address = account.wallet.address();
        let rpc = self.rpc.clone();
        let metrics = std::sync::Arc::clone(&self.metrics);
        actix::spawn(async move {
            match rpc.balance(address).await {
                Ok(wei) => metrics.chain.gas_balance(wei),
                Err(error) => debug!(%error, "Gas balance not read; next receipt."),
            }
        });
    }

    /// Applies one check's finding; true if a pending transaction was forgotten without
    /// being settled on chain (its nonce must be read again).
    fn apply(&mut self, key: (Address, u64), finding: Finding) -> bool {
        let chain = &self.metrics.chain;
        let Some(pending) = self.pending.get_mut(&key) else {
            return false;
        };
        let nonce = key.1;
        let settled = match finding {
            Finding::Waiting => return false,
            Finding::Unknown(error) => {
                debug!(nonce, %error, "Could not check a pending transaction; next tick.");
                return false;
            }
            Finding::Mined {
                hash,
                success: true,
            } => Ok(hash),
            Finding::Mined {
                hash,
                success: false,
            } => {
                warn!(%hash, nonce, "Transaction reverted on inclusion.");
                chain.failed(TxFailure::Reverted);
                Err(TxError::Submit(SubmitError::Reverted(None)))
            }
            Finding::NonceTaken => {
                warn!(
                    nonce,
                    "Another transaction of the gas account took our nonce."
                );
                chain.failed(TxFailure::NonceTaken);
                Err(TxError::NonceTaken)
            }
            Finding::Rebroadcast => {
                info!(nonce, "Transaction dropped from the pool; sent again.");
                chain.dropped();
                return false;
            }
            Finding::Bumped { hash, fees } => {
                info!(%hash, nonce, max_fee = fees.max_fee, priority = fees.priority, "Fees bumped.");
                chain.bumped();
                pending.replaced(hash, fees);
                return false;
            }
            Finding::Cancelled { hash, fees, revert } => {
                warn!(%hash, nonce, "Pending call would now revert; replaced by a cancellation.");
                chain.replaced();
                chain.failed(TxFailure::Cancelled);
                pending.replaced(hash, fees);
                pending.tx.draft = pending.tx.draft.cancellation();
                pending.tx.purpose = Purpose::Cancel;
                if let Some(waiter) = pending.waiter.take() {
                    let _ = waiter.send(Err(TxError::Submit(SubmitError::Reverted(revert))));
                }
                return false;
            }
            Finding::Orphaned { replacement } => {
                let waiter = pending.waiter.take();
                let forgotten = replacement.is_none();
                chain.failed(TxFailure::Orphaned);
                match replacement {
                    Some((hash, fees)) => {
                        warn!(%hash, nonce, "Pending output's job was orphaned by a reorg; replaced by a cancellation.");
                        chain.replaced();
                        pending.replaced(hash, fees);
                        pending.tx.draft = pending.tx.draft.cancellation();
                        pending.tx.purpose = Purpose::Cancel;
                    }
                    None => {
                        warn!(
                            nonce,
                            "Output dropped by a reorg that orphaned its job; not sent again."
                        );
                        chain.dropped();
                        self.pending.remove(&key);
                    }
                }
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Err(TxError::Submit(SubmitError::Orphaned)));
                }
                return forgotten;
            }
            Finding::AtCap => {
                if !std::mem::replace(&mut pending.warned_at_cap, true) {
                    warn!(
                        nonce,
                        max_fee = pending.tx.fees.max_fee,
                        "Transaction pending at the fee cap (max_fee_cap_gwei)."
                    );
                }
                return false;
            }
        };
        if let Some(mut pending) = self.pending.remove(&key) {
            if let Some(waiter) = pending.waiter.take() {
                let _ = waiter.send(settled);
            }
        }
        false
    }
}
