//! The chain side of the fault-injection kit: anvil's snapshot and revert, a background miner
//! (anvil's clock moves only with blocks, and a timeout report needs it past the window), the
//! timeout reports on chain, and the one assertion every fault test ends with: each job was
//! answered exactly once by the node it selected, or, if that node missed it, reported exactly
//! once by another; no node reported a job it was selected for; each gas account sent nothing
//! else. Chain state is read from anvil over HTTP, never through a relay under test.

use std::time::Duration;

use ethers::types::U256;
use tokio::task::JoinHandle;

use super::jobs::{gas_nonce, jobs_logs, outputs, outputs_of, rpc, selected_of, SLASHED};
use super::{poll_until, TestChain, TestNode};

/// `evm_snapshot`: an id to revert to.
pub async fn snapshot(chain: &TestChain) -> serde_json::Value {
    rpc(chain, "evm_snapshot", serde_json::json!([])).await
}

/// `evm_revert` to `id`: every block since the snapshot is gone, with our transactions in them.
pub async fn revert(chain: &TestChain, id: serde_json::Value) {
    let reverted = rpc(chain, "evm_revert", serde_json::json!([id])).await;
    assert_eq!(reverted, serde_json::json!(true), "evm_revert");
}

/// Mines a block every `period` until dropped (aborts on drop).
pub struct Miner(JoinHandle<()>);

impl Miner {
    pub fn start(chain: &TestChain, period: Duration) -> Self {
        let url = chain.anvil.http_url();
        Self(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let request =
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []});
            loop {
                let _ = client.post(&url).json(&request).send().await;
                tokio::time::sleep(period).await;
            }
        }))
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every `SlashedOnExecutionTimeout` so far: (job id, slashed executor as lowercase 0x hex).
pub async fn timeout_reports(chain: &TestChain) -> Vec<(U256, String)> {
    jobs_logs(chain, SLASHED)
        .await
        .iter()
        .map(|log| {
            (
                U256::from_big_endian(log.topics[1].as_bytes()),
                format!("0x{}", hex::encode(&log.topics[2].as_bytes()[12..])),
            )
        })
        .collect()
}

/// A job and the output it should get.
#[derive(Debug, Clone)]
pub struct CreatedJob {
    pub id: U256,
    /// What the selected node must answer.
    pub output: String,
}

/// A node under test and the gas key it sends with.
pub struct Party<'a> {
    pub node: &'a TestNode,
    pub gas_key: &'a str,
}

/// Waits until every job is settled (answered by each executor it selected among `alive`, or
/// reported), then asserts, from chain state:
/// - a job selecting a node in `alive` has exactly one output per such node, echoing its input;
/// - a job selecting `gone` (an executor that never answers) is reported exactly once, and only
///   that executor is slashed;
/// - no node in `alive` is ever slashed: none of their outputs was reported as a timeout;
/// - each gas account sent exactly its outputs plus the reports `reporter` owes.
pub async fn assert_settled(
    chain: &TestChain,
    jobs: &[CreatedJob],
    alive: &[Party<'_>],
    gone: Option<&str>,
    reporter: Option<&str>,
) {
    let enclaves: Vec<String> = alive.iter().map(|p| p.node.enclave_address()).collect();
    let mut selections = Vec::new();
    for job in jobs {
        selections.push(selected_of(chain, job.id).await);
    }
    let settled = poll_until(Duration::from_secs(90), || async {
        let all = outputs(chain).await;
        let reports = timeout_reports(chain).await;
        jobs.iter().zip(&selections).all(|(job, selected)| {
            let answers = outputs_of(&all, job.id).len();
            let owed = selected.iter().filter(|s| enclaves.contains(s)).count();
            let needs_report = gone.is_some_and(|gone| selected.iter().any(|s| s == gone));
            answers >= owed && (!needs_report || reports.iter().any(|(id, _)| *id == job.id))
        })
    })
    .await;
    let logs = || {
        alive
            .iter()
            .map(|p| p.node.logs())
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };
    assert!(settled, "jobs not settled in time; logs:\n{}", logs());
    // Give a duplicate output or report every chance to appear before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = outputs(chain).await;
    let reports = timeout_reports(chain).await;
    let mut sent = vec![0u64; alive.len()];
    for (job, selected) in jobs.iter().zip(&selections) {
        let answers = outputs_of(&all, job.id);
        for (n, enclave) in enclaves.iter().enumerate() {
            let by_node: Vec<_> = answers.iter().filter(|o| &o.executor == enclave).collect();
            let expected = usize::from(selected.contains(enclave));
            assert_eq!(
                by_node.len(),
                expected,
                "job {} outputs by node {n}\n{}",
                job.id,
                logs()
            );
            assert!(
                by_node.iter().all(|o| o.output == job.output.as_bytes()),
                "job {}: {by_node:?}\n{}",
                job.id,
                logs()
            );
            sent[n] += expected as u64;
        }
        let reported: Vec<_> = reports.iter().filter(|(id, _)| *id == job.id).collect();
        match gone.filter(|gone| selected.iter().any(|s| s == gone)) {
            Some(gone) => {
                assert_eq!(
                    reported.len(),
                    1,
                    "job {} reported once\n{}",
                    job.id,
                    logs()
                );
                assert_eq!(
                    reported[0].1, gone,
                    "job {}: only the missing node slashed",
                    job.id
                );
                if let Some(n) = reporter.and_then(|r| alive.iter().position(|p| p.gas_key == r)) {
                    sent[n] += 1;
                }
            }
            None => assert!(reported.is_empty(), "job {} reported: {reported:?}", job.id),
        }
    }
    for (id, slashed) in &reports {
        assert!(
            !enclaves.contains(slashed),
            "job {id}: a live node was slashed\n{}",
            logs()
        );
    }
    for (n, party) in alive.iter().enumerate() {
        assert_eq!(
            gas_nonce(chain, party.gas_key).await,
            sent[n],
            "node {n}'s gas account: its outputs and reports, nothing else\n{}",
            logs()
        );
    }
}
