//! Getting a transaction ready without its nonce, so that many can be prepared at once and
//! only the send itself is serialised: the job's block still canonical, the call simulated,
//! its gas estimated and the fees priced — four JSON-RPC calls issued together, one round
//! trip in all. Then, holding the nonce, [`send_at`] signs and sends (one more call; a fee
//! refusal re-prices once).
//!
//! Fees are shared through a [`FeeCache`]: one `eth_feeHistory` answers every transaction
//! priced within [`FEE_TTL`] (a burst of twenty is priced about once). A base fee that jumped
//! meanwhile makes the node refuse the offer as too low, and the refusal re-prices from the
//! chain, so a stale cache costs one extra call, never a stuck transaction.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::chain::fees::Fees;
use crate::chain::rpc::ChainRpc;
use crate::chain::submit::{Draft, JobAnchor, SubmitError};
use crate::chain::tx_errors::TxErrorKind;
use crate::chain::wallet::GasWallet;
use crate::domain::{Address, TxHash};

/// How long a fee offer is reused: under one block on every chain we target.
pub(super) const FEE_TTL: Duration = Duration::from_millis(500);

/// A call ready to be sent but for its nonce.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) to: Address,
    pub(super) data: Vec<u8>,
    pub(super) gas: u64,
    pub(super) fees: Fees,
    /// The job's block, for outputs; followed until settled.
    pub(super) anchor: Option<JobAnchor>,
}

impl Prepared {
    /// The draft at `nonce` from `from`.
    pub(super) fn draft(&self, from: Address, nonce: u64) -> Draft {
        Draft {
            from,
            to: self.to,
            data: self.data.clone(),
            nonce,
            gas: self.gas,
        }
    }
}

/// The last fee offer and when it was priced, shared by every preparation. The lock is never
/// held across a query: callers that miss together each ask (a few calls at a burst's start,
/// none after), and an RPC outage costs each caller one timeout, not a queue of them.
#[derive(Debug, Default)]
pub(super) struct FeeCache {
    last: std::sync::Mutex<Option<(Instant, Fees)>>,
}

impl FeeCache {
    /// The cached offer if fresh, else a new one.
    pub(super) async fn get(&self, rpc: &ChainRpc, cap: u128) -> Result<Fees, SubmitError> {
        let cached = *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match cached {
            Some((priced, fees)) if priced.elapsed() < FEE_TTL => Ok(fees),
            _ => self.refresh(rpc, cap).await,
        }
    }

    /// A fresh offer from the chain, remembered for the next callers.
    pub(super) async fn refresh(&self, rpc: &ChainRpc, cap: u128) -> Result<Fees, SubmitError> {
        let fees = rpc.next_fees(cap).await?;
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((Instant::now(), fees));
        Ok(fees)
    }
}

/// What to prepare.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) from: Address,
    pub(super) to: Address,
    pub(super) data: Vec<u8>,
    pub(super) anchor: Option<JobAnchor>,
    pub(super) cap: u128,
}

/// Checks the anchor, simulates, estimates and prices at once. Errors in order of meaning:
/// an orphaned job first, then the simulation's revert (with its data), then the rest.
pub(super) async fn prepare(
    rpc: ChainRpc,
    fees: Arc<FeeCache>,
    request: Request,
) -> Result<Prepared, SubmitError> {
    let Request {
        from,
        to,
        data,
        anchor,
        cap,
    } = request;
    let canonical = async {
        match anchor {
            Some(anchor) => rpc.is_canonical(anchor).await,
            None => Ok(true),
        }
    };
    let (canonical, simulated, gas, fees) = tokio::join!(
        canonical,
        rpc.simulate(from, to, &data),
        rpc.estimate(from, to, &data),
        fees.get(&rpc, cap),
    );
    if !canonical? {
        return Err(SubmitError::Orphaned);
    }
    simulated?;
    Ok(Prepared {
        to,
        gas: gas?,
        fees: fees?,
        data,
        anchor,
    })
}

/// Signs and sends `draft` at `fees`; on a fee refusal (a base fee spike since pricing)
/// re-prices once from the chain and outbids the refused offer.
pub(super) async fn send_at(
    rpc: &ChainRpc,
    wallet: &GasWallet,
    draft: &Draft,
    fees: Fees,
    cache: &FeeCache,
    cap: u128,
) -> Result<(Fees, TxHash), SubmitError> {
    match rpc.send_draft(wallet, draft, fees).await {
        Err(SubmitError::Rpc(TxErrorKind::FeeTooLow)) => {
            let fresh = cache.refresh(rpc, cap).await?;
            let fees = fees
                .bumped(fresh, cap)
                .ok_or(SubmitError::Rpc(TxErrorKind::FeeTooLow))?;
            let hash = rpc.send_draft(wallet, draft, fees).await?;
            Ok((fees, hash))
        }
        Err(error) => Err(error),
        Ok(hash) => Ok((fees, hash)),
    }
}
