//! Whether the chain listener is connected and synced, for `GET /ready/chain`: a shared flag the
//! listener sets (true once a backfill reached the head, false when the connection ends) and
//! routes read. Lock-free; it carries no other data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cheap handle on the flag; clones share it.
#[derive(Debug, Clone, Default)]
pub struct ListenerStatus(Arc<AtomicBool>);

impl ListenerStatus {
    /// Set by the listener.
    pub(super) fn set_connected(&self, connected: bool) {
        self.0.store(connected, Ordering::Relaxed);
    }

    /// Synced and following new blocks.
    pub fn is_connected(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
