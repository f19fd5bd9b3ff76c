//! The chain and transaction metrics: what the listener sees of the chain (head, reconnects,
//! backfill, reorgs, checkpoint), the scheduler's book of chain jobs, and the gas account as
//! `TxSender` keeps it (pending, sent, bumped, replaced, dropped, failed, balance, nonce).
//!
//! Registered by [`crate::metrics::Metrics`] into its registry and shared with it behind the
//! same `Arc`: the listener, the scheduler and the sender count straight into these atomic
//! families, never through an actor. Labels are bounded enums.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use super::labels::{ReconnectCause, TxFailure};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconnectLabels {
    cause: ReconnectCause,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    cause: TxFailure,
}

/// Every chain and transaction metric.
#[derive(Debug, Default)]
pub struct ChainMetrics {
    head_block: Gauge,
    head_seen: Gauge<f64, AtomicU64>,
    reconnects: Family<ReconnectLabels, Counter>,
    backfill_ranges: Counter,
    reorgs: Counter,
    checkpoint_block: Gauge,
    jobs_tracked: Gauge,
    tx_pending: Gauge,
    tx_oldest_pending_blocks: Gauge,
    tx_sent: Counter,
    tx_bumped: Counter,
    tx_replaced: Counter,
    tx_dropped: Counter,
    tx_failed: Family<FailureLabels, Counter>,
    gas_balance: Gauge<f64, AtomicU64>,
    tx_nonce: Gauge,
}

