//! `TxSender` owns the gas key and its nonce and sends the node's transactions.
//!
//! Receives: [`SetGasKey`], [`SubmitOutput`], [`ReportTimeout`], [`AwaitReceipt`]. Sends: JSON-RPC calls through
//! [`ChainRpc`]. Invariant: the only holder of the gas key and the only owner of its nonce. A
//! rotation takes effect only after the new key's `pending` nonce is known, so a failed
//! rotation leaves the old key in place.

use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AtomicResponse, Context, Handler, ResponseActFuture, ResponseFuture,
    WrapFuture,
};
use tracing::info;

use crate::chain::ecdsa::address_of;
use crate::chain::rpc::{with_retries, ChainRpc};
use crate::chain::submit::{
    is_deadline_not_over, slash_calldata, submit_output_calldata, SubmitError,
};
use crate::chain::tx_errors::TxErrorKind;
use crate::chain::wallet::GasWallet;
use crate::domain::Address;
use crate::domain::TxHash;
use crate::messages::tx::{AwaitReceipt, ReportTimeout, SetGasKey, SubmitOutput, TxError};

/// Retries of the nonce query after the first try (Marlin: 1 + 3, 5/25/125 ms).
const NONCE_RETRIES: u32 = 3;
const NONCE_RETRY_BASE: Duration = Duration::from_millis(5);

/// The gas account's owner.
#[derive(Debug)]
pub struct TxSender {
    rpc: ChainRpc,
    chain_id: u64,
    jobs: Address,
    account: Option<GasAccount>,
}

/// The installed gas key and the next nonce to use with it.
#[derive(Debug)]
struct GasAccount {
    wallet: GasWallet,
    next_nonce: u64,
}

impl TxSender {
    /// Starts without a gas key; `/mutable-config` installs one. Transactions go to `jobs`.
    pub fn new(rpc: ChainRpc, chain_id: u64, jobs: Address) -> Self {
        Self {
            rpc,
            chain_id,
            jobs,
            account: None,
        }
    }
}

impl Actor for TxSender {
    type Context = Context<Self>;
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
                let wallet = GasWallet::new(msg.key, act.chain_id);
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
    /// Sends `data` to `Jobs` with the next nonce. Atomic per call, so nonces go out in order;
    /// receipts are awaited separately ([`AwaitReceipt`]), so a slow inclusion never blocks
    /// the next send.
    fn send_to_jobs(&mut self, data: Vec<u8>) -> ResponseActFuture<Self, Result<TxHash, TxError>> {
        let Some(account) = self.account.take() else {
            return Box::pin(actix::fut::ready(Err(TxError::NoGasKey)));
        };
        let rpc = self.rpc.clone();
        let jobs = self.jobs;
        let send = async move {
            let mut account = account;
            let nonce = account.next_nonce;
            let mut result = rpc
                .send_call(&account.wallet, jobs, data.clone(), nonce)
                .await;
            if let Err(SubmitError::Rpc(TxErrorKind::NonceTooLow)) = result {
                // Someone else used the key: resynchronise from `pending` once and retry.
                if let Ok(nonce) = rpc.pending_nonce(account.wallet.address()).await {
                    account.next_nonce = nonce;
                    result = rpc.send_call(&account.wallet, jobs, data, nonce).await;
                }
            }
            if result.is_ok() {
                account.next_nonce += 1;
            }
            (account, result)
        };
        Box::pin(send.into_actor(self).map(|(account, result), act, _| {
            let next_nonce = account.next_nonce;
            // A rotation while we were sending wins; otherwise the account comes back.
            act.account.get_or_insert(account);
            let tx_hash = result?;
            info!(%tx_hash, next_nonce, "Transaction sent.");
            Ok(tx_hash)
        }))
    }
}

impl Handler<SubmitOutput> for TxSender {
    type Result = AtomicResponse<Self, Result<TxHash, TxError>>;

    fn handle(&mut self, msg: SubmitOutput, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.send_to_jobs(submit_output_calldata(&msg.call)))
    }
}

impl Handler<ReportTimeout> for TxSender {
    type Result = AtomicResponse<Self, Result<Option<TxHash>, TxError>>;

    fn handle(&mut self, msg: ReportTimeout, _: &mut Context<Self>) -> Self::Result {
        let send = self.send_to_jobs(slash_calldata(msg.job_id));
        AtomicResponse::new(Box::pin(send.map(|result, _, _| match result {
            Ok(tx_hash) => Ok(Some(tx_hash)),
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

impl Handler<AwaitReceipt> for TxSender {
    type Result = ResponseFuture<Result<(), TxError>>;

    fn handle(&mut self, msg: AwaitReceipt, _: &mut Context<Self>) -> Self::Result {
        let rpc = self.rpc.clone();
        Box::pin(async move { Ok(rpc.wait_success(msg.tx_hash, msg.wait).await?) })
    }
}
