//! What the node adds to a job over the floor, measured side by side in one run on the same
//! cores: latency at low load, saturation throughput, latency at half the floor's saturation,
//! and the node's phase histogram (`executor_job_phase_seconds`) for each mode.
//!
//! The floor (`serverless_executor::workerd::bare`): warm workerd processes serving our loader
//! with the node's own files, command line, warm-up and requests, one fresh isolate per request,
//! each process replaced after `isolate_jobs_per_process` jobs off the request's path (as the
//! node replaces its processes), driven without the node: no HTTP route, actors, cgroups, jail
//! or signing. Each node runs with `job_capacity` = the floor's process count. Prints a table;
//! no criterion (the targets are percentiles and rates, not means). Needs root and
//! `scripts/setup.sh`. `NODE_ADDED_MODES=isolate,prewarmed` limits the modes.

#![allow(missing_docs, clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "node_added/floor.rs"]
mod floor;
#[path = "node_added/load.rs"]
mod load;
#[path = "node_added/phases.rs"]
mod phases;

use std::sync::Arc;

use serde_json::json;
use serverless_executor::code::form::CodeForm;

use floor::Floor;
use load::{Latencies, Target};

/// Slots of each node and processes of the floor.
const CAPACITY: usize = 4;
/// The node's default `isolate_jobs_per_process`.
const QUOTA: u32 = 100;

const ECHO: &str = "export default { async fetch(r) { return new Response(await r.text()); } };";

/// The echo job as a WASI command (`benches/echo.wat`, shared with `benches/pipeline.rs`).
const ECHO_WAT: &str = include_str!("echo.wat");

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a whole measurement there (minutes, debug build) would only slow the test suite.
    if !std::env::args().any(|arg| arg == "--bench") {
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

    let floor = Floor::start(CAPACITY, QUOTA).await;
    let floor_js = Target::Floor {
        floor: Arc::clone(&floor),
        form: CodeForm::JavaScript,
        code: ECHO.as_bytes().into(),
    };
    let floor_wasm = Target::Floor {
        floor: Arc::clone(&floor),
        form: CodeForm::Wasi,
        code: wasm.clone().into(),
    };
    let floor_paced = load::paced(&floor_js).await;
    let floor_paced_wasm = load::paced(&floor_wasm).await;
    let floor_rate = load::saturate(&floor_js, CAPACITY).await;
    let half_rate = floor_rate / 2.0;
    let floor_half = load::open_loop(&floor_js, half_rate).await;
    floor.shut_down().await;
    // `prewarmed`'s own floor: a process serves one job after its warm-up, as there.
    let fresh = Floor::start(CAPACITY, 1).await;
    let fresh_js = Target::Floor {
        floor: Arc::clone(&fresh),
        form: CodeForm::JavaScript,
        code: ECHO.as_bytes().into(),
    };
    let fresh_wasm = Target::Floor {
        floor: Arc::clone(&fresh),
        form: CodeForm::Wasi,
        code: wasm.clone().into(),
    };
    let fresh_paced = load::paced(&fresh_js).await;
    let fresh_paced_wasm = load::paced(&fresh_wasm).await;
    let fresh_rate = load::saturate(&fresh_js, CAPACITY).await;
    fresh.shut_down().await;

    let mut rows = vec![
        row("floor, 1 job per process", "paced JS", &fresh_paced, None),
        row(
            "floor, 1 job per process",
            "paced Wasm",
            &fresh_paced_wasm,
            None,
        ),
        row(
            "floor, 1 job per process",
            "saturated",
            &Latencies::default(),
            Some(fresh_rate),
        ),
        row("floor", "paced JS", &floor_paced, None),
        row("floor", "paced Wasm", &floor_paced_wasm, None),
        row(
            "floor",
            "saturated",
            &Latencies::default(),
            Some(floor_rate),
        ),
        row("floor", &format!("{half_rate:.0}/s"), &floor_half, None),
    ];
    let mut phase_tables = Vec::new();
    for mode in &modes {
        let options = common::NodeOptions {
            execution_mode: Some(Box::leak(mode.clone().into_boxed_str())),
            job_capacity: Some(CAPACITY as u64),
            // An open loop past the node's rate queues rather than being refused at once.
            job_queue_capacity: Some(4096),
            extra_config: Some(json!({ "warm_processes": CAPACITY })),
            ..common::NodeOptions::default()
        };
        let node = common::TestNode::start(&chain, options).await;
        let js = Target::node(&node, &js_tx);
        let wasm = Target::node(&node, &wasm_tx);
        // One unmeasured round so both forms have run once, as on a node that has been up.
        load::warm(&js).await;
        load::warm(&wasm).await;
        let before = phases::scrape(&node).await;
        let paced = load::paced(&js).await;
        let low_phases = phases::scrape(&node).await.since(&before);
        let paced_wasm = load::paced(&wasm).await;
        let before = phases::scrape(&node).await;
        let rate = load::saturate(&js, CAPACITY).await;
        let saturated_phases = phases::scrape(&node).await.since(&before);
        let before = phases::scrape(&node).await;
        let half = load::open_loop(&js, half_rate).await;
        let half_phases = phases::scrape(&node).await.since(&before);
        rows.push(row(mode, "paced JS", &paced, None));
        rows.push(row(mode, "paced Wasm", &paced_wasm, None));
        rows.push(row(mode, "saturated", &Latencies::default(), Some(rate)));
        rows.push(row(mode, &format!("{half_rate:.0}/s"), &half, None));
        say(format!(
            "{mode}: over the 1-job floor: paced JS p50 {:+.2} ms, Wasm p50 {:+.2} ms; saturation \
             {:.0} % of its",
            paced.p(0.5) - fresh_paced.p(0.5),
            paced_wasm.p(0.5) - fresh_paced_wasm.p(0.5),
            100.0 * rate / fresh_rate,
        ));
        say(format!(
            "{mode}: node-added paced JS p50 {:+.2} ms p99 {:+.2} ms; Wasm over JS p50 {:+.2} ms \
             (floor {:+.2} ms); {half_rate:.0}/s p50 {:+.2} ms p99 {:+.2} ms; saturation {:.0} % \
             of the floor's",
            paced.p(0.5) - floor_paced.p(0.5),
            paced.p(0.99) - floor_paced.p(0.99),
            paced_wasm.p(0.5) - paced.p(0.5),
            floor_paced_wasm.p(0.5) - floor_paced.p(0.5),
            half.p(0.5) - floor_half.p(0.5),
            half.p(0.99) - floor_half.p(0.99),
            100.0 * rate / floor_rate,
        ));
        phase_tables.push((format!("{mode}, paced"), low_phases));
        phase_tables.push((format!("{mode}, saturated"), saturated_phases));
        phase_tables.push((format!("{mode}, {half_rate:.0}/s"), half_phases));
        drop(node);
    }
    say("\n| target | load | jobs | throughput | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |".into());
    for line in rows {
        say(line);
    }
    say(format!("\n{}", phases::table(&phase_tables)));
    drop(chain);
}

/// One line of the report on stdout.
fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn row(target: &str, load: &str, latencies: &Latencies, rate: Option<f64>) -> String {
    match rate {
        Some(rate) => format!("| {target} | {load} | | {rate:.1}/s | | |"),
        None => format!(
            "| {target} | {load} | {} ({} failed) | | {:.2} | {:.2} |",
            latencies.count(),
            latencies.1,
            latencies.p(0.5),
            latencies.p(0.99)
        ),
    }
}
