//! `TxSender` owns the gas key and its nonce, sends the node's transactions and follows each
//! one until it settles.
//!
//! Receives: [`SetGasKey`], [`SubmitOutput`], [`ReportTimeout`], [`ResyncNonce`]. Sends: JSON-RPC calls through
//! [`ChainRpc`]; answers each sent transaction's [`Submitted::included`] once it settles.
//! Invariants: the only holder of the gas key and the only owner of its nonce; sends are atomic
//! (one nonce each, in order), while following is not, so one slow transaction never blocks
//! the others. Every tick each pending transaction is checked (`follow`): mined, nonce taken by
//! someone else, dropped (re-broadcast), or pending too long (fees bumped by at least 12.5 %,
//! up to the cap; replaced by a cancellation if the call would now revert). A rotation takes
//! effect only after the new key's `pending` nonce is known; transactions sent with the old
//! key are still followed to the end. After a reorg ([`ResyncNonce`]) the nonce is taken from
//! the chain again, since the new chain may have lost our transactions (`resync`).

mod follow;
mod resync;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, AtomicResponse, Context, Handler, ResponseActFuture,
    WrapFuture,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::chain::ecdsa::address_of;
use crate::chain::rpc::{with_retries, ChainRpc};
use crate::chain::submit::{
    is_deadline_not_over, slash_calldata, submit_output_calldata, Draft, JobAnchor, SubmitError,
};
use crate::chain::tx_errors::TxErrorKind;
use crate::chain::wallet::GasWallet;
use crate::domain::{Address, TxHash};
use crate::messages::tx::{
    ReportTimeout, ResyncNonce, SetGasKey, SubmitOutput, Submitted, TxError,
};
use follow::{check, Finding, Purpose, Snapshot};

/// Retries of the nonce query after the first try (Marlin: 1 + 3, 5/25/125 ms).
const NONCE_RETRIES: u32 = 3;
const NONCE_RETRY_BASE: Duration = Duration::from_millis(5);
/// How often pending transactions are checked.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// The gas account's owner.
#[derive(Debug)]
pub struct TxSender {
    rpc: ChainRpc,
    chain_id: u64,
    jobs: Address,
    fee_cap: u128,
    account: Option<GasAccount>,
    /// Sent and not yet settled, by (account, nonce).
    pending: HashMap<(Address, u64), Pending>,
    checking: bool,
    /// A reorg was reported and the chain's nonce not read yet: the next send reads it first,
    /// so nothing goes out into a gap the reorg left.
    resync_due: bool,
}

/// The installed gas key and the next nonce to use with it.
#[derive(Debug)]
struct GasAccount {
    wallet: Arc<GasWallet>,
    next_nonce: u64,
}

/// One transaction being followed.
#[derive(Debug)]
struct Pending {
    tx: Snapshot,
    waiter: Option<oneshot::Sender<Result<TxHash, TxError>>>,
    warned_at_cap: bool,
}

impl Pending {
    /// Records a replacement sent at the same nonce; every hash stays watched, since any of
    /// them may be the one mined.
    fn replaced(&mut self, hash: TxHash, fees: crate::chain::fees::Fees) {
        self.tx.hashes.push(hash);
        self.tx.fees = fees;
        self.tx.last_sent = Instant::now();
    }
}

impl TxSender {
    /// Starts without a gas key; `/mutable-config` installs one. Transactions go to `jobs`
    /// and never offer more than `fee_cap` wei per gas.
    pub fn new(rpc: ChainRpc, chain_id: u64, jobs: Address, fee_cap: u128) -> Self {
        Self {
            rpc,
            chain_id,
            jobs,
            fee_cap,
            account: None,
            pending: HashMap::new(),
            checking: false,
            resync_due: false,
        }
    }
}

impl Actor for TxSender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(FOLLOW_INTERVAL, |act, ctx| act.follow_pending(ctx));
    }
}

impl Handler<SetGasKey> for TxSender {
    type Result = AtomicResponse<Self, Result<Address, TxError>>;

