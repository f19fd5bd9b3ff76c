//! The floor: warm bare workerd processes serving our loader, taken one per request, each
//! replaced after `quota` jobs by a new one started (and warmed up) off the request's path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

use serverless_executor::code::form::CodeForm;
use serverless_executor::workerd::bare::BareProcess;

pub struct Floor {
    root: tempfile::TempDir,
    workerd: PathBuf,
    client: reqwest::Client,
    idle: Mutex<Vec<(BareProcess, u32)>>,
    started: AtomicU64,
    quota: u32,
}

impl Floor {
    pub async fn start(count: usize, quota: u32) -> Arc<Self> {
        let floor = Arc::new(Self {
            root: tempfile::tempdir().unwrap(),
            workerd: super::common::tool("workerd"),
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            idle: Mutex::new(Vec::new()),
            started: AtomicU64::new(0),
            quota,
        });
        for _ in 0..count {
            let process = floor.start_one().await;
            floor.idle.lock().await.push((process, 0));
        }
        floor
    }

    async fn start_one(&self) -> BareProcess {
        let number = self.started.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.path().join(format!("floor-{number}"));
        BareProcess::start(&self.workerd, dir, &self.client)
            .await
            .unwrap()
    }

    /// One job on an idle process (a new one if none is idle, as the node does).
    pub async fn run(self: &Arc<Self>, form: CodeForm, code: &[u8], input: &[u8]) -> Vec<u8> {
        let taken = self.idle.lock().await.pop();
        let (process, served) = match taken {
            Some(taken) => taken,
            None => (self.start_one().await, 0),
        };
        let output = process
            .run(&self.client, form, code, input, 1 << 20)
            .await
            .expect("the floor's job ends normally");
        if served + 1 < self.quota {
            self.idle.lock().await.push((process, served + 1));
        } else {
            let floor = Arc::clone(self);
            tokio::spawn(async move {
                process.shut_down().await;
                let fresh = floor.start_one().await;
                floor.idle.lock().await.push((fresh, 0));
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
