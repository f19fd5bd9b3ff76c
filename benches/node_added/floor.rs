//! The floor: warm bare workerd processes serving our loader, taken one per request (the one
//! idle longest, as the node takes them), each replaced after `quota` jobs by a new one started
//! (and warmed up) off the request's path.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

use serverless_executor::code::form::CodeForm;
use serverless_executor::workerd::bare::BareProcess;

pub struct Floor {
    root: tempfile::TempDir,
    workerd: PathBuf,
    idle: Mutex<VecDeque<(BareProcess, u32)>>,
    started: AtomicU64,
    quota: u32,
}

impl Floor {
    pub async fn start(count: usize, quota: u32) -> Arc<Self> {
        let floor = Arc::new(Self {
            root: tempfile::tempdir().unwrap(),
            workerd: super::common::tool("workerd"),
            idle: Mutex::new(VecDeque::new()),
            started: AtomicU64::new(0),
            quota,
        });
        for _ in 0..count {
            let process = floor.start_one().await;
            floor.idle.lock().await.push_back((process, 0));
        }
        floor
    }

    async fn start_one(&self) -> BareProcess {
        let number = self.started.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.path().join(format!("floor-{number}"));
        BareProcess::start(&self.workerd, dir).await.unwrap()
    }

    /// One job on an idle process (a new one if none is idle, as the node does).
    pub async fn run(self: &Arc<Self>, form: CodeForm, code: &[u8], input: &[u8]) -> Vec<u8> {
        let taken = self.idle.lock().await.pop_front();
        let (process, served) = match taken {
            Some(taken) => taken,
            None => (self.start_one().await, 0),
        };
        let output = process
            .run(form, code, input, 1 << 20)
            .await
            .expect("the floor's job ends normally");
        if served + 1 < self.quota {
            self.idle.lock().await.push_back((process, served + 1));
        } else {
            let floor = Arc::clone(self);
            tokio::spawn(async move {
                process.shut_down().await;
                let fresh = floor.start_one().await;
                floor.idle.lock().await.push_back((fresh, 0));
            });
        }
        output
    }

    pub async fn shut_down(&self) {
        let idle: Vec<_> = self.idle.lock().await.drain(..).collect();
        for (process, _) in idle {
            process.shut_down().await;
        }
    }
}
