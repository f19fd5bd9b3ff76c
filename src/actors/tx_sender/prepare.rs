//! Getting a transaction ready without its nonce, so that many can be prepared at once and
//! only the send itself is serialised: the job's block still canonical, the call simulated,
//! its gas estimated and the fees priced — four JSON-RPC calls issued together, one round
//! trip in all. Then, holding the nonce, [`send_at`] signs and sends (one more call; a fee
//! refusal re-prices once).
//!
//! Fees are shared: the actor keeps the last offer a node accepted ([`Priced`]) and hands it
//! to every preparation within [`FEE_TTL`] of its pricing, so one `eth_feeHistory` serves the
//! submissions that follow (only those started together before any was priced ask each). A
//! base fee that jumped meanwhile makes the node refuse the offer as too low, and the refusal
//! re-prices from the chain, so a stale offer costs one extra call, never a stuck transaction.

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
    pub(super) fees: Priced,
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

/// A fee offer and when it was priced.
#[derive(Debug, Clone, Copy)]
pub(super) struct Priced {
    pub(super) at: Instant,
    pub(super) fees: Fees,
}

impl Priced {
    /// Whether it may still be offered.
    pub(super) fn is_fresh(&self) -> bool {
        self.at.elapsed() < FEE_TTL
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
    /// The actor's last offer if still fresh; priced here otherwise.
    pub(super) fees: Option<Priced>,
}

/// Checks the anchor, simulates, estimates and prices at once. Errors in order of meaning:
/// an orphaned job first, then the simulation's revert (with its data), then the rest.
pub(super) async fn prepare(rpc: ChainRpc, request: Request) -> Result<Prepared, SubmitError> {
    let Request {
        from,
        to,
        data,
        anchor,
        cap,
        fees,
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
        price(&rpc, fees, cap),
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

/// `cached` if given, else a fresh offer from the chain.
async fn price(rpc: &ChainRpc, cached: Option<Priced>, cap: u128) -> Result<Priced, SubmitError> {
    match cached {
        Some(priced) => Ok(priced),
        None => Ok(Priced {
            fees: rpc.next_fees(cap).await?,
            at: Instant::now(),
        }),
    }
}

/// Signs and sends `draft` at `fees`; on a fee refusal (a base fee spike since pricing)
/// re-prices once from the chain and outbids the refused offer.
pub(super) async fn send_at(
    rpc: &ChainRpc,
    wallet: &GasWallet,
    draft: &Draft,
    priced: Priced,
    cap: u128,
) -> Result<(Priced, TxHash), SubmitError> {
    match rpc.send_draft(wallet, draft, priced.fees).await {
        Err(SubmitError::Rpc(TxErrorKind::FeeTooLow)) => {
            let fresh = rpc.next_fees(cap).await?;
            let fees = priced
                .fees
                .bumped(fresh, cap)
                .ok_or(SubmitError::Rpc(TxErrorKind::FeeTooLow))?;
            let hash = rpc.send_draft(wallet, draft, fees).await?;
            let repriced = Priced {
                at: Instant::now(),
                fees,
            };
            Ok((repriced, hash))
        }
        Err(error) => Err(error),
        Ok(hash) => Ok((priced, hash)),
    }
}
