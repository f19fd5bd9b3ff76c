//! `CgroupPool` owns the job cgroups under the node's parent cgroup and hands out leases.
//!
//! Receives: [`ReserveCgroup`], [`ReleaseCgroup`]. Sends: nothing. Every job gets a fresh
//! cgroup (counters start at zero, so OOM evidence needs no bookkeeping); on release every
//! process left in it is killed, the cgroup is waited empty and removed. The number of live
//! cgroups never exceeds the capacity. Invariant: the only code that writes under the node's
//! cgroup parent.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use tracing::{debug, error, warn};

use crate::cgroup::{CgroupLimits, Cgroups};
use crate::messages::pool::{CgroupLease, PoolError, ReleaseCgroup, ReserveCgroup};

/// How long a killed job may take to leave its cgroup before we log it as stuck.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool of job cgroups.
#[derive(Debug)]
pub struct CgroupPool {
    cgroups: Arc<Cgroups>,
    limits: CgroupLimits,
    capacity: usize,
    live: usize,
}

impl CgroupPool {
    /// A pool over detected cgroups; stale cgroups must already be cleaned by the caller.
    pub fn new(cgroups: Arc<Cgroups>, limits: CgroupLimits, capacity: usize) -> Self {
        Self {
            cgroups,
            limits,
            capacity,
            live: 0,
        }
    }
}

impl Actor for CgroupPool {
    type Context = Context<Self>;
}

impl Handler<ReserveCgroup> for CgroupPool {
    type Result = Result<CgroupLease, PoolError>;

    fn handle(&mut self, msg: ReserveCgroup, ctx: &mut Context<Self>) -> Self::Result {
        if self.live >= self.capacity {
            return Err(PoolError::Exhausted {
                capacity: self.capacity,
            });
        }
        let cgroup = self.cgroups.create(&msg.job_name, &self.limits)?;
        self.live += 1;
        debug!(cgroup = %msg.job_name, live = self.live, "Cgroup reserved.");
        Ok(CgroupLease::new(cgroup, ctx.address().recipient()))
    }
}

impl Handler<ReleaseCgroup> for CgroupPool {
    type Result = ();

    fn handle(&mut self, msg: ReleaseCgroup, ctx: &mut Context<Self>) {
        let cgroup = msg.cgroup;
        if let Err(error) = cgroup.kill_all() {
            warn!(cgroup = cgroup.name(), %error, "Cannot kill the job's processes.");
        }
        let cleanup = async move {
            cgroup.wait_empty(EMPTY_TIMEOUT).await?;
            cgroup.remove()?;
            Ok::<_, crate::cgroup::CgroupError>(cgroup)
        };
        ctx.spawn(cleanup.into_actor(self).map(|result, act, _| {
            // A cgroup that could not be removed still counts against the capacity: the
            // processes in it may still be running.
            match result {
                Ok(cgroup) => {
                    act.live = act.live.saturating_sub(1);
                    debug!(cgroup = cgroup.name(), live = act.live, "Cgroup released.");
                }
                Err(error) => error!(%error, "Job cgroup not removed; its slot stays taken."),
            }
        }));
    }
}