impl ChainMetrics {
    /// Creates the families and registers them (counters get their `_total` suffix there);
    /// every bounded series starts at 0, so `increase()` sees a first failure.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let m = &metrics;
        registry.register(
            "executor_chain_head_block",
            "Number of the newest head the chain listener received",
            m.head_block.clone(),
        );
        registry.register(
            "executor_chain_head_seen_timestamp_seconds",
            "Unix time at which the last new head arrived",
            m.head_seen.clone(),
        );
        registry.register(
            "executor_chain_listener_reconnects",
            "Chain listener connections ended (and reconnected), by cause",
            m.reconnects.clone(),
        );
        registry.register(
            "executor_chain_backfill_ranges",
            "Block ranges read by eth_getLogs while catching up",
            m.backfill_ranges.clone(),
        );
        registry.register(
            "executor_chain_reorgs",
            "Chain reorganisations found (blocks we had read were replaced)",
            m.reorgs.clone(),
        );
        registry.register(
            "executor_chain_checkpoint_block",
            "Last block whose logs are fully processed (as saved)",
            m.checkpoint_block.clone(),
        );
        registry.register(
            "executor_chain_jobs_tracked",
            "Chain jobs in the scheduler's book (seen, window not closed)",
            m.jobs_tracked.clone(),
        );
        registry.register(
            "executor_tx_pending",
            "Transactions sent and not settled yet",
            m.tx_pending.clone(),
        );
        registry.register(
            "executor_tx_oldest_pending_blocks",
            "Blocks since the oldest pending transaction was sent",
            m.tx_oldest_pending_blocks.clone(),
        );
        registry.register(
            "executor_tx_sent",
            "New transactions sent (not counting bumps and re-broadcasts)",
            m.tx_sent.clone(),
        );
        registry.register(
            "executor_tx_bumped",
            "Pending transactions re-sent with higher fees",
            m.tx_bumped.clone(),
        );
        registry.register(
            "executor_tx_replaced",
            "Pending transactions replaced by a cancellation (would revert, or job orphaned)",
            m.tx_replaced.clone(),
        );
        registry.register(
            "executor_tx_dropped",
            "Pending transactions the pool dropped (re-broadcast, or forgotten if orphaned)",
            m.tx_dropped.clone(),
        );
        registry.register(
            "executor_tx_failed",
            "Transactions that did not do what they were sent for, by cause",
            m.tx_failed.clone(),
        );
        registry.register(
            "executor_gas_balance_wei",
            "Balance of the gas account, in wei (read after receipts and key changes)",
            m.gas_balance.clone(),
        );
        registry.register(
            "executor_tx_nonce",
            "Next nonce the gas account will use",
            m.tx_nonce.clone(),
        );
        for &cause in ReconnectCause::ALL {
            let _ = metrics.reconnects.get_or_create(&ReconnectLabels { cause });
        }
        for &cause in TxFailure::ALL {
            let _ = metrics.tx_failed.get_or_create(&FailureLabels { cause });
        }
        metrics
    }

    /// A new head arrived.
    pub fn head(&self, number: u64) {
        self.head_block.set(saturating_i64(number));
        self.head_seen.set(unix_now_f64());
    }

    /// The listener's connection ended and will be opened again.
    pub fn reconnect(&self, cause: ReconnectCause) {
        self.reconnects
            .get_or_create(&ReconnectLabels { cause })
            .inc();
    }

    /// One `eth_getLogs` range of a backfill was read.
    pub fn backfill_range(&self) {
        self.backfill_ranges.inc();
    }

    /// A reorg was found.
    pub fn reorg(&self) {
        self.reorgs.inc();
    }

    /// Every log up to and including `block` is handled.
    pub fn checkpoint(&self, block: u64) {
        self.checkpoint_block.set(saturating_i64(block));
    }

    /// The gauge of the scheduler's book, for it to keep up to date.
    pub fn jobs_tracked(&self) -> Gauge {
        self.jobs_tracked.clone()
    }

    /// Transactions pending now, and how many blocks the oldest has waited.
    pub fn pending(&self, count: usize, oldest_blocks: u64) {
        self.tx_pending
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        self.tx_oldest_pending_blocks
            .set(saturating_i64(oldest_blocks));
    }

    /// A new transaction went out.
    pub fn sent(&self) {
        self.tx_sent.inc();
    }

    /// A pending transaction was re-sent with higher fees.
    pub fn bumped(&self) {
        self.tx_bumped.inc();
    }

    /// A pending transaction was replaced by a cancellation.
    pub fn replaced(&self) {
        self.tx_replaced.inc();
    }

    /// The pool dropped a pending transaction.
    pub fn dropped(&self) {
        self.tx_dropped.inc();
    }

    /// A transaction failed.
    pub fn failed(&self, cause: TxFailure) {
        self.tx_failed.get_or_create(&FailureLabels { cause }).inc();
    }

    /// The gas account's balance, in wei (f64: exact to 2^53 wei, then rounded).
    pub fn gas_balance(&self, wei: u128) {
        // Precision beyond 53 bits is irrelevant for a low-balance alert.
        #[allow(clippy::cast_precision_loss)]
        self.gas_balance.set(wei as f64);
    }

    /// The next nonce of the gas account.
    pub fn nonce(&self, next: u64) {
        self.tx_nonce.set(saturating_i64(next));
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_alert_rules_contract() {
        let mut registry = Registry::default();
        let metrics = ChainMetrics::register(&mut registry);
        metrics.head(42);
        metrics.reconnect(ReconnectCause::Stalled);
        metrics.failed(TxFailure::NonceTaken);
        metrics.sent();
        metrics.pending(2, 3);
        metrics.gas_balance(5_000_000_000_000_000_000);
        metrics.nonce(7);
        metrics.jobs_tracked().set(4);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "executor_chain_head_block 42",
            r#"executor_chain_listener_reconnects_total{cause="stalled"} 1"#,
            r#"executor_tx_failed_total{cause="nonce_taken"} 1"#,
            "executor_tx_sent_total 1",
            "executor_tx_pending 2",
            "executor_tx_oldest_pending_blocks 3",
            "executor_gas_balance_wei 5000000000000000000",
            "executor_tx_nonce 7",
            "executor_chain_jobs_tracked 4",
            "executor_chain_backfill_ranges_total 0",
            "executor_chain_reorgs_total 0",
            "executor_chain_checkpoint_block 0",
            "executor_tx_bumped_total 0",
            "executor_tx_replaced_total 0",
            "executor_tx_dropped_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            text.contains("executor_chain_head_seen_timestamp_seconds 1"),
            "{text}"
        );
    }
}
