//! The floor: warm bare workerd processes serving our loader, taken one per request (the one
//! idle longest, as the node takes them), each replaced after its quota of jobs (the node's
//! `JobQuotas`: staggered over the first processes) by a new one started (and warmed up) off
//! the request's path. A floor may put each process in a cgroup of its own with the node's job
//! limits (and nothing else of the node), to show what the cgroups alone cost.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

use serverless_executor::cgroup::{CgroupLimits, Cgroups, CpuQuota, JobCgroup};
use serverless_executor::code::form::CodeForm;
use serverless_executor::workerd::bare::BareProcess;
use serverless_executor::workerd::quota::JobQuotas;

pub struct Floor {
    root: tempfile::TempDir,
    workerd: PathBuf,
    /// Idle processes with the jobs each served and its quota.
    idle: Mutex<VecDeque<(FloorProcess, u32, u32)>>,
    started: AtomicU64,
    quotas: JobQuotas,
    /// Where each process gets a cgroup of its own, when this floor has them.
    cgroups: Option<Cgroups>,
}

/// The node's job limits in the tests' configuration: 128 MiB, one CPU, 64 tasks.
const LIMITS: CgroupLimits = CgroupLimits {
    memory_bytes: 128 << 20,
    cpu: Some(CpuQuota {
        quota: std::time::Duration::from_millis(100),
        period: std::time::Duration::from_millis(100),
    }),
    pids_max: 64,
};

/// A floor process and the cgroup it runs in, if any (removed once the process is gone).
struct FloorProcess {
    process: BareProcess,
    cgroup: Option<JobCgroup>,
}

impl FloorProcess {
    async fn shut_down(self) {
        self.process.shut_down().await;
        if let Some(cgroup) = self.cgroup {
            let _ = cgroup.wait_empty(std::time::Duration::from_secs(5)).await;
            let _ = cgroup.remove();
        }
    }
}

impl Floor {
    /// `count` warm processes, each replaced after `quota` jobs; each in a cgroup of the node's
    /// job limits under `cgroup_parent` when that is given.
    pub async fn start(count: usize, quota: u32, cgroup_parent: Option<&str>) -> Arc<Self> {
        let cgroups = cgroup_parent.map(|parent| {
            Cgroups::detect(
                std::path::Path::new("/proc/self/mountinfo"),
                std::path::Path::new("/sys/fs/cgroup"),
                parent,
            )
            .expect("cgroups for the floor")
        });
        let floor = Arc::new(Self {
            root: tempfile::tempdir().unwrap(),
            workerd: super::common::tool("workerd"),
            idle: Mutex::new(VecDeque::new()),
            started: AtomicU64::new(0),
            quotas: JobQuotas {
                per_process: quota,
                first_generation: count,
            },
            cgroups,
        });
        for _ in 0..count {
            let started = floor.start_one().await;
            floor.idle.lock().await.push_back(started);
        }
        floor
    }

    /// A new process, with no job served and its quota.
    async fn start_one(&self) -> (FloorProcess, u32, u32) {
        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = self.root.path().join(format!("floor-{number}"));
        let cgroup = self.cgroups.as_ref().map(|cgroups| {
            cgroups
                .create(&format!("floor-{number}"), &LIMITS)
                .expect("a floor process's cgroup")
        });
        let procs = cgroup
            .as_ref()
            .map(JobCgroup::procs_files)
            .unwrap_or_default();
        let process = BareProcess::start(&self.workerd, dir, &procs)
            .await
            .unwrap();
        (FloorProcess { process, cgroup }, 0, self.quotas.of(number))
    }

    /// One job on an idle process (a new one if none is idle, as the node does).
    pub async fn run(self: &Arc<Self>, form: CodeForm, code: &[u8], input: &[u8]) -> Vec<u8> {
        let taken = self.idle.lock().await.pop_front();
        let (process, served, quota) = match taken {
            Some(taken) => taken,
            None => self.start_one().await,
        };
        let output = process
            .process
            .run(form, code, input, 1 << 20)
            .await
            .expect("the floor's job ends normally");
        if served + 1 < quota {
            self.idle
                .lock()
                .await
                .push_back((process, served + 1, quota));
        } else {
            let floor = Arc::clone(self);
            tokio::spawn(async move {
                process.shut_down().await;
                let fresh = floor.start_one().await;
                floor.idle.lock().await.push_back(fresh);
            });
        }
        output
    }

    pub async fn shut_down(&self) {
        let idle: Vec<_> = self.idle.lock().await.drain(..).collect();
        for (process, _, _) in idle {
            process.shut_down().await;
        }
        if let Some(cgroups) = &self.cgroups {
            let _ = cgroups.remove_parent();
        }
    }
}
