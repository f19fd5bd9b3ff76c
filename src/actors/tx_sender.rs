//! `TxSender` owns the gas key and its nonce, sends the node's transactions and follows each
//! one until it settles.
//!
//! Receives: [`SetGasKey`], [`SubmitOutput`], [`ReportTimeout`], [`ResyncNonce`],
//! [`PendingCount`]. Sends: JSON-RPC calls through [`ChainRpc`]; answers each sent
//! transaction's [`Submitted::included`] once it settles; counts into [`ChainMetrics`].
//! Invariants: the only holder of the gas key and the only owner of its nonce. A submission
//! is prepared outside the actor's lock (job block still canonical, simulation, gas estimate,
//! fees: one round trip, many submissions at once, `prepare`), then sent atomically (the nonce
//! taken, signed, one `eth_sendRawTransaction`: nonces go out in order, one after another,
//! while earlier ones are still pending). Following is not atomic either, so one slow
//! transaction never blocks the others. Every tick each pending transaction is checked
//! (`follow`, `settle`): mined, nonce taken by someone else, dropped (re-broadcast), or
//! pending too long (fees bumped by at least 12.5 %, up to the cap; replaced by a
//! cancellation if the call would now revert). A rotation takes effect only after the new
//! key's `pending` nonce is known; transactions sent with the old key are still followed to
//! the end. After a reorg ([`ResyncNonce`]) the nonce is taken from the chain again, since the
//! new chain may have lost our transactions (`resync`).
//!
//! [`ChainMetrics`]: crate::metrics::chain::ChainMetrics
//! [`ResyncNonce`]: crate::messages::tx::ResyncNonce

mod follow;
mod prepare;
mod resync;
mod settle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, AtomicResponse, Context, Handler, Message,
    ResponseActFuture, ResponseFuture, WrapFuture,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::info;

use crate::chain::ecdsa::address_of;
use crate::chain::rpc::{with_retries, ChainRpc};
use crate::chain::submit::{
    is_deadline_not_over, slash_calldata, submit_output_calldata, JobAnchor, SubmitError,
};
use crate::chain::tx_errors::TxErrorKind;
use crate::chain::wallet::GasWallet;
use crate::domain::{Address, TxHash};
use crate::messages::tx::{
    PendingCount, ReportTimeout, SetGasKey, SubmitOutput, Submitted, TxError,
};
use crate::metrics::chain::TxFailure;
use crate::metrics::Metrics;
use follow::{Purpose, Snapshot};
use prepare::{prepare, send_at, Prepared, Priced, Request};

