//! The three loads, the same for the floor and a node: paced jobs (low load: short windows of
//! JS and Wasm jobs in turn, the targets taking turns window by window, so the samples of two
//! targets can be paired), a closed loop at the slot count (saturation) and an open loop at a
//! fixed rate (latency from each request's scheduled instant, so a stall cannot hide the
//! requests it delayed), one window of each per round.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use serverless_executor::code::form::CodeForm;
use tokio::time::Instant;

use super::floor::Floor;

/// Idle time before each paced job (so warm modes have their process ready), unless
/// `NODE_ADDED_PACING_MS` says otherwise.
const PACING: Duration = Duration::from_millis(60);
/// JS + Wasm pairs in one paced window (`benches/node_added.rs` runs many, the targets in turn):
/// short, so the machine barely changes between one target's window and the next's.
const PACED_PAIRS: usize = 5;
/// Idle time before a target's paced window, so whatever the previous target does after its
/// last job (a process replaced, a cleanup) is over before this one is measured.
pub const SETTLE: Duration = Duration::from_millis(300);
const SATURATION: Duration = Duration::from_secs(3);
const OPEN_LOOP: Duration = Duration::from_secs(3);

/// A job's input: its window's 4-letter name (`warm`, `pace`, `satu`, `half`) and a number no
/// other job of the run has, so that `benches/packets/phases.py` can pair each route request
/// with the job the node sent to workerd for it, under load as well as paced, and tell the
/// windows apart. Every input has the same length.
fn next_input(window: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed) % 100_000_000;
    format!("{window}{number:08}")
}

#[derive(Clone)]
pub enum Target {
    Floor {
        floor: Arc<Floor>,
        form: CodeForm,
        code: Arc<[u8]>,
    },
    Node {
        client: reqwest::Client,
        url: String,
        tx: String,
    },
}

impl Target {
    pub fn node(node: &super::common::TestNode, tx: &str) -> Self {
        Self::Node {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: node.url("/api/serverless"),
            tx: tx.to_owned(),
        }
    }

    /// One job; false if it did not end with outcome 0 and the right output (a node may answer
    /// 503 past its queue in an open loop).
    async fn job(&self, window: &str) -> bool {
        match self.try_job(window).await {
            Ok(()) => true,
            Err(why) => {
                super::report::say(format!("a bench job failed: {why}"));
                false
            }
        }
    }

    async fn try_job(&self, window: &str) -> Result<(), String> {
        let input = next_input(window);
        match self {
            Self::Floor { floor, form, code } => {
                match floor.run(*form, code, input.as_bytes()).await {
                    output if output == input.as_bytes() => Ok(()),
                    output => Err(format!("the floor answered {output:?}")),
                }
            }
            Self::Node { client, url, tx } => {
                let response = client
                    .post(url)
                    .json(&json!({"tx_hash": tx, "input": input}))
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                let status = response.status();
                let code = response.headers().get("x-executor-error-code").cloned();
                let body = response.bytes().await.map_err(|error| error.to_string())?;
                match code {
                    Some(code) if code == "0" && body.as_ref() == input.as_bytes() => Ok(()),
                    _ => Err(format!(
                        "{status}, outcome {code:?}: {}",
                        String::from_utf8_lossy(&body)
                    )),
                }
            }
        }
    }
}

/// Latencies of the jobs that ended well, and how many did not.
#[derive(Default)]
pub struct Latencies(Vec<Duration>, pub usize);

impl Latencies {
    /// Adds another window's samples.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
        self.1 += other.1;
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The median of `self[i] - other[i]` in milliseconds ([`super::common::paired_median`]).
    pub fn paired_median(&self, other: &Latencies) -> f64 {
        super::common::paired_median(&self.millis(), &other.millis())
    }

    fn millis(&self) -> Vec<f64> {
        self.0.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
    }

    /// The `q` quantile in milliseconds (nearest rank).
    pub fn p(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }
}

fn pacing() -> Duration {
    std::env::var("NODE_ADDED_PACING_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(PACING, Duration::from_millis)
}

pub async fn warm(target: &Target) {
    let pacing = pacing();
    for _ in 0..8 {
        tokio::time::sleep(pacing).await;
        assert!(target.job("warm").await, "warm-up job failed");
    }
}

/// One paced window: [`PACED_PAIRS`] JS and Wasm jobs in turn, each after the pacing idle time,
/// which form goes first alternating, so `wasm[i]` and `js[i]` ran next to each other.
pub async fn paced_pairs(js: &Target, wasm: &Target) -> (Latencies, Latencies) {
    let pacing = pacing();
    let mut times = [
        Vec::with_capacity(PACED_PAIRS),
        Vec::with_capacity(PACED_PAIRS),
    ];
    for pair in 0..PACED_PAIRS {
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for form in order {
            tokio::time::sleep(pacing).await;
            let started = Instant::now();
            assert!([js, wasm][form].job("pace").await, "paced job failed");
            times[form].push(started.elapsed());
        }
    }
    let [js, wasm] = times;
    (Latencies(js, 0), Latencies(wasm, 0))
}

/// Jobs per second with `workers` always in flight.
pub async fn saturate(target: &Target, workers: usize) -> f64 {
    let started = Instant::now();
    let until = started + SATURATION;
    let runs = (0..workers).map(|_| async {
        let mut done = 0u64;
        while Instant::now() < until {
            assert!(target.job("satu").await, "saturating job failed");
            done += 1;
        }
        done
    });
    let done: u64 = futures::future::join_all(runs).await.into_iter().sum();
    done as f64 / started.elapsed().as_secs_f64()
}

pub async fn open_loop(target: &Target, rate: f64) -> Latencies {
    let started = Instant::now();
    let count = (rate * OPEN_LOOP.as_secs_f64()) as usize;
    let mut runs = Vec::with_capacity(count);
    for i in 0..count {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let target = target.clone();
        runs.push(tokio::spawn(async move {
            let ok = target.job("half").await;
            (ok, due.elapsed())
        }));
    }
    let mut latencies = Latencies(Vec::with_capacity(count), 0);
    for run in runs {
        match run.await.unwrap() {
            (true, latency) => latencies.0.push(latency),
            (false, _) => latencies.1 += 1,
        }
    }
    latencies
}
