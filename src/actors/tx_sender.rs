//! `TxSender` owns the gas key and its nonce; later it sends `submitOutput` and
//! `slashOnExecutionTimeout` transactions.
//!
//! Receives: [`SetGasKey`]. Sends: JSON-RPC calls through [`ChainRpc`]. Invariant: the only
//! holder of the gas key and the only owner of its nonce. A rotation takes effect only after
//! the new key's `pending` nonce is known, so a failed rotation leaves the old key in place.

use std::time::Duration;

use actix::{Actor, ActorFutureExt, AtomicResponse, Context, Handler, WrapFuture};
use tracing::info;

use crate::chain::ecdsa::address_of;
use crate::chain::rpc::{with_retries, ChainRpc};
use crate::chain::wallet::GasWallet;
use crate::domain::Address;
use crate::messages::tx::{SetGasKey, TxError};

/// Retries of the nonce query after the first try (Marlin: 1 + 3, 5/25/125 ms).
const NONCE_RETRIES: u32 = 3;
const NONCE_RETRY_BASE: Duration = Duration::from_millis(5);

/// The gas account's owner.
#[derive(Debug)]
pub struct TxSender {
    rpc: ChainRpc,
    chain_id: u64,
    account: Option<GasAccount>,
}

/// The installed gas key and the next nonce to use with it.
#[derive(Debug)]
#[expect(
    dead_code,
    reason = "read by the transaction sending of the chain job loop"
)]
struct GasAccount {
    wallet: GasWallet,
    next_nonce: u64,
}

impl TxSender {
    /// Starts without a gas key; `/mutable-config` installs one.
    pub fn new(rpc: ChainRpc, chain_id: u64) -> Self {
        Self {
            rpc,
            chain_id,
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