/// Retries of the nonce query after the first try (Marlin: 1 + 3, 5/25/125 ms).
const NONCE_RETRIES: u32 = 3;
const NONCE_RETRY_BASE: Duration = Duration::from_millis(5);
/// How often pending transactions are checked.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// An extra check this soon after a send, so a chain that mines at once (anvil, fast L2s)
/// has the inclusion reported without waiting for the next tick.
const FIRST_CHECK: Duration = Duration::from_millis(100);

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
    /// Submissions being prepared (not sent yet); shared with their preparation tasks.
    preparing: Arc<AtomicUsize>,
    /// The last fee offer a node accepted, handed to preparations while fresh.
    fees: Option<Priced>,
    /// The head block number as the last follow round read it.
    head: Option<u64>,
    /// An extra check after a send is scheduled.
    first_check_due: bool,
    metrics: Arc<Metrics>,
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
    /// The head when it was sent (the next follow round's, if none was known yet).
    sent_block: Option<u64>,
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
    pub fn new(
        rpc: ChainRpc,
        chain_id: u64,
        jobs: Address,
        fee_cap: u128,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            rpc,
            chain_id,
            jobs,
            fee_cap,
            account: None,
            pending: HashMap::new(),
            checking: false,
            resync_due: false,
            preparing: Arc::default(),
            fees: None,
            head: None,
            first_check_due: false,
            metrics,
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
                act.metrics.chain.nonce(next_nonce);
                act.refresh_balance();
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

/// A prepared submission's turn to be sent (from the submission's own task to the actor).
struct SendPrepared(Prepared);

impl Message for SendPrepared {
    type Result = Result<Submitted, TxError>;
}

/// Counts a submission as being prepared until dropped (sent, refused or abandoned).
struct Preparing(Arc<AtomicUsize>);

impl Preparing {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Preparing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TxSender {
    /// Prepares a call to `Jobs` in its own task, outside the actor's lock, then queues it
    /// for [`Self::send_prepared`].
    fn submit(
        &mut self,
        data: Vec<u8>,
        anchor: Option<JobAnchor>,
        address: Addr<Self>,
    ) -> ResponseFuture<Result<Submitted, TxError>> {
        let Some(account) = self.account.as_ref() else {
            return Box::pin(std::future::ready(Err(TxError::NoGasKey)));
        };
        let request = Request {
            from: account.wallet.address(),
            to: self.jobs,
            data,
            anchor,
            cap: self.fee_cap,
            fees: self.fees.filter(Priced::is_fresh),
        };
        let preparing = Preparing::start(&self.preparing);
        let rpc = self.rpc.clone();
        Box::pin(async move {
            let prepared = prepare(rpc, request).await?;
            let sent = address.send(SendPrepared(prepared)).await;
            drop(preparing);
            sent.map_err(|_| TxError::Abandoned)?
        })
    }

    /// Sends a prepared call with the next nonce and starts following it. Atomic per call,
    /// so nonces go out in order.
    fn send_prepared(
        &mut self,
        prepared: Prepared,
    ) -> ResponseActFuture<Self, Result<Submitted, TxError>> {
        let Some(account) = self.account.as_ref() else {
            return Box::pin(actix::fut::ready(Err(TxError::NoGasKey)));
        };
        let wallet = Arc::clone(&account.wallet);
        let nonce = account.next_nonce;
        let resync_floor = self
            .resync_due
            .then(|| self.above_pending(wallet.address()));
        let (rpc, cap) = (self.rpc.clone(), self.fee_cap);
        let anchor = prepared.anchor;
        let send = async move {
            let from = wallet.address();
            let mut draft = prepared.draft(from, nonce);
            if let Some(floor) = resync_floor {
                match rpc.pending_nonce(from).await {
                    Ok(chain_nonce) => draft.nonce = chain_nonce.max(floor),
                    Err(error) => return (wallet, Err(SubmitError::Query(error))),
                }
            }
            let mut result = send_at(&rpc, &wallet, &draft, prepared.fees, cap).await;
            if let Err(SubmitError::Rpc(TxErrorKind::NonceTooLow)) = result {
                // Someone else used the key: resynchronise from `pending` once and retry.
                if let Ok(chain_nonce) = rpc.pending_nonce(from).await {
                    draft.nonce = chain_nonce;
                    result = send_at(&rpc, &wallet, &draft, prepared.fees, cap).await;
                }
            }
            (wallet, result.map(|(fees, hash)| (draft, fees, hash)))
        };
        Box::pin(send.into_actor(self).map(move |(wallet, result), act, ctx| {
            let (draft, priced, tx_hash) = result.inspect_err(|_| {
                act.metrics.chain.failed(TxFailure::SendFailed);
            })?;
            if act.fees.is_none_or(|last| last.at < priced.at) {
                act.fees = Some(priced);
            }
            let fees = priced.fees;
            let key = (draft.from, draft.nonce);
            act.resync_due = false;
            // A rotation while we were sending wins; the old key's transaction is still followed.
            if let Some(account) = act
                .account
                .as_mut()
                .filter(|account| account.wallet.address() == draft.from)
            {
                account.next_nonce = account.next_nonce.max(draft.nonce + 1);
                act.metrics.chain.nonce(account.next_nonce);
            }
            info!(%tx_hash, nonce = draft.nonce, max_fee = fees.max_fee, "Transaction sent.");
            act.metrics.chain.sent();
            let (waiter, included) = oneshot::channel();
            let tx = Snapshot {
                wallet,
                draft,
                fees,
                hashes: vec![tx_hash],
                last_sent: Instant::now(),
                purpose: Purpose::Call,
                anchor,
            };
            act.follow(key, tx, Some(waiter));
            act.publish_pending();
            if !std::mem::replace(&mut act.first_check_due, true) {
                ctx.run_later(FIRST_CHECK, |act, ctx| {
                    act.first_check_due = false;
                    act.follow_pending(ctx);
                });
            }
            Ok(Submitted { tx_hash, included })
        }))
    }

    /// Starts following a sent transaction.
    fn follow(
        &mut self,
        key: (Address, u64),
        tx: Snapshot,
        waiter: Option<oneshot::Sender<Result<TxHash, TxError>>>,
    ) {
        let pending = Pending {
            tx,
            waiter,
            warned_at_cap: false,
            sent_block: self.head,
        };
        self.pending.insert(key, pending);
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
}

impl Handler<SendPrepared> for TxSender {
    type Result = AtomicResponse<Self, Result<Submitted, TxError>>;

    fn handle(&mut self, msg: SendPrepared, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.send_prepared(msg.0))
    }
}

impl Handler<SubmitOutput> for TxSender {
    type Result = ResponseFuture<Result<Submitted, TxError>>;

    fn handle(&mut self, msg: SubmitOutput, ctx: &mut Context<Self>) -> Self::Result {
        let data = submit_output_calldata(&msg.call);
        self.submit(data, Some(msg.anchor), ctx.address())
    }
}

impl Handler<ReportTimeout> for TxSender {
    type Result = ResponseFuture<Result<Option<Submitted>, TxError>>;

    fn handle(&mut self, msg: ReportTimeout, ctx: &mut Context<Self>) -> Self::Result {
        let send = self.submit(slash_calldata(msg.job_id), None, ctx.address());
        Box::pin(async move {
            match send.await {
                Ok(submitted) => Ok(Some(submitted)),
                Err(TxError::Submit(SubmitError::Reverted(data)))
                    if is_deadline_not_over(data.as_deref()) =>
                {
                    Err(TxError::NotDue)
                }
                // The simulation reverted: already reported or completed. Nothing to pay for.
                Err(TxError::Submit(SubmitError::Reverted(_))) => Ok(None),
                Err(error) => Err(error),
            }
        })
    }
}

impl Handler<PendingCount> for TxSender {
    type Result = usize;

    fn handle(&mut self, _: PendingCount, _: &mut Context<Self>) -> usize {
        self.pending.len() + self.preparing.load(Ordering::Relaxed)
    }
}
