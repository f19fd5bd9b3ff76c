//! The runner's shutdown: [`ShutDownPool`] ends the idle processes and waits for every start
//! and end under way, so a clean shutdown leaves no process, cgroup or directory behind.
//!
//! Receives: [`ShutDownPool`] (from `main` and the devkit's `run`). Owns nothing of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Handler, ResponseActFuture, WrapFuture};

use super::WorkerdRunner;
use crate::metrics::Retired;
use crate::workerd::process::JobProcess;
use crate::workerd::run::RunError;

/// How often a shutdown looks whether the starts and ends under way are done.
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// Ends the pool before the node exits; answered once every idle process is gone and every
/// start and end under way is done. Sent by `main` on shutdown and by the devkit's `run`.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct ShutDownPool;

impl Handler<ShutDownPool> for WorkerdRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: ShutDownPool, _: &mut actix::Context<Self>) -> Self::Result {
        self.closing = true;
        self.pool.idle_target = 0;
        self.pool.idle_max = 0;
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Err(RunError::NoResource("process (shutting down)")));
        }
        let idle: Vec<_> = self.idle.drain(..).collect();
        for _ in &idle {
            self.pool.metrics.pools().retired(Retired::Shutdown);
        }
        self.publish();
        let unsettled = Arc::clone(&self.unsettled);
        Box::pin(shut_down_idle(idle, unsettled).into_actor(self))
    }
}

/// Kills every idle process and waits for each to be reaped and its files removed, and for
/// every start and end under way: a clean shutdown leaves no process, cgroup or directory
/// behind (a start that finished later used to create its cgroup after the cleanup).
async fn shut_down_idle(idle: Vec<JobProcess>, unsettled: Arc<AtomicUsize>) {
    futures::future::join_all(idle.into_iter().map(JobProcess::shut_down)).await;
    while unsettled.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(SETTLE_POLL).await;
    }
}
