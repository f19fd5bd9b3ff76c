//! Burst mode: N jobs created in one block, timed from that block's mining to the arrival of
//! the last `JobResponded`, next to the same N jobs posted at once to the direct route (timed
//! from the first send to the last answer), in the same run against the same node. The ratio
//! chain ÷ direct is what the node's chain path (listener, slots, signing, submission) adds.
//!
//! Owns anvil's mining switch for the burst (`evm_setAutomine` off while the createJobs are
//! sent, one `evm_mine`, automine back on so the node's submissions are mined at once); sends
//! createJob from the user's key and direct runs to the node; writes a small JSON report with
//! the node's own phase means over the measured rounds ([`phases`]).

use std::path::PathBuf;
use std::time::Duration;

use ethers::providers::Middleware;
use futures::future::join_all;
use serde::Serialize;
use tokio::time::Instant;
use tracing::info;

use crate::chain::{self, ChainModeError, ChainTarget};
use crate::cli::BurstArgs;
use crate::direct::{DirectError, DirectTarget};
use crate::load::{Failure, Outcome, Target};
use crate::phases::{self, PhaseMean};

/// A burst that could not be measured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BurstError {
    #[error(transparent)]
    Chain(#[from] ChainModeError),
    #[error(transparent)]
    Direct(#[from] DirectError),
    #[error("anvil refused {0} (is the chain an anvil?)")]
    Anvil(&'static str),
    #[error("a chain job failed: {0:?}")]
    ChainJob(Failure),
    #[error("the burst's jobs were mined in {0} blocks, not one")]
    NotOneBlock(usize),
    #[error("{0} of the burst's answers are not outcome 0 with the expected output")]
    WrongAnswers(usize),
    #[error("writing the report {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One measured round, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Round {
    /// First direct send → last direct answer.
    pub(crate) direct_ms: f64,
    /// The burst's block mined → its last `JobResponded` received.
    pub(crate) chain_ms: f64,
}

/// What `loadgen burst` writes.
#[derive(Debug, Serialize)]
struct BurstReport {
    size: usize,
    workload: &'static str,
    rounds: Vec<Round>,
    median_direct_ms: f64,
    median_chain_ms: f64,
    /// median chain ÷ median direct.
    ratio: f64,
    /// The node's phase means over the measured rounds (empty without `/metrics`).
    phases: Vec<PhaseMean>,
}

/// Runs one warm-up round and `args.rounds` measured ones, prints the summary and writes the
/// report.
pub(crate) async fn run(args: &BurstArgs) -> Result<(), BurstError> {
    let target = chain::target(&args.chain).await?;
    let workload = args.chain.load.workload;
    let direct = DirectTarget::new(&args.node_url, target.code_tx, workload)?;
    info!(
        size = args.size,
        rounds = args.rounds,
        "Burst: warm-up round."
    );
    round(&target, &direct, args.size).await?;
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(DirectError::Client)?;
    let before = phases::scrape(&metrics, &args.node_url).await;
    let mut rounds = Vec::with_capacity(args.rounds);
    for index in 0..args.rounds {
        let measured = round(&target, &direct, args.size).await?;
        info!(
            round = index + 1,
            direct_ms = measured.direct_ms,
            chain_ms = measured.chain_ms,
            "Burst round."
        );
        rounds.push(measured);
    }
    let after = phases::scrape(&metrics, &args.node_url).await;
    let phases = match (before, after) {
        (Some(before), Some(after)) => phases::means(&before, &after),
        _ => Vec::new(),
    };
    let median_direct_ms = median(rounds.iter().map(|round| round.direct_ms));
    let median_chain_ms = median(rounds.iter().map(|round| round.chain_ms));
    let report = BurstReport {
        size: args.size,
        workload: workload.name(),
        rounds,
        median_direct_ms,
        median_chain_ms,
        ratio: median_chain_ms / median_direct_ms.max(f64::MIN_POSITIVE),
        phases,
    };
    let out = args
        .chain
        .load
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("results/burst-{}.json", workload.name())));
    write(&out, &report)?;
    info!(report = %out.display(), "Report written.");
    // The summary is the command's output, on stdout like the other modes' summary.
    let mut summary = format!(
        "burst of {}: direct {median_direct_ms:.1} ms, chain {median_chain_ms:.1} ms (median of {}), chain/direct {:.2}\n",
        report.size,
        report.rounds.len(),
        report.ratio
    );
    for phase in &report.phases {
        summary.push_str(&format!(
            "  phase {:<14} mean {:>9.2} ms over {} jobs\n",
            phase.phase, phase.mean_ms, phase.count
        ));
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes()).map_err(|source| {
        BurstError::Write {
            path: PathBuf::from("stdout"),
            source,
        }
    })
}

