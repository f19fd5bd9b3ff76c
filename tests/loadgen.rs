//! The `loadgen` binary against a real node and anvil: a short open-loop run through
//! `POST /api/serverless` and a short closed-loop run through `Jobs.createJob` → `JobResponded`.
//! Each must report exactly the requests asked for, all answered with outcome 0 and the expected
//! output, and write both SVG plots. No timing is asserted.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::contracts::{fund_stake, register_executor};
use common::*;
use ethers::types::U256;
use serde_json::Value;

/// Runs loadgen to completion with `args` and returns its report.
fn loadgen(args: &[String], out: &Path, node: &TestNode) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--no-progress")
        .env("RUST_LOG", "info")
        .output()
        .expect("loadgen runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "loadgen failed: {stderr}\nnode log:\n{}",
        node.logs()
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("p99"), "summary on stdout: {summary}");
    serde_json::from_str(&std::fs::read_to_string(out).expect("report written")).expect("JSON")
}

fn chain_flags(chain: &TestChain) -> Vec<String> {
    vec![
        "--rpc-url".into(),
        chain.anvil.http_url(),
        "--code-contract".into(),
        chain.deployment.code_contract.clone(),
        "--key".into(),
        format!("0x{STRANGER_KEY}"),
    ]
}

/// Every measured request answered with outcome 0 and the workload's output; both plots drawn.
fn assert_clean_run(report: &Value, requests: u64, out: &Path) {
    let counts = &report["counts"];
    assert_eq!(counts["requests"], requests, "{report:#}");
    assert_eq!(counts["errors"], 0, "{report:#}");
    assert_eq!(counts["unexpected_output"], 0, "{report:#}");
    assert_eq!(report["outcomes"], serde_json::json!({"0": requests}));
    assert_eq!(report["transport_errors"], serde_json::json!({}));
    let latency = &report["latency_ms"];
    assert_eq!(latency["count"], requests);
    for key in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(latency[key].as_f64().unwrap() > 0.0, "{key}: {latency}");
    }
    assert!(latency["p50"].as_f64() <= latency["max"].as_f64());
    assert!(report["throughput_per_s"].as_f64().unwrap() > 0.0);
    assert!(!report["time_series"].as_array().unwrap().is_empty());
    for key in ["latency_over_time", "latency_distribution"] {
        let plot = out.with_file_name(report["plots"][key].as_str().unwrap());
        let svg = std::fs::read_to_string(&plot).expect("plot written");
        assert!(svg.starts_with("<svg"), "{}", plot.display());
        assert!(
            svg.len() > 4000,
            "{} has {} bytes",
            plot.display(),
            svg.len()
        );
        assert!(svg.contains("latency (ms)"), "{}", plot.display());
    }
}

#[tokio::test]
async fn direct_open_loop_run_reports_every_request_with_outcome_zero() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("direct.json");
    let mut args = vec!["direct".into(), "--node-url".into(), node.url("")];
    args.extend(chain_flags(&chain));
    args.extend(
        ["--rate", "10", "--warmup", "500ms", "--requests", "15"]
            .into_iter()
            .map(String::from),
    );
    let report = loadgen(&args, &out, &node);
    assert_clean_run(&report, 15, &out);
    // 10/s for 0.5 s of warm-up: requests 0..5 are sent but left out.
    assert_eq!(report["counts"]["warmup_requests"], 5);
    assert_eq!(report["config"]["loop"]["kind"], "open");
    assert_eq!(report["config"]["workload"], "trivial");
}

#[tokio::test]
async fn chain_closed_loop_run_measures_job_created_to_job_responded() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    node.configure().await;
    let details = node.get_json("/executor-details").await;
    let message = node.get_json("/signed-registration-message").await;
    fund_stake(&chain, OWNER_KEY, U256::exp10(18)).await;
    let public_key = details["enclave_public_key"].as_str().unwrap();
    register_executor(&chain, OWNER_KEY, public_key, &message, U256::exp10(18))
        .await
        .unwrap();
    wait_until(
        std::time::Duration::from_secs(30),
        "the node to see its registration",
        || async { node.get_json("/health").await["registered"] == true },
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chain.json");
    let mut args: Vec<String> = vec![
        "chain".into(),
        "--jobs".into(),
        chain.deployment.jobs.clone(),
        "--fee-token".into(),
        chain.deployment.usdc.clone(),
    ];
    args.extend(chain_flags(&chain));
    args.extend(
        ["--concurrency", "2", "--requests", "6", "--timeout", "60s"]
            .into_iter()
            .map(String::from),
    );
    let report = loadgen(&args, &out, &node);
    assert_clean_run(&report, 6, &out);
    assert_eq!(report["config"]["mode"], "chain");
    assert_eq!(report["from_schedule_ms"]["count"], 6);
}
