//! Messages understood by `CgroupPool` and `PortPool`, and the leases they hand out.

use std::net::TcpListener;
use std::path::PathBuf;

use actix::{Message, Recipient};

use crate::cgroup::{CgroupError, JobCgroup};

/// Ask for a fresh cgroup for one job. Sent by `JobScheduler` before starting workerd.
#[derive(Debug, Message)]
#[rtype(result = "Result<CgroupLease, PoolError>")]
pub struct ReserveCgroup {
    /// Names the cgroup (`job-<n>`), for logs and the stale-cgroup sweep.
    pub job_name: String,
}

/// Give a cgroup back: kill what is left in it and remove it. Sent only by `CgroupLease::drop`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReleaseCgroup {
    /// The job's cgroup.
    pub cgroup: JobCgroup,
    /// Its slot, free again once the cgroup is empty and removed.
    pub slot: u32,
}

/// Ask for a bound, listening loopback socket. Sent by `JobScheduler`.
#[derive(Debug, Message)]
#[rtype(result = "Result<PortLease, PoolError>")]
pub struct ReservePort;

/// A job's cgroup. Returns itself to the pool when dropped, like a semaphore permit.
#[derive(Debug)]
pub struct CgroupLease {
    cgroup: Option<JobCgroup>,
    slot: u32,
    pool: Recipient<ReleaseCgroup>,
}

impl CgroupLease {
    /// Wraps a cgroup created by the pool in `slot`.
    pub fn new(cgroup: JobCgroup, slot: u32, pool: Recipient<ReleaseCgroup>) -> Self {
        Self {
            cgroup: Some(cgroup),
            slot,
            pool,
        }
    }

    /// The lease's slot: unique among live cgroups, and reused only once every process of
    /// the previous holder is gone; the job jail derives the job's uid from it.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The files the sandbox launcher writes its pid into.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.cgroup
            .as_ref()
            .map(JobCgroup::procs_files)
            .unwrap_or_default()
    }

    /// The kernel's OOM record for this job.
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        self.cgroup
            .as_ref()
            .map_or(Ok(false), JobCgroup::oom_killed)
    }

    /// Memory charged to the cgroup now, in bytes.
    pub fn memory_bytes(&self) -> Result<u64, CgroupError> {
        self.cgroup.as_ref().map_or(Ok(0), JobCgroup::memory_bytes)
    }

    /// The most memory the cgroup was ever charged, in bytes.
    pub fn peak_memory_bytes(&self) -> Result<u64, CgroupError> {
        self.cgroup
            .as_ref()
            .map_or(Ok(0), JobCgroup::peak_memory_bytes)
    }

    /// Kills every process of the job now (the deadline kill).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        self.cgroup.as_ref().map_or(Ok(()), JobCgroup::kill_all)
    }
}

impl Drop for CgroupLease {
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            self.pool.do_send(ReleaseCgroup {
                cgroup,
                slot: self.slot,
            });
        }
    }
}

/// A loopback listener bound by the node; workerd serves on it through `--socket-fd`.
#[derive(Debug)]
pub struct PortLease {
    /// Bound to `127.0.0.1:<port>` and listening.
    pub listener: TcpListener,
}

/// Why a pool could not serve a request. Infrastructure, never a job outcome.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every slot is in use.
    #[error("all {capacity} cgroups are busy")]
    Exhausted {
        /// The pool's size.
        capacity: usize,
    },
    /// The cgroup could not be created.
    #[error("cannot create a job cgroup")]
    Cgroup(#[from] CgroupError),
    /// No loopback port could be bound.
    #[error("cannot bind a loopback port")]
    Bind(#[source] std::io::Error),
}
