//! What the sandbox holds: warm workerd processes (idle, busy, starting), why processes were
//! ended, job cgroups in use, OOM kills and the loopback listeners held by workerd.
//!
//! Owned by [`super::Metrics`]; set by `WorkerdRunner` and `CgroupPool` after each change of
//! their own state (a store into an atomic: the actors never wait to publish).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::Retired;

/// Labels of an ended process.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetiredLabels {
    /// Why it was ended.
    pub reason: Retired,
}

/// The runner's process counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCounts {
    /// Started, warmed up, waiting for a job.
    pub idle: usize,
    /// Running a job (or being started on a job's path).
    pub busy: usize,
    /// Being started ahead of need.
    pub starting: usize,
    /// Idle processes the pool aims to keep (0 in `cold`, and once shut down).
    pub idle_target: usize,
}

/// The pool gauges and counters.
#[derive(Debug)]
pub struct PoolMetrics {
    idle: Gauge,
    idle_target: Gauge,
    busy: Gauge,
    starting: Gauge,
    ports: Gauge,
    retired: Family<RetiredLabels, Counter>,
    cgroups: Gauge,
    oom_kills: Counter,
}

impl PoolMetrics {
    /// Registers every pool family in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            idle: Gauge::default(),
            idle_target: Gauge::default(),
            busy: Gauge::default(),
            starting: Gauge::default(),
            ports: Gauge::default(),
            retired: Family::default(),
            cgroups: Gauge::default(),
            oom_kills: Counter::default(),
        };
        let gauges = [
            (
                "executor_workerd_processes_idle",
                "Warm workerd processes waiting for a job",
                &metrics.idle,
            ),
            (
                "executor_workerd_processes_idle_target",
                "Idle warm processes the pool aims to keep (0 in cold mode)",
                &metrics.idle_target,
            ),
            (
                "executor_workerd_processes_busy",
                "workerd processes running a job (or started on a job's path)",
                &metrics.busy,
            ),
            (
                "executor_workerd_processes_starting",
                "workerd processes being started ahead of need",
                &metrics.starting,
            ),
            (
                "executor_workerd_ports_in_use",
                "Loopback listeners held by workerd processes (one per process)",
                &metrics.ports,
            ),
            (
                "executor_cgroups_in_use",
                "Job cgroups live (including those being emptied and removed)",
                &metrics.cgroups,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "executor_workerd_processes_retired",
            "workerd processes ended, by reason",
            metrics.retired.clone(),
        );
        registry.register(
            "executor_oom_kills",
            "Job runs ended by the kernel's OOM killer in their cgroup",
            metrics.oom_kills.clone(),
        );
        // Every reason exported from the first scrape, at 0 (see `jobs::start_at_zero`).
        for &reason in Retired::ALL {
            let _ = metrics.retired.get_or_create(&RetiredLabels { reason });
        }
        metrics
    }

    /// Publishes the runner's counts (called after each change of them).
    pub fn processes(&self, counts: ProcessCounts) {
        let as_gauge = |count: usize| i64::try_from(count).unwrap_or(i64::MAX);
        self.idle.set(as_gauge(counts.idle));
        self.idle_target.set(as_gauge(counts.idle_target));
        self.busy.set(as_gauge(counts.busy));
        self.starting.set(as_gauge(counts.starting));
        self.ports
            .set(as_gauge(counts.idle + counts.busy + counts.starting));
    }

    /// Counts an ended process.
    pub fn retired(&self, reason: Retired) {
        let _ = self.retired.get_or_create(&RetiredLabels { reason }).inc();
    }

    /// Publishes the number of live job cgroups.
    pub fn cgroups_in_use(&self, live: usize) {
        self.cgroups.set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    /// Counts a run the OOM killer ended.
    pub fn oom_killed(&self) {
        self.oom_kills.inc();
    }
}

/// Why a process that is not kept is ended: its quota first (one job in `cold` and
/// `prewarmed`), then a job end that forbids reuse, else the pool already holds enough.
pub fn retire_reason(jobs_served: u32, jobs_per_process: u32, reusable: bool) -> Retired {
    if jobs_served >= jobs_per_process {
        Retired::JobQuota
    } else if !reusable {
        Retired::NotReusable
    } else {
        Retired::PoolFull
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retirement_names_its_first_reason() {
        assert_eq!(retire_reason(1, 1, false), Retired::JobQuota);
        assert_eq!(retire_reason(100, 100, true), Retired::JobQuota);
        assert_eq!(retire_reason(3, 100, false), Retired::NotReusable);
        assert_eq!(retire_reason(3, 100, true), Retired::PoolFull);
    }
}
