//! What the scheduler has in flight, shared as atomics so that readers off the actor (the
//! agent-check port, `GET /ready`, the graceful drain) see it without a message round trip.
//!
//! Written only by `JobScheduler`; read by `crate::balancer` (readiness and the drain). A clone
//! is a handle to the same counters. [`OutputsInFlight`] is the scheduler's own book behind one
//! of them: an output sender lives until its job's answer window closes (an included output is
//! held in case a reorg removes it), but for the drain an output is done once ours is on chain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::wanted::Wanted;

/// Live counts of the scheduler's work.
#[derive(Debug, Clone)]
pub struct SchedulerLoad {
    direct_slots: Arc<Semaphore>,
    direct_capacity: usize,
    direct_limit: usize,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    direct_admitted: AtomicUsize,
    chain_running: AtomicUsize,
    chain_reports: AtomicUsize,
    outputs_unsent: AtomicUsize,
}

/// A snapshot of [`SchedulerLoad`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSnapshot {
    /// Direct-run slots (`direct_run_capacity`).
    pub direct_capacity: usize,
    /// Direct-run slots free now.
    pub direct_free: usize,
    /// Direct runs admitted (running or queued).
    pub direct_admitted: usize,
    /// Most direct runs admitted at once: slots plus queue.
    pub direct_limit: usize,
    /// Chain jobs running.
    pub chain_running: usize,
    /// Chain outputs not on chain yet, and timeout reports being sent or waited for.
    pub chain_reports: usize,
}

impl LoadSnapshot {
    /// A direct run sent now would be admitted.
    pub fn direct_admits(&self) -> bool {
        self.direct_admitted < self.direct_limit
    }

    /// Free direct slots as a percentage of all of them (0..=100).
    pub fn direct_free_percent(&self) -> usize {
        (self.direct_free * 100)
            .checked_div(self.direct_capacity)
            .unwrap_or(0)
            .min(100)
    }

    /// Nothing accepted is still running or waiting to get on chain.
    pub fn idle(&self) -> bool {
        self.direct_admitted == 0 && self.chain_running == 0 && self.chain_reports == 0
    }
}

impl SchedulerLoad {
    pub(crate) fn new(direct_slots: Arc<Semaphore>, direct_capacity: usize, limit: usize) -> Self {
        Self {
            direct_slots,
            direct_capacity,
            direct_limit: limit,
            counters: Arc::default(),
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> LoadSnapshot {
        let counters = &self.counters;
        LoadSnapshot {
            direct_capacity: self.direct_capacity,
            direct_free: self.direct_slots.available_permits(),
            direct_admitted: counters.direct_admitted.load(Ordering::Acquire),
            direct_limit: self.direct_limit,
            chain_running: counters.chain_running.load(Ordering::Acquire),
            chain_reports: counters.chain_reports.load(Ordering::Acquire)
                + counters.outputs_unsent.load(Ordering::Acquire),
        }
    }

    /// Admits one direct run unless slots and queue are full.
    pub(crate) fn admit_direct(&self) -> bool {
        self.counters
            .direct_admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |admitted| {
                (admitted < self.direct_limit).then_some(admitted + 1)
            })
            .is_ok()
    }

    pub(super) fn direct_done(&self) {
        self.counters.direct_admitted.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn chain_started(&self) {
        self.counters.chain_running.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn chain_done(&self) {
        self.counters.chain_running.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts a timeout report future until the returned guard is dropped (the future ended).
    pub(super) fn report_guard(&self) -> ReportGuard {
        self.counters.chain_reports.fetch_add(1, Ordering::AcqRel);
        ReportGuard(Arc::clone(&self.counters))
    }
}

/// Held by a chain output or timeout report future while it runs.
#[derive(Debug)]
pub(super) struct ReportGuard(Arc<Counters>);

impl Drop for ReportGuard {
    fn drop(&mut self) {
        self.0.chain_reports.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The output senders alive, each with its job's [`Wanted`]: those whose output is not on chain
/// yet are counted in [`LoadSnapshot::chain_reports`]. Owned by the scheduler.
#[derive(Debug, Default)]
pub(super) struct OutputsInFlight {
    next: u64,
    live: Vec<(u64, Arc<Wanted>)>,
}

impl OutputsInFlight {
    /// A sender starts; returns its id for [`OutputsInFlight::ended`].
    pub(super) fn started(&mut self, wanted: Arc<Wanted>, load: &SchedulerLoad) -> u64 {
        self.next += 1;
        self.live.push((self.next, wanted));
        self.refresh(load);
        self.next
    }

    pub(super) fn ended(&mut self, id: u64, load: &SchedulerLoad) {
        self.live.retain(|(live, _)| *live != id);
        self.refresh(load);
    }

    /// Recounts after chain events changed whether outputs are on chain.
    pub(super) fn refresh(&self, load: &SchedulerLoad) {
        let unsent = self
            .live
            .iter()
            .filter(|(_, wanted)| !wanted.cancelled())
            .count();
        load.counters
            .outputs_unsent
            .store(unsent, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_counts_until_ours_is_on_chain_not_until_its_sender_ends() {
        let load = SchedulerLoad::new(Arc::new(Semaphore::new(1)), 1, 1);
        let mut outputs = OutputsInFlight::default();
        let wanted = Arc::new(Wanted::default());
        let sender = outputs.started(Arc::clone(&wanted), &load);
        assert_eq!(load.snapshot().chain_reports, 1);
        assert!(!load.snapshot().idle());
        wanted.set_answered();
        outputs.refresh(&load);
        assert!(
            load.snapshot().idle(),
            "held after inclusion, but done for the drain"
        );
        outputs.ended(sender, &load);
        let guard = load.report_guard();
        assert_eq!(load.snapshot().chain_reports, 1);
        drop(guard);
        assert!(load.snapshot().idle());
    }
}
