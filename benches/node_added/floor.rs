//! The floor: warm bare workerd processes serving our loader, taken one per request (the one
//! idle longest, as the node takes them), each replaced after its quota of jobs (the node's
//! `JobQuotas`: staggered over the first processes) by a new one started (and warmed up) off
//! the request's path.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

use serverless_executor::code::form::CodeForm;
use serverless_executor::workerd::bare::BareProcess;
use serverless_executor::workerd::quota::JobQuotas;

pub struct Floor {
    root: tempfile::TempDir,
    workerd: PathBuf,
    /// Idle processes with the jobs each served and its quota.
    idle: Mutex<VecDeque<(BareProcess, u32, u32)>>,
    started: AtomicU64,
    quotas: JobQuotas,
}

impl Floor {
    pub async fn start(count: usize, quota: u32) -> Arc<Self> {
        let floor = Arc::new(Self {
            root: tempfile::tempdir().unwrap(),
            workerd: super::common::tool("workerd"),
            idle: Mutex::new(VecDeque::new()),
            started: AtomicU64::new(0),
            quotas: JobQuotas {
                per_process: quota,
                first_generation: count,
            },
        });
        for _ in 0..count {
            let started = floor.start_one().await;
            floor.idle.lock().await.push_back(started);
        }
        floor
    }

    /// A new process, with no job served and its quota.
    async fn start_one(&self) -> (BareProcess, u32, u32) {
        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = self.root.path().join(format!("floor-{number}"));
        let process = BareProcess::start(&self.workerd, dir).await.unwrap();
        (process, 0, self.quotas.of(number))
    }

    /// One job on an idle process (a new one if none is idle, as the node does).
    pub async fn run(self: &Arc<Self>, form: CodeForm, code: &[u8], input: &[u8]) -> Vec<u8> {
        let taken = self.idle.lock().await.pop_front();
        let (process, served, quota) = match taken {
            Some(taken) => taken,
            None => self.start_one().await,
        };
        let output = process
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
    }
}
