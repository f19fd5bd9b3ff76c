//! The chain job loop's happy path on anvil: a registered node sees `JobCreated` selecting it,
//! runs the job in workerd, signs the output and submits it; `Jobs` accepts it and emits
//! `JobResponded` with the output, recovered to the node's enclave address.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, upload_code};
use common::jobs::{
    jobs_logs, outputs_of, registered_node, selected_of, wait_for_outputs, JOB_RESPONDED, SLASHED,
};
use common::*;
use ethers::types::U256;

const PRIME_FACTORS: &str = "export default { async fetch(request) { const { num } = await request.json(); let n = num; const f = []; for (let d = 2; d * d <= n; d++) { while (n % d === 0) { f.push(d); n /= d; } } if (n > 1) f.push(n); return new Response(f.join(',')); } };";

#[tokio::test]
async fn a_selected_node_runs_the_job_and_its_output_is_accepted_on_chain() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;
    let job_id = create_job(&chain, STRANGER_KEY, &code_tx, br#"{"num":600}"#, 5000).await;

    let all = wait_for_outputs(&chain, &[job_id], 1, &[&node]).await;
    let output = outputs_of(&all, job_id)[0];
    assert_eq!(output.executor, node.enclave_address());
    assert_eq!(output.output, b"2,2,2,3,5,5");
    assert_eq!(output.error_code, 0);
    assert_eq!(output.output_count, 1, "first output");
    // The node logs this once its receipt poll sees what we already read from the chain.
    wait_until(
        Duration::from_secs(10),
        "the node to log its submission",
        || {
            let logged = node.logs().contains("Output submitted on chain.");
            async move { logged }
        },
    )
    .await;
    let (_, metrics) = node.get("/metrics").await;
    for line in [
        r#"executor_jobs_accepted_total{source="chain"} 1"#,
        r#"executor_jobs_ended_total{source="chain",outcome="0"} 1"#,
        r#"executor_job_phase_seconds_count{phase="admission_wait"} 1"#,
        r#"executor_job_phase_seconds_count{phase="code_fetch_miss"} 1"#,
        r#"executor_job_phase_seconds_count{phase="signing"} 1"#,
        "executor_ready 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn a_job_whose_executor_is_gone_is_reported_once_by_another_node() {
    let chain = TestChain::start_with(&["--execution-buffer", "1"]).await;
    let gone = registered_node(&chain, GAS_KEY).await;
    let watcher = registered_node(&chain, SECOND_GAS_KEY).await;
    let gone_address = gone.enclave_address();
    drop(gone);
    let code_tx = upload_code(&chain, STRANGER_KEY, PRIME_FACTORS.as_bytes()).await;

    // Selection is stake-weighted random among the two: create jobs until one picks the dead node.
    let mut answered_by_watcher = Vec::new();
    let mut orphan = None;
    for _ in 0..24 {
        let job_id = create_job(&chain, STRANGER_KEY, &code_tx, br#"{"num":6}"#, 1000).await;
        if selected_of(&chain, job_id).await.contains(&gone_address) {
            orphan = Some(job_id);
            break;
        }
        answered_by_watcher.push(job_id);
    }
    let orphan = orphan.expect("the dead node was selected at least once in 24 jobs");

    // Blocks keep coming on a real chain; on anvil they must be mined for its clock to advance.
    let miner = tokio::spawn(mine_every(
        chain.anvil.http_url(),
        Duration::from_millis(500),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let slashed = loop {
        let logs = jobs_logs(&chain, SLASHED).await;
        if !logs.is_empty() {
            break logs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no timeout report: {}",
            watcher.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let every other watch come due, then count.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let slashed = if slashed.len() == 1 {
        jobs_logs(&chain, SLASHED).await
    } else {
        slashed
    };
    let slashed_jobs: Vec<U256> = slashed
        .iter()
        .map(|log| U256::from_big_endian(log.topics[1].as_bytes()))
        .collect();
    assert_eq!(
        slashed_jobs,
        vec![orphan],
        "only the orphaned job, reported once"
    );
    let executor = format!("0x{}", hex::encode(&slashed[0].topics[2].as_bytes()[12..]));
    assert_eq!(executor, gone_address, "the dead node is the one slashed");
    assert!(watcher.logs().contains("Timeout reported on chain."));
    miner.abort();
    let answered = jobs_logs(&chain, JOB_RESPONDED).await.len();
    assert_eq!(
        answered,
        answered_by_watcher.len(),
        "the watcher answered its own jobs"
    );
}

async fn mine_every(url: String, period: Duration) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    loop {
        let request =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []});
        let _ = client.post(&url).json(&request).send().await;
        tokio::time::sleep(period).await;
    }
}
