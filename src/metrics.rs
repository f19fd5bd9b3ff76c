//! The node's Prometheus metrics (`GET /metrics`, text format): jobs (accepted, refused, ended,
//! unsigned, faults, phase times), the sandbox's pools, readiness and the process itself.
//!
//! Owns the registry and the metric families; shared (behind an `Arc`) by the scheduler, the
//! runner, the cgroup pool and the routes, which count, and the HTTP layer, which encodes.
//! Families are atomics, not actor state: counting never waits on an actor. Labels are bounded
//! enums ([`labels`]), never a job id or a hash.

pub mod chain;
mod jobs;
pub mod labels;
pub mod pools;
mod process;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use jobs::{EndLabels, FaultLabels, PhaseLabels, RefusedLabels, SourceLabels, UnsignedLabels};
pub use labels::{Fault, Phase, Refusal, Retired, Source, Unsigned};
use pools::PoolMetrics;

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    jobs: jobs::JobMetrics,
    pools: PoolMetrics,
    ready: Gauge,
    chain_ready: Gauge,
    /// Chain and transaction metrics (`metrics/chain.rs`).
    pub chain: crate::metrics::chain::ChainMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let jobs = jobs::JobMetrics::register(&mut registry);
        let pools = PoolMetrics::register(&mut registry);
        let ready = Gauge::default();
        let chain_ready = Gauge::default();
        registry.register(
            "executor_chain_ready",
            "1 when GET /ready/chain answers 200 (owner, gas key, registered, listener connected), else 0",
            chain_ready.clone(),
        );
        registry.register(
            "executor_ready",
            "1 when GET /ready answers 200 (the node takes a direct run now), else 0",
            ready.clone(),
        );
        registry.register_collector(Box::new(process::ProcessCollector));
        let chain = crate::metrics::chain::ChainMetrics::register(&mut registry);
        Self {
            registry,
            jobs,
            pools,
            ready,
            chain_ready,
            chain,
        }
    }
}

impl Metrics {
    /// Counts a job admitted to run.
    pub fn accepted(&self, source: Source) {
        self.jobs
            .accepted
            .get_or_create(&SourceLabels { source })
            .inc();
    }

    /// Counts a job refused before it ran.
    pub fn refused(&self, source: Source, reason: Refusal) {
        self.jobs
            .refused
            .get_or_create(&RefusedLabels { source, reason })
            .inc();
    }

    /// Counts a job that ended with an outcome.
    pub fn ended(&self, source: Source, outcome: u8) {
        self.jobs
            .ended
            .get_or_create(&EndLabels { source, outcome })
            .inc();
    }

    /// Counts a job without outcome.
    pub fn unsigned(&self, source: Source, cause: Unsigned) {
        self.jobs
            .unsigned
            .get_or_create(&UnsignedLabels { source, cause })
            .inc();
    }

    /// Counts one run that failed by the node's own fault.
    pub fn fault(&self, cause: Fault) {
        self.jobs.faults.get_or_create(&FaultLabels { cause }).inc();
    }

    /// Records how long a phase took.
    pub fn phase(&self, phase: Phase, took: std::time::Duration) {
        self.jobs
            .phases
            .get_or_create(&PhaseLabels { phase })
            .observe(took.as_secs_f64());
    }

    /// Counts a retried run.
    pub fn retried(&self) {
        self.jobs.retries.inc();
    }

    /// The sandbox's gauges and counters.
    pub fn pools(&self) -> &PoolMetrics {
        &self.pools
    }

    /// Publishes whether `/ready` would answer 200 now.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Publishes whether `/ready/chain` would answer 200 now.
    pub fn set_chain_ready(&self, ready: bool) {
        self.chain_ready.set(i64::from(ready));
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_counted_by_bounded_snake_case_labels() {
        let metrics = Metrics::default();
        metrics.accepted(Source::Chain);
        metrics.ended(Source::Chain, 7);
        metrics.ended(Source::Chain, 7);
        metrics.unsigned(Source::Direct, Unsigned::NoSlot);
        metrics.refused(Source::Direct, Refusal::BodyTooLarge);
        metrics.fault(Fault::NotServing);
        metrics.phase(Phase::UserExecution, std::time::Duration::from_millis(3));
        let text = metrics.encode();
        for line in [
            r#"executor_jobs_accepted_total{source="chain"} 1"#,
            r#"executor_jobs_ended_total{source="chain",outcome="7"} 2"#,
            r#"executor_jobs_unsigned_total{source="direct",cause="no_slot"} 1"#,
            r#"executor_jobs_refused_total{source="direct",reason="body_too_large"} 1"#,
            r#"executor_infrastructure_faults_total{cause="not_serving"} 1"#,
            r#"executor_job_phase_seconds_bucket{le="0.0032",phase="user_execution"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
    }

    #[test]
    fn phase_buckets_resolve_a_tenth_of_a_millisecond_to_thirty_seconds() {
        let metrics = Metrics::default();
        metrics.phase(Phase::ProcessWarm, std::time::Duration::from_micros(80));
        metrics.phase(Phase::EndToEnd, std::time::Duration::from_secs(29));
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"executor_job_phase_seconds_bucket{le="0.0001",phase="process_warm_hit"} 1"#
            ),
            "{text}"
        );
        // 29 s falls in a finite bucket (0.0001 × 2^19 ≈ 52 s), not only in +Inf.
        assert!(
            text.contains(
                r#"executor_job_phase_seconds_bucket{le="52.4288",phase="end_to_end"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"executor_job_phase_seconds_bucket{le="26.2144",phase="end_to_end"} 0"#
            ),
            "{text}"
        );
    }

    #[test]
    fn pools_readiness_and_the_process_are_exported() {
        let metrics = Metrics::default();
        metrics.pools().processes(pools::ProcessCounts {
            idle: 2,
            busy: 1,
            starting: 1,
            idle_target: 2,
        });
        metrics.pools().retired(Retired::JobQuota);
        metrics.pools().cgroups_in_use(3);
        metrics.pools().oom_killed();
        metrics.set_ready(true);
        let text = metrics.encode();
        for line in [
            "executor_workerd_processes_idle 2",
            "executor_workerd_processes_busy 1",
            "executor_workerd_processes_idle_target 2",
            "executor_workerd_processes_starting 1",
            "executor_workerd_ports_in_use 4",
            r#"executor_workerd_processes_retired_total{reason="job_quota"} 1"#,
            "executor_cgroups_in_use 3",
            "executor_oom_kills_total 1",
            "executor_ready 1",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_threads ",
            "process_cpu_seconds_total ",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
    }
}