/// One direct burst, then one chain burst.
async fn round(
    target: &ChainTarget,
    direct: &DirectTarget,
    size: usize,
) -> Result<Round, BurstError> {
    let direct_ms = direct_burst(direct, size).await?;
    let chain_ms = chain_burst(target, size).await?;
    Ok(Round {
        direct_ms,
        chain_ms,
    })
}

async fn direct_burst(direct: &DirectTarget, size: usize) -> Result<f64, BurstError> {
    let started = Instant::now();
    let answers = join_all((0..size).map(|_| direct.call())).await;
    let took = started.elapsed();
    let wrong = answers
        .iter()
        .filter(|answer| {
            !matches!(
                answer.outcome,
                Outcome::Answered {
                    code: 0,
                    output_ok: true
                }
            )
        })
        .count();
    if wrong > 0 {
        return Err(BurstError::WrongAnswers(wrong));
    }
    Ok(millis(took))
}

async fn chain_burst(target: &ChainTarget, size: usize) -> Result<f64, BurstError> {
    automine(target, false).await?;
    let sent = join_all((0..size).map(|_| target.send_create_job())).await;
    let hashes: Result<Vec<_>, _> = sent.into_iter().collect();
    let hashes = match hashes {
        Ok(hashes) => hashes,
        Err(failure) => {
            automine(target, true).await?;
            return Err(BurstError::ChainJob(failure));
        }
    };
    let provider = target.chain.client.provider();
    provider
        .request::<_, serde_json::Value>("evm_mine", ())
        .await
        .map_err(|_| BurstError::Anvil("evm_mine"))?;
    let mined = Instant::now();
    automine(target, true).await?;
    let mut job_ids = Vec::with_capacity(size);
    let mut blocks = std::collections::HashSet::new();
    for hash in hashes {
        let receipt = target.receipt(hash).await.map_err(BurstError::ChainJob)?;
        blocks.insert(receipt.block_number);
        job_ids.push(target.job_id_of(&receipt).map_err(BurstError::ChainJob)?);
    }
    if blocks.len() != 1 {
        return Err(BurstError::NotOneBlock(blocks.len()));
    }
    let answers = join_all(job_ids.into_iter().map(|id| target.responded(id))).await;
    let mut last = mined;
    let mut wrong = 0;
    for answer in answers {
        let responded = answer.map_err(BurstError::ChainJob)?;
        wrong += usize::from(!target.answer_ok(&responded));
        last = last.max(responded.at);
    }
    if wrong > 0 {
        return Err(BurstError::WrongAnswers(wrong));
    }
    Ok(millis(last - mined))
}

async fn automine(target: &ChainTarget, on: bool) -> Result<(), BurstError> {
    target
        .chain
        .client
        .provider()
        .request::<_, serde_json::Value>("evm_setAutomine", [on])
        .await
        .map(drop)
        .map_err(|error| {
            tracing::debug!(%error, "evm_setAutomine refused.");
            BurstError::Anvil("evm_setAutomine")
        })
}

fn write(out: &std::path::Path, report: &BurstReport) -> Result<(), BurstError> {
    let failed = |source| BurstError::Write {
        path: out.to_owned(),
        source,
    };
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let json = serde_json::to_vec_pretty(report).map_err(|error| failed(error.into()))?;
    std::fs::write(out, json).map_err(failed)
}

fn millis(took: Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

/// The median (the upper middle for an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}
