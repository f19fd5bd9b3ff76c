//! `CgroupPool` owns the job cgroups under the node's parent cgroup and hands out leases.
//!
//! Receives: [`ReserveCgroup`], [`ReleaseCgroup`]. Sends: nothing. Every job gets a fresh
//! cgroup (counters start at zero, so OOM evidence needs no bookkeeping); on release every
//! process left in it is killed, the cgroup is waited empty and removed. The number of live
//! cgroups never exceeds the capacity. Each lease has a slot (the lowest free index), free again
//! only when its cgroup is empty and removed: the job jail's per-slot uid is then never shared
//! by two live job processes. Invariant: the only code that writes under the node's cgroup
//! parent.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use tracing::{debug, error, warn};

use crate::cgroup::{CgroupLimits, Cgroups};
use crate::messages::pool::{CgroupLease, PoolError, ReleaseCgroup, ReserveCgroup};
use crate::metrics::Metrics;

/// How long a killed job may take to leave its cgroup before we log it as stuck.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool of job cgroups.
#[derive(Debug)]
pub struct CgroupPool {
    cgroups: Arc<Cgroups>,
    limits: CgroupLimits,
    capacity: usize,
    live: usize,
    slot_taken: Vec<bool>,
    metrics: Arc<Metrics>,
}

impl CgroupPool {
    /// A pool over detected cgroups; stale cgroups must already be cleaned by the caller. The
    /// number of live cgroups is published to `metrics`.
    pub fn new(
        cgroups: Arc<Cgroups>,
        limits: CgroupLimits,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            cgroups,
            limits,
            capacity,
            live: 0,
            slot_taken: vec![false; capacity],
            metrics,
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
        // `live < capacity`, and a slot is taken exactly while its cgroup is live.
        let Some(slot) = self.slot_taken.iter().position(|taken| !taken) else {
            return Err(PoolError::Exhausted {
                capacity: self.capacity,
            });
        };
        let cgroup = self.cgroups.create(&msg.job_name, &self.limits)?;
        self.live += 1;
        self.metrics.pools().cgroups_in_use(self.live);
        self.slot_taken[slot] = true;
        debug!(cgroup = %msg.job_name, slot, live = self.live, "Cgroup reserved.");
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        Ok(CgroupLease::new(cgroup, slot, ctx.address().recipient()))
    }
}

impl Handler<ReleaseCgroup> for CgroupPool {
    type Result = ();

    fn handle(&mut self, msg: ReleaseCgroup, ctx: &mut Context<Self>) {
        let (cgroup, slot) = (msg.cgroup, msg.slot);
        if let Err(error) = cgroup.kill_all() {
            warn!(cgroup = cgroup.name(), %error, "Cannot kill the job's processes.");
        }
        let cleanup = async move {
            cgroup.wait_empty(EMPTY_TIMEOUT).await?;
            cgroup.remove()?;
            Ok::<_, crate::cgroup::CgroupError>(cgroup)
        };
        ctx.spawn(cleanup.into_actor(self).map(move |result, act, _| {
            // A cgroup that could not be removed still counts against the capacity: the
            // processes in it may still be running.
            match result {
                Ok(cgroup) => {
                    act.live = act.live.saturating_sub(1);
                    act.metrics.pools().cgroups_in_use(act.live);
                    if let Some(taken) = usize::try_from(slot)
                        .ok()
                        .and_then(|slot| act.slot_taken.get_mut(slot))
                    {
                        *taken = false;
                    }
                    debug!(cgroup = cgroup.name(), live = act.live, "Cgroup released.");
                }
                Err(error) => error!(%error, "Job cgroup not removed; its slot stays taken."),
            }
        }));
    }
}
