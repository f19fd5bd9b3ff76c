//! EIP-1559 fees: what to offer for the next block, and how to outbid a stuck transaction of
//! our own.
//!
//! The next block's base fee is read from `eth_feeHistory` (its last entry is the pending
//! block's base fee, which a spike has already raised), not from the latest block. A bump
//! raises both fee fields by at least 12.5 % (nodes refuse replacements below +10 %) or to the
//! fresh estimate if that is higher, and never beyond the operator's cap.

use ethers::providers::Middleware;
use ethers::types::{BlockNumber, U256};

use crate::chain::rpc::{ChainRpc, RpcError};

/// Blocks of history sampled for the priority fee.
const HISTORY_BLOCKS: u64 = 5;
/// Least priority fee offered, in wei (0.1 gwei): empty blocks report zero tips.
const MIN_PRIORITY_WEI: u128 = 100_000_000;

/// The two fee fields of a type-2 transaction, in wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee: u128,
    /// `maxPriorityFeePerGas`.
    pub priority: u128,
}

impl Fees {
    /// An offer for a block whose base fee is `next_base`, tipping `priority`, within `cap`:
    /// twice the base fee leaves room for six full blocks of base-fee growth.
    pub fn for_next_block(next_base: u128, priority: u128, cap: u128) -> Self {
        let priority = priority.max(MIN_PRIORITY_WEI).min(cap);
        let max_fee = next_base
            .saturating_mul(2)
            .saturating_add(priority)
            .min(cap);
        Self { max_fee, priority }
    }

    /// The replacement offer for a transaction that offered `self`: both fields up by at least
    /// 12.5 % and at least to `fresh`, within `cap`. `None` when the cap leaves no room for a
    /// valid replacement.
    pub fn bumped(self, fresh: Fees, cap: u128) -> Option<Self> {
        let raise = |old: u128| {
            old.saturating_add(old.div_ceil(8))
                .max(old.saturating_add(1))
        };
        let max_fee = raise(self.max_fee).max(fresh.max_fee);
        let priority = raise(self.priority).max(fresh.priority);
        if max_fee > cap {
            return None;
        }
        Some(Self {
            max_fee,
            priority: priority.min(max_fee),
        })
    }
}

impl ChainRpc {
    /// The offer for the next block, capped at `cap` wei.
    pub async fn next_fees(&self, cap: u128) -> Result<Fees, RpcError> {
        let call = self
            .provider()
            .fee_history(HISTORY_BLOCKS, BlockNumber::Latest, &[50.0]);
        let history = tokio::time::timeout(self.timeout(), call)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout()))?
            .map_err(RpcError::Provider)?;
        let next_base = history
            .base_fee_per_gas
            .last()
            .copied()
            .ok_or(RpcError::Decode("eth_feeHistory"))?;
        let mut tips: Vec<U256> = history
            .reward
            .iter()
            .filter_map(|rewards| rewards.first().copied())
            .collect();
        tips.sort_unstable();
        let median = tips.get(tips.len() / 2).copied().unwrap_or_default();
        Ok(Fees::for_next_block(
            saturating_u128(next_base),
            saturating_u128(median),
            cap,
        ))
    }
}

fn saturating_u128(value: U256) -> u128 {
    if value > U256::from(u128::MAX) {
        u128::MAX
    } else {
        value.as_u128()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    #[test]
    fn the_offer_covers_twice_the_next_base_fee_plus_the_tip() {
        let fees = Fees::for_next_block(100 * GWEI, 2 * GWEI, 1_000 * GWEI);
        assert_eq!(fees.max_fee, 202 * GWEI);
        assert_eq!(fees.priority, 2 * GWEI);
        let tipless = Fees::for_next_block(GWEI, 0, 1_000 * GWEI);
        assert_eq!(tipless.priority, MIN_PRIORITY_WEI);
    }

    #[test]
    fn the_offer_never_exceeds_the_cap() {
        let fees = Fees::for_next_block(u128::MAX, u128::MAX, 50 * GWEI);
        assert_eq!(fees.max_fee, 50 * GWEI);
        assert!(fees.priority <= fees.max_fee);
    }

    #[test]
    fn a_bump_raises_both_fields_by_at_least_an_eighth() {
        let old = Fees {
            max_fee: 80 * GWEI,
            priority: 8 * GWEI,
        };
        let calm = Fees {
            max_fee: 10 * GWEI,
            priority: GWEI,
        };
        let bumped = old.bumped(calm, 1_000 * GWEI).unwrap();
        assert_eq!(bumped.max_fee, 90 * GWEI);
        assert_eq!(bumped.priority, 9 * GWEI);
        assert!(bumped.max_fee * 10 >= old.max_fee * 11, "at least +10 %");
    }

    #[test]
    fn a_bump_follows_a_fee_spike() {
        let old = Fees {
            max_fee: 2 * GWEI,
            priority: 1,
        };
        let spiked = Fees::for_next_block(100 * GWEI, GWEI, 1_000 * GWEI);
        let bumped = old.bumped(spiked, 1_000 * GWEI).unwrap();
        assert_eq!(bumped, spiked);
    }

    #[test]
    fn no_bump_beyond_the_cap() {
        let old = Fees {
            max_fee: 95 * GWEI,
            priority: GWEI,
        };
        assert_eq!(old.bumped(old, 100 * GWEI), None);
        let tiny = Fees {
            max_fee: 0,
            priority: 0,
        };
        assert_eq!(tiny.bumped(tiny, 10).map(|fees| fees.max_fee), Some(1));
    }
}