    fn handle(&mut self, msg: SetGasKey, _: &mut Context<Self>) -> Self::Result {
        let address = address_of(msg.key.signing_key().verifying_key());
        let rpc = self.rpc.clone();
        let fetch = async move {
            with_retries(NONCE_RETRIES, NONCE_RETRY_BASE, || {
                rpc.pending_nonce(address)
            })
            .await
        };
        AtomicResponse::new(Box::pin(fetch.into_actor(self).map(
            move |nonce, act, _| {
                let next_nonce = nonce.map_err(TxError::NonceUnavailable)?;
                let wallet = Arc::new(GasWallet::new(msg.key, act.chain_id));
                let replaced = act.account.replace(GasAccount { wallet, next_nonce });
                info!(
                    gas_address = %address,
                    nonce = next_nonce,
                    rotated = replaced.is_some(),
                    "Gas key installed."
                );
                Ok(address)
            },
        )))
    }
}

impl TxSender {
    /// Sends `data` to `Jobs` with the next nonce and starts following it. Atomic per call,
    /// so nonces go out in order.
    fn send_to_jobs(
        &mut self,
        data: Vec<u8>,
        anchor: Option<JobAnchor>,
    ) -> ResponseActFuture<Self, Result<Submitted, TxError>> {
        let Some(account) = self.account.as_ref() else {
            return Box::pin(actix::fut::ready(Err(TxError::NoGasKey)));
        };
        let wallet = Arc::clone(&account.wallet);
        let mut nonce = account.next_nonce;
        let resync_floor = self
            .resync_due
            .then(|| self.above_pending(wallet.address()));
        let rpc = self.rpc.clone();
        let jobs = self.jobs;
        let cap = self.fee_cap;
        let send = async move {
            let from = wallet.address();
            if let Some(anchor) = anchor {
                match rpc.is_canonical(anchor).await {
                    Ok(true) => {}
                    Ok(false) => return (wallet, Err(SubmitError::Orphaned)),
                    Err(error) => return (wallet, Err(error)),
                }
            }
            if let Some(floor) = resync_floor {
                match rpc.pending_nonce(from).await {
                    Ok(chain_nonce) => nonce = chain_nonce.max(floor),
                    Err(error) => return (wallet, Err(SubmitError::Query(error))),
                }
            }
            let mut result = send_new(&rpc, &wallet, jobs, &data, nonce, cap).await;
            if let Err(SubmitError::Rpc(TxErrorKind::NonceTooLow)) = result {
                // Someone else used the key: resynchronise from `pending` once and retry.
                if let Ok(nonce) = rpc.pending_nonce(from).await {
                    result = send_new(&rpc, &wallet, jobs, &data, nonce, cap).await;
                }
            }
            (wallet, result)
        };
        Box::pin(send.into_actor(self).map(move |(wallet, result), act, _| {
            let (draft, fees, tx_hash) = result?;
            let key = (draft.from, draft.nonce);
            act.resync_due = false;
            // A rotation while we were sending wins; the old key's transaction is still followed.
            if let Some(account) = act
                .account
                .as_mut()
                .filter(|account| account.wallet.address() == draft.from)
            {
                account.next_nonce = account.next_nonce.max(draft.nonce + 1);
            }
            info!(%tx_hash, nonce = draft.nonce, max_fee = fees.max_fee, "Transaction sent.");
            let (waiter, included) = oneshot::channel();
            act.pending.insert(
                key,
                Pending {
                    tx: Snapshot {
                        wallet,
                        draft,
                        fees,
                        hashes: vec![tx_hash],
                        last_sent: Instant::now(),
                        purpose: Purpose::Call,
                        anchor,
                    },
                    waiter: Some(waiter),
                    warned_at_cap: false,
                },
            );
            Ok(Submitted { tx_hash, included })
        }))
    }

    /// The nonce above every transaction of `from` we still follow (0 if none).
    fn above_pending(&self, from: Address) -> u64 {
        self.pending
            .keys()
            .filter(|(account, _)| *account == from)
            .map(|(_, nonce)| nonce + 1)
            .max()
            .unwrap_or(0)
    }

