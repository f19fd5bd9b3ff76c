//! Whether the node can take a direct run now, and if not why: the one computation behind
//! `GET /ready` and the agent-check line, so the two never disagree.
//!
//! Cheap (atomics and two `stat`s), so a balancer may ask as often as it likes. States:
//! - `up N%`: direct runs are admitted; N is the free share of `direct_run_capacity`, at least
//!   [`QUEUE_ONLY_PERCENT`] while only the queue has room, 0 when slots and queue are full (then
//!   also not ready).
//! - `drain`: the node is shutting down (first SIGTERM); jobs in flight finish.
//! - `down`: the node cannot run direct jobs at all: direct runs disabled, or the workerd
//!   binary or the job cgroup parent gone from the host.

use std::path::PathBuf;

use super::drain::{DrainState, Phase};
use crate::actors::job_scheduler::{LoadSnapshot, SchedulerLoad};

/// The share reported while every slot is busy but the queue has room. HAProxy rounds the
/// scaled weight down, so with the shipped weights (10 × slots) this keeps the weight at the
/// slot count instead of 0: a weight of 0 would make HAProxy answer 503 itself as soon as every
/// node is busy, instead of queueing the request until a slot frees.
pub const QUEUE_ONLY_PERCENT: usize = 10;

/// What the balancer should do with this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbState {
    /// Send direct runs, weighted by this percentage of the configured weight.
    Up(usize),
    /// Send nothing new; the node is leaving.
    Drain,
    /// The node cannot run jobs.
    Down,
}

/// The answer, with the reasons when the node is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The balancer's view.
    pub state: LbState,
    /// Why a direct run would not be taken now; empty when ready.
    pub reasons: Vec<String>,
    /// The counts the answer was made from.
    pub load: LoadSnapshot,
}

impl Readiness {
    /// A direct run sent now would be taken.
    pub fn ready(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The agent-check line. `ready` comes first because HAProxy keeps a `drain` it was told
    /// until told `ready`, even across the node's restart.
    pub fn agent_line(&self) -> String {
        match self.state {
            LbState::Up(percent) => format!("ready up {percent}%\n"),
            LbState::Drain => "drain\n".to_owned(),
            LbState::Down => "down\n".to_owned(),
        }
    }
}

/// What readiness is computed from; cloned into each reader.
#[derive(Debug, Clone)]
pub struct ReadinessProbe {
    /// The scheduler's live counts.
    pub load: SchedulerLoad,
    /// The shutdown phase.
    pub drain: DrainState,
    /// `direct_run_enabled`.
    pub direct_enabled: bool,
    /// The workerd binary jobs run in.
    pub workerd: PathBuf,
    /// The job cgroup parent directories (one per hierarchy).
    pub cgroup_parents: Vec<PathBuf>,
}

impl ReadinessProbe {
    /// The node's state now.
    pub fn check(&self) -> Readiness {
        let load = self.load.snapshot();
        let mut down = Vec::new();
        if !self.direct_enabled {
            down.push("direct runs disabled (direct_run_enabled = false)".to_owned());
        }
        if !self.workerd.is_file() {
            down.push(format!("workerd missing at {}", self.workerd.display()));
        }
        for parent in self.cgroup_parents.iter().filter(|dir| !dir.is_dir()) {
            down.push(format!("job cgroup parent {} missing", parent.display()));
        }
        if !down.is_empty() {
            return Readiness {
                state: LbState::Down,
                reasons: down,
                load,
            };
        }
        match self.drain.phase() {
            Phase::Serving => {}
            Phase::Grace => return drain(load, "draining: shutting down, new runs still taken"),
            Phase::Refusing => return drain(load, "draining: shutting down, new runs refused"),
        }
        if !load.direct_admits() {
            return Readiness {
                state: LbState::Up(0),
                reasons: vec![format!(
                    "no free direct slot and the queue is full ({} admitted)",
                    load.direct_admitted
                )],
                load,
            };
        }
        Readiness {
            state: LbState::Up(load.direct_free_percent().max(QUEUE_ONLY_PERCENT)),
            reasons: Vec::new(),
            load,
        }
    }
}

fn drain(load: LoadSnapshot, reason: &str) -> Readiness {
    Readiness {
        state: LbState::Drain,
        reasons: vec![reason.to_owned()],
        load,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    /// A probe over 4 direct slots and 2 queue places, on real paths that exist.
    fn probe() -> (ReadinessProbe, Arc<Semaphore>) {
        let slots = Arc::new(Semaphore::new(4));
        let probe = ReadinessProbe {
            load: SchedulerLoad::new(Arc::clone(&slots), 4, 6),
            drain: DrainState::default(),
            direct_enabled: true,
            workerd: std::env::current_exe().unwrap(),
            cgroup_parents: vec![std::env::temp_dir()],
        };
        (probe, slots)
    }

    #[test]
    fn free_slots_are_the_weight_and_ready() {
        let (probe, slots) = probe();
        assert_eq!(probe.check().agent_line(), "ready up 100%\n");
        let _busy = slots.try_acquire_many(3).unwrap();
        let readiness = probe.check();
        assert_eq!(readiness.state, LbState::Up(25));
        assert!(readiness.ready());
    }

    #[test]
    fn only_the_queue_left_keeps_a_floor_weight_and_a_full_queue_is_not_ready() {
        let (probe, slots) = probe();
        let _busy = slots.try_acquire_many(4).unwrap();
        for _ in 0..4 {
            assert!(probe.load.admit_direct());
        }
        assert_eq!(probe.check().state, LbState::Up(QUEUE_ONLY_PERCENT));
        assert!(probe.check().ready());
        assert!(probe.load.admit_direct() && probe.load.admit_direct());
        let readiness = probe.check();
        assert_eq!(readiness.agent_line(), "ready up 0%\n");
        assert!(readiness.reasons[0].contains("queue is full"));
    }

    #[test]
    fn draining_says_drain_from_the_first_signal() {
        let (probe, _) = probe();
        probe.drain.advance(Phase::Grace);
        assert_eq!(probe.check().agent_line(), "drain\n");
        assert!(!probe.drain.refusing());
        probe.drain.advance(Phase::Refusing);
        probe.drain.advance(Phase::Serving);
        assert!(probe.drain.refusing(), "a drain never goes back");
        assert!(probe.check().reasons[0].contains("refused"));
    }

    #[test]
    fn no_workerd_no_cgroup_or_direct_runs_off_is_down_with_every_reason() {
        let (mut probe, _) = probe();
        probe.direct_enabled = false;
        probe.workerd = "/nonexistent/workerd".into();
        probe.cgroup_parents = vec!["/nonexistent/cgroup".into()];
        probe.drain.advance(Phase::Grace);
        let readiness = probe.check();
        assert_eq!(readiness.agent_line(), "down\n");
        assert_eq!(readiness.reasons.len(), 3, "{:?}", readiness.reasons);
    }
}
