//! After a reorg: the gas account's nonce as the new chain has it, and fillers for the nonces
//! it lost below our pending transactions.
//!
//! A reorg can remove blocks holding our transactions: the chain's nonce goes back (4 → 3) and
//! a counter that kept counting up would send every later transaction into a gap, where it
//! waits for ever. `TxSender` therefore takes the `pending` nonce from the chain again. What the
//! new chain lost is not re-sent here: a lost `submitOutput` is re-signed and re-sent by the
//! scheduler only if it is still wanted (a re-created job is a new job). Pending outputs whose
//! job's block is gone and which the pool dropped are forgotten first (never sent again: the
//! signed output would answer a job created again with the same id). If our own pending
//! transactions still sit above the new nonce, the lost nonces below them are filled with
//! zero-value self-transfers so they are not stuck behind the gap.

use std::sync::Arc;
use std::time::Duration;

use actix::{ActorFutureExt, AsyncContext, AtomicResponse, Context, Handler, WrapFuture};
use tokio::time::Instant;
use tracing::warn;

use super::follow::{Purpose, Snapshot};
use super::{TxSender, NONCE_RETRIES, NONCE_RETRY_BASE};
use crate::chain::fees::Fees;
use crate::chain::rpc::{with_retries, ChainRpc};
use crate::chain::submit::{Draft, JobAnchor, SubmitError};
use crate::chain::wallet::GasWallet;
use crate::domain::TxHash;
use crate::messages::tx::{ResyncNonce, TxError};
use crate::metrics::chain::TxFailure;

/// A resynchronisation the RPC could not answer is tried again after this long.
const RESYNC_RETRY: Duration = Duration::from_secs(1);

/// What the chain says after a reorg.
#[derive(Debug)]
struct Resynced {
    /// The key the answer is for (a rotation meanwhile makes it moot).
    wallet: Arc<GasWallet>,
    /// The account's `pending` nonce on the new chain.
    chain_nonce: u64,
    /// Pending outputs whose job was orphaned and which the pool no longer holds.
    orphaned: Vec<u64>,
    /// Fillers sent for lost nonces below our lowest pending transaction.
    fillers: Vec<(Draft, Fees, TxHash)>,
}

/// One of our pending transactions, as the resync needs it.
#[derive(Debug)]
struct PendingView {
    nonce: u64,
    newest: Option<TxHash>,
    /// Set for outputs (calls with a job's block).
    anchor: Option<JobAnchor>,
}

/// Forgets orphaned, dropped outputs, reads the account's nonce from the new chain and fills
/// any gap below our lowest remaining pending transaction.
async fn resync(
    rpc: ChainRpc,
    wallet: Arc<GasWallet>,
    pending: Vec<PendingView>,
    fee_cap: u128,
) -> Result<Resynced, SubmitError> {
    let from = wallet.address();
    let mut orphaned = Vec::new();
    let mut lowest_pending = None::<u64>;
    for view in pending {
        let gone = match (view.anchor, view.newest) {
            (Some(anchor), Some(newest)) => {
                !rpc.is_canonical(anchor).await? && !rpc.is_known(newest).await?
            }
            _ => false,
        };
        if gone {
            orphaned.push(view.nonce);
        } else {
            lowest_pending = Some(lowest_pending.map_or(view.nonce, |low| low.min(view.nonce)));
        }
    }
    let chain_nonce =
        with_retries(NONCE_RETRIES, NONCE_RETRY_BASE, || rpc.pending_nonce(from)).await?;
    let mut fillers = Vec::new();
    for nonce in chain_nonce..lowest_pending.unwrap_or(chain_nonce) {
        let draft = Draft::filler(from, nonce);
        let fees = rpc.next_fees(fee_cap).await?;
        let hash = rpc.send_draft(&wallet, &draft, fees).await?;
        fillers.push((draft, fees, hash));
    }
    Ok(Resynced {
        wallet,
        chain_nonce,
        orphaned,
        fillers,
    })
}

impl Handler<ResyncNonce> for TxSender {
    type Result = AtomicResponse<Self, ()>;

    /// Atomic like a send, so no transaction goes out with the old counter meanwhile.
    fn handle(&mut self, _: ResyncNonce, _: &mut Context<Self>) -> Self::Result {
        let Some(account) = self.account.as_ref() else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        };
        self.resync_due = true;
        let wallet = Arc::clone(&account.wallet);
        let from = wallet.address();
        let pending = self
            .pending
            .iter()
            .filter(|((account, _), _)| *account == from)
            .map(|((_, nonce), pending)| PendingView {
                nonce: *nonce,
                newest: pending.tx.hashes.last().copied(),
                anchor: pending
                    .tx
                    .anchor
                    .filter(|_| pending.tx.purpose == Purpose::Call),
            })
            .collect();
        let resync = resync(self.rpc.clone(), wallet, pending, self.fee_cap);
        AtomicResponse::new(Box::pin(resync.into_actor(self).map(
            |result, act, ctx| match result {
                Ok(resynced) => act.apply_resync(resynced),
                Err(error) => {
                    warn!(%error, "Nonce not resynchronised after a reorg; trying again.");
                    ctx.notify_later(ResyncNonce, RESYNC_RETRY);
                }
            },
        )))
    }
}

impl TxSender {
    /// Takes the chain's nonce (above our own pending transactions and the fillers) and
    /// follows the fillers like any other transaction.
    fn apply_resync(&mut self, resynced: Resynced) {
        let from = resynced.wallet.address();
        for nonce in resynced.orphaned {
            if let Some(mut orphan) = self.pending.remove(&(from, nonce)) {
                warn!(
                    nonce,
                    "Output dropped by a reorg that orphaned its job; not sent again."
                );
                self.metrics.chain.dropped();
                self.metrics.chain.failed(TxFailure::Orphaned);
                if let Some(waiter) = orphan.waiter.take() {
                    let _ = waiter.send(Err(TxError::Submit(SubmitError::Orphaned)));
                }
            }
        }
        for (draft, fees, hash) in resynced.fillers {
            warn!(nonce = draft.nonce, %hash, "A reorg removed our transaction at this nonce; filled with a self-transfer.");
            self.metrics.chain.sent();
            let tx = Snapshot {
                wallet: Arc::clone(&resynced.wallet),
                draft,
                fees,
                hashes: vec![hash],
                last_sent: Instant::now(),
                purpose: Purpose::Cancel,
                anchor: None,
            };
            self.follow((from, tx.draft.nonce), tx, None);
        }
        self.publish_pending();
        let above_pending = self.above_pending(from);
        let Some(account) = self
            .account
            .as_mut()
            .filter(|account| account.wallet.address() == from)
        else {
            return;
        };
        let next = resynced.chain_nonce.max(above_pending);
        if next != account.next_nonce {
            warn!(
                from = account.next_nonce,
                to = next,
                "Gas account nonce resynchronised from the chain after a reorg."
            );
        }
        account.next_nonce = next;
        self.metrics.chain.nonce(next);
        self.resync_due = false;
    }
}
