//! What the node adds to a job over the floor, measured side by side in one run on the same
//! cores: latency at low load, saturation throughput, latency at half the floor's saturation,
//! and the node's phase histogram (`executor_job_phase_seconds`) for each mode.
//!
//! The floor (`serverless_executor::workerd::bare`): warm workerd processes serving our loader
//! with the node's own files, command line, warm-up, requests and kept-alive connection, one
//! fresh isolate per request, the process idle longest taken first and each replaced after
//! `isolate_jobs_per_process` jobs off the request's path (as the node does), driven without the
//! node: no HTTP route, actors, cgroups, jail or signing. Each node runs with `job_capacity` =
//! the floor's process count. Every target is up for the whole run and they take turns in
//! short windows, so a slow minute of a shared machine falls on all of them rather than on one
//! (one long window each gave ratios from 74 % to 95 % on the same tree). Paced latencies are
//! reported as paired differences (the median of `node[i] - floor[i]`, job `i` of each taken
//! seconds apart; Wasm's job `i` next to JS's), which the machine's drift does not move.
//! Prints a table; no criterion (the targets are percentiles and rates, not means). Needs root
//! and `scripts/setup.sh`. `NODE_ADDED_MODES=isolate,prewarmed` limits the modes; `isolate:4`
//! runs a mode with 4 warm processes instead of the node's default, and
//! `prewarmed@jail_seccomp=off` one with further config keys (a jail layer's cost, say);
//! `NODE_ADDED_PACING_MS` sets the idle time before each paced job; `prewarmed@binary=PATH`
//! runs another build of the node (an older tree's, for a before-and-after in one run);
//! `floor-cgroups` (and `floor-cgroups:1`, one job per process) adds the floor with each process
//! in a cgroup of the node's job limits.

#![allow(missing_docs, clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "node_added/floor.rs"]
mod floor;
#[path = "node_added/load.rs"]
mod load;
#[path = "node_added/phases.rs"]
mod phases;
#[path = "node_added/report.rs"]
mod report;

use std::sync::Arc;

use serde_json::json;
use serverless_executor::code::form::CodeForm;

use floor::Floor;
use load::{Latencies, Target};
use phases::Phases;

/// Slots of each node and processes of the floor.
const CAPACITY: usize = 4;
/// The node's default `isolate_jobs_per_process`.
const QUOTA: u32 = 100;
/// Turns each target takes at saturation and at the half rate.
const ROUNDS: usize = 3;
/// Paced windows of each target, taken in turn (90 JS and 90 Wasm jobs each).
const PACED_WINDOWS: usize = 18;

const ECHO: &str = "export default { async fetch(r) { return new Response(await r.text()); } };";

/// The echo job as a WASI command (`benches/echo.wat`, shared with `benches/pipeline.rs`).
const ECHO_WAT: &str = include_str!("echo.wat");

/// One thing measured: a floor or a node in one mode, and what its windows gave.
struct Subject {
    name: String,
    js: Target,
    wasm: Target,
    node: Option<common::TestNode>,
    paced: Latencies,
    paced_wasm: Latencies,
    /// Jobs per second, one per round.
    rates: Vec<f64>,
    /// Empty when the target saturates below the half rate (it would only queue).
    half: Latencies,
    /// The node's phases: paced, saturated, at the half rate.
    phases: [Phases; 3],
}

impl Subject {
    fn floor(name: &str, floor: &Arc<Floor>, wasm: &[u8]) -> Self {
        let target = |form, code: &[u8]| Target::Floor {
            floor: Arc::clone(floor),
            form,
            code: code.into(),
        };
        Self::new(
            name.into(),
            target(CodeForm::JavaScript, ECHO.as_bytes()),
            target(CodeForm::Wasi, wasm),
            None,
        )
    }

    fn new(name: String, js: Target, wasm: Target, node: Option<common::TestNode>) -> Self {
        Self {
            name,
            js,
            wasm,
            node,
            paced: Latencies::default(),
            paced_wasm: Latencies::default(),
            rates: Vec::new(),
            half: Latencies::default(),
            phases: Default::default(),
        }
    }

    /// Mean jobs per second over the rounds.
    fn rate(&self) -> f64 {
        self.rates.iter().sum::<f64>() / self.rates.len().max(1) as f64
    }

    async fn scrape(&self) -> Phases {
        match &self.node {
            Some(node) => phases::scrape(node).await,
            None => Phases::default(),
        }
    }

    /// Runs one window and gives back its result with the node's phases counted during it.
    async fn counted<T>(&self, window: impl std::future::Future<Output = T>) -> (T, Phases) {
        let before = self.scrape().await;
        let result = window.await;
        (result, self.scrape().await.since(&before))
    }

    /// One paced window of JS and Wasm jobs in turn.
    async fn paced_window(&mut self) {
        let ((js, wasm), phases) = self.counted(load::paced_pairs(&self.js, &self.wasm)).await;
        self.paced.extend(js);
        self.paced_wasm.extend(wasm);
        self.phases[0] = self.phases[0].plus(&phases);
    }