    /// Starts one round of checks unless the previous one is still running.
    fn follow_pending(&mut self, ctx: &mut Context<Self>) {
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
            futures::future::join_all(checks).await
        };
        ctx.spawn(round.into_actor(self).map(|findings, act, ctx| {
            act.checking = false;
            let mut forgotten = false;
            for (key, finding) in findings {
                forgotten |= act.apply(key, finding);
            }
            if forgotten {
                // A nonce we held is free again: read the chain's, filling a gap if needed.
                ctx.notify(ResyncNonce);
            }
        }));
    }

    /// Applies one check's finding; true if a pending transaction was forgotten without
    /// being settled on chain (its nonce must be read again).
    fn apply(&mut self, key: (Address, u64), finding: Finding) -> bool {
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
                Err(TxError::Submit(SubmitError::Reverted(None)))
            }
            Finding::NonceTaken => {
                warn!(
                    nonce,
                    "Another transaction of the gas account took our nonce."
                );
                Err(TxError::NonceTaken)
            }
            Finding::Rebroadcast => {
                info!(nonce, "Transaction dropped from the pool; sent again.");
                return false;
            }
            Finding::Bumped { hash, fees } => {
                info!(%hash, nonce, max_fee = fees.max_fee, priority = fees.priority, "Fees bumped.");
                pending.replaced(hash, fees);
                return false;
            }
            Finding::Cancelled { hash, fees, revert } => {
                warn!(%hash, nonce, "Pending call would now revert; replaced by a cancellation.");
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
                match replacement {
                    Some((hash, fees)) => {
                        warn!(%hash, nonce, "Pending output's job was orphaned by a reorg; replaced by a cancellation.");
                        pending.replaced(hash, fees);
                        pending.tx.draft = pending.tx.draft.cancellation();
                        pending.tx.purpose = Purpose::Cancel;
                    }
                    None => {
                        warn!(
                            nonce,
                            "Output dropped by a reorg that orphaned its job; not sent again."
                        );
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

/// Prices, drafts (simulate + estimate) and sends a new transaction; on a fee refusal (a base
/// fee spike between estimate and send) re-prices once.
async fn send_new(
    rpc: &ChainRpc,
    wallet: &GasWallet,
    to: Address,
    data: &[u8],
    nonce: u64,
    cap: u128,
) -> Result<(Draft, crate::chain::fees::Fees, TxHash), SubmitError> {
    let from = wallet.address();
    let draft = rpc.draft(from, to, data.to_vec(), nonce).await?;
    let fees = rpc.next_fees(cap).await?;
    match rpc.send_draft(wallet, &draft, fees).await {
        Err(SubmitError::Rpc(TxErrorKind::FeeTooLow)) => {
            let fresh = rpc.next_fees(cap).await?;
            let fees = fees
                .bumped(fresh, cap)
                .ok_or(SubmitError::Rpc(TxErrorKind::FeeTooLow))?;
            let hash = rpc.send_draft(wallet, &draft, fees).await?;
            Ok((draft, fees, hash))
        }
        Err(error) => Err(error),
        Ok(hash) => Ok((draft, fees, hash)),
    }
}

impl Handler<SubmitOutput> for TxSender {
    type Result = AtomicResponse<Self, Result<Submitted, TxError>>;

    fn handle(&mut self, msg: SubmitOutput, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.send_to_jobs(submit_output_calldata(&msg.call), Some(msg.anchor)))
    }
}

impl Handler<ReportTimeout> for TxSender {
    type Result = AtomicResponse<Self, Result<Option<Submitted>, TxError>>;

    fn handle(&mut self, msg: ReportTimeout, _: &mut Context<Self>) -> Self::Result {
        let send = self.send_to_jobs(slash_calldata(msg.job_id), None);
        AtomicResponse::new(Box::pin(send.map(|result, _, _| match result {
            Ok(submitted) => Ok(Some(submitted)),
            Err(TxError::Submit(SubmitError::Reverted(data)))
                if is_deadline_not_over(data.as_deref()) =>
            {
                Err(TxError::NotDue)
            }
            // The simulation reverted: already reported or completed. Nothing to pay for.
            Err(TxError::Submit(SubmitError::Reverted(_))) => Ok(None),
            Err(error) => Err(error),
        })))
    }
}
