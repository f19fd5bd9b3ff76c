//! The chain and transaction metrics end to end: a registered node on anvil answers a chain
//! job, and its `/metrics` then shows the head it follows, the job in its book, the output's
//! transaction sent and settled (none pending, none failed), the gas account's nonce and
//! balance, the checkpoint, and the submission and inclusion phases timed once.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::jobs::{registered_node, responded_count};
use common::*;

const ECHO: &str =
    "export default { async fetch(request) { return new Response(await request.text()); } };";

/// The value of an unlabelled sample `name` (or of `name{labels}` as written).
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_chain_job_shows_in_the_chain_and_tx_metrics() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let job = create_job(&chain, STRANGER_KEY, &code_tx, b"metered", 10_000).await;
    wait_until(Duration::from_secs(30), "the job answered", || async {
        responded_count(&chain, job).await == 1
    })
    .await;
    // The sender sees the inclusion on its next check, the checkpoint is saved each second.
    let settled = |metrics: &str| {
        sample(metrics, "executor_tx_pending") == Some(0.0)
            && sample(metrics, "executor_chain_checkpoint_block").unwrap_or(0.0) > 0.0
            && metrics.contains(r#"executor_job_phase_seconds_count{phase="submission"} 1"#)
            && metrics.contains(r#"executor_job_phase_seconds_count{phase="inclusion"} 1"#)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (status, metrics) = node.get("/metrics").await;
        assert_eq!(status, 200);
        if settled(&metrics) {
            break metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "output not settled in /metrics:\n{metrics}\n{}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let value = |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("{name}:\n{metrics}"));
    assert!(value("executor_tx_sent_total") >= 1.0, "{metrics}");
    assert!(value("executor_chain_head_block") > 0.0, "{metrics}");
    assert!(
        value("executor_chain_head_seen_timestamp_seconds") > 1.6e9,
        "{metrics}"
    );
    // A first start begins at the head: nothing to backfill.
    assert_eq!(
        value("executor_chain_backfill_ranges_total"),
        0.0,
        "{metrics}"
    );
    // The job stays in the book until its answer window closes.
    assert_eq!(value("executor_chain_jobs_tracked"), 1.0, "{metrics}");
    assert_eq!(value("executor_tx_nonce"), 1.0, "{metrics}");
    assert_eq!(value("executor_tx_oldest_pending_blocks"), 0.0, "{metrics}");
    assert!(value("executor_gas_balance_wei") > 1e18, "{metrics}");
    assert_eq!(value("executor_chain_reorgs_total"), 0.0, "{metrics}");
    // Every bounded series exists from the start, at 0 here.
    for family in [
        "executor_tx_failed_total{",
        "executor_chain_listener_reconnects_total{",
    ] {
        let series: Vec<&str> = metrics.lines().filter(|l| l.starts_with(family)).collect();
        assert!(!series.is_empty(), "{family} exported:\n{metrics}");
        assert!(
            series.iter().all(|line| line.ends_with(" 0")),
            "none counted: {series:?}"
        );
    }
}