    /// One round: a saturated window, and one at `half_rate` if this target can sustain it.
    async fn round(&mut self, half_rate: f64) {
        let (rate, phases) = self.counted(load::saturate(&self.js, CAPACITY)).await;
        self.phases[1] = self.phases[1].plus(&phases);
        self.rates.push(rate);
        if rate > half_rate * 1.1 {
            let (half, phases) = self.counted(load::open_loop(&self.js, half_rate)).await;
            self.half.extend(half);
            self.phases[2] = self.phases[2].plus(&phases);
        }
    }
}

fn main() {
    if !common::under_cargo_bench() {
        return;
    }
    common::log_as_operators_do();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let modes: Vec<String> = std::env::var("NODE_ADDED_MODES")
        .unwrap_or_else(|_| "isolate,prewarmed,cold".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let wasm = wat::parse_str(ECHO_WAT).unwrap();
    let chain = common::TestChain::start().await;
    let js_tx = common::contracts::upload_code(&chain, common::STRANGER_KEY, ECHO.as_bytes()).await;
    let wasm_tx = common::contracts::upload_code(&chain, common::STRANGER_KEY, &wasm).await;

    let floor = Floor::start(CAPACITY, QUOTA, None).await;
    // `prewarmed`'s own floor: a process serves one job after its warm-up, as there.
    let fresh = Floor::start(CAPACITY, 1, None).await;
    let mut cgroup_floors = Vec::new();
    let mut subjects = vec![
        Subject::floor("floor", &floor, &wasm),
        Subject::floor("floor, 1 job per process", &fresh, &wasm),
    ];
    for mode in &modes {
        // `floor-cgroups` (`:1`: one job per process) is the floor with each process in a
        // cgroup of the node's job limits: what the cgroups alone cost, side by side.
        if let Some(rest) = mode.strip_prefix("floor-cgroups") {
            let quota = if rest == ":1" { 1 } else { QUOTA };
            let parent = format!(
                "serverless-executor-bench-floor-{}-{quota}",
                std::process::id()
            );
            let cgroup_floor = Floor::start(CAPACITY, quota, Some(&parent)).await;
            let name = format!("floor in cgroups, {quota} job(s) per process");
            let subject = Subject::floor(&name, &cgroup_floor, &wasm);
            load::warm(&subject.js).await;
            load::warm(&subject.wasm).await;
            subjects.push(subject);
            cgroup_floors.push(cgroup_floor);
            continue;
        }
        // `isolate:4` is `isolate` with 4 warm processes instead of the node's default, for
        // comparing pool shapes in one run.
        let mut parts = mode.split('@');
        let shape = parts.next().unwrap();
        let (name, warm) = match shape.split_once(':') {
            Some((name, warm)) => (name, Some(warm.parse::<usize>().unwrap())),
            None => (shape, None),
        };
        // `prewarmed@jail_seccomp=off` adds config keys (a value that is not JSON is a string),
        // for comparing a jail layer's cost in one run.
        // `@binary=PATH` runs another build of the node (a baseline tree, side by side).
        let mut extra = serde_json::Map::new();
        let mut binary = None;
        extra.insert("warm_processes".into(), json!(warm));
        for setting in parts {
            let (key, value) = setting.split_once('=').expect("`@key=value`");
            if key == "binary" {
                binary = Some(std::path::PathBuf::from(value));
                continue;
            }
            let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
            extra.insert(key.into(), value);
        }
        let options = common::NodeOptions {
            execution_mode: Some(Box::leak(name.to_owned().into_boxed_str())),
            job_capacity: Some(CAPACITY as u64),
            // An open loop past the node's rate queues rather than being refused at once.
            job_queue_capacity: Some(4096),
            // `null` undoes the test nodes' small pool: the node's own default.
            extra_config: Some(serde_json::Value::Object(extra)),
            binary,
            ..common::NodeOptions::default()
        };
        let node = common::TestNode::start(&chain, options).await;
        let js = Target::node(&node, &js_tx);
        let wasm = Target::node(&node, &wasm_tx);
        // One unmeasured round so both forms have run once, as on a node that has been up.
        load::warm(&js).await;
        load::warm(&wasm).await;
        subjects.push(Subject::new(mode.clone(), js, wasm, Some(node)));
    }
    // Window by window in turn, so job `i` of every target ran within seconds of the others'.
    for _ in 0..PACED_WINDOWS {
        for subject in &mut subjects {
            tokio::time::sleep(load::SETTLE).await;
            subject.paced_window().await;
        }
    }
    let half_rate = load::saturate(&subjects[0].js, CAPACITY).await / 2.0;
    for _ in 0..ROUNDS {
        for subject in &mut subjects {
            subject.round(half_rate).await;
        }
    }
    report::print(&subjects, half_rate);
    floor.shut_down().await;
    fresh.shut_down().await;
    for cgroup_floor in cgroup_floors {
        cgroup_floor.shut_down().await;
    }
    drop(subjects);
    drop(chain);
}
