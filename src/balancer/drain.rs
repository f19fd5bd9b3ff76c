//! The node's shutdown phase, shared as one atomic by the direct-run route, the readiness
//! probe and `main`.
//!
//! `Serving` → (first SIGTERM) `Grace` → (after `drain_grace_ms`) `Refusing`. In `Grace` the node
//! already reports `drain` to the balancer and fails `GET /ready`, yet still accepts direct runs,
//! so that requests the balancer routed before it noticed are served; in `Refusing` a direct run
//! is answered 503 with `Retry-After`, which HAProxy retries on another node.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Where the node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Normal operation.
    Serving,
    /// Shutting down, still accepting direct runs while the balancer notices.
    Grace,
    /// Shutting down, refusing new direct runs; jobs in flight finish.
    Refusing,
}

/// A handle on the shared phase; clones see the same value.
#[derive(Debug, Clone, Default)]
pub struct DrainState(Arc<AtomicU8>);

impl DrainState {
    /// The phase now.
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Serving,
            1 => Phase::Grace,
            _ => Phase::Refusing,
        }
    }

    /// Moves forward to `phase` (never back: a node that started leaving leaves).
    pub fn advance(&self, phase: Phase) {
        let value = match phase {
            Phase::Serving => 0,
            Phase::Grace => 1,
            Phase::Refusing => 2,
        };
        self.0.fetch_max(value, Ordering::AcqRel);
    }

    /// New direct runs are refused.
    pub fn refusing(&self) -> bool {
        self.phase() == Phase::Refusing
    }
}
