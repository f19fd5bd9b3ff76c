//! Chain mode: every request is a `Jobs.createJob` from the user's key; its latency runs from the
//! createJob receipt's arrival (the JobCreated block is in) to the arrival of that job's
//! `JobResponded` log. Fee tokens are minted and approved once up front; gas, fees and nonces
//! are fixed locally so that concurrent sends need no estimation round trips.
//!
//! Owns the user's nonce counter; sends createJob transactions; receives answers through the
//! [`watcher`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ethers::middleware::Middleware;
use ethers::types::transaction::eip2718::TypedTransaction;
use ethers::types::{Address, Bytes, Eip1559TransactionRequest, TransactionReceipt, H256, U256};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::cli::ChainArgs;
use crate::contracts::{self, jobs_abi, jobs_topic, rpc, Chain, ChainError, RECEIPT_POLL};
use crate::load::{Answer, Failure, Outcome, Plan, Target};
use crate::report::RunConfig;
use crate::watcher::{self, Watch};
use crate::workloads::Workload;

/// Fee tokens minted up front: far more than any run escrows (deadline × fee per job).
const FEE_TOKENS: u128 = 1 << 100;

/// Setting up chain mode failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChainModeError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(
        "createJob reverts in simulation (is a node registered for env {env} with a free slot?)"
    )]
    CreateJobReverts {
        env: u8,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Creates one job per call and waits for its `JobResponded`.
#[derive(Debug)]
pub(crate) struct ChainTarget {
    pub(crate) chain: Chain,
    /// A createJob with everything but the nonce filled in.
    template: Eip1559TransactionRequest,
    nonce: AtomicU64,
    jobs: Address,
    job_created: H256,
    watcher: mpsc::UnboundedSender<Watch>,
    workload: Workload,
    /// The code every job runs (also what a burst's direct runs run).
    pub(crate) code_tx: H256,
}

/// Connects and prepares the target (see [`target`]), and the report's config.
pub(crate) async fn setup(
    args: &ChainArgs,
    plan: &Plan,
) -> Result<(Arc<ChainTarget>, RunConfig), ChainModeError> {
    let target = target(args).await?;
    let mut config = RunConfig::from_plan(plan, target.workload);
    config.mode = "chain";
    config.target = target.chain.rpc_url.to_string();
    config.code_tx = format!("{:?}", target.code_tx);
    config.job_deadline_ms = Some(args.job_deadline_ms);
    Ok((Arc::new(target), config))
}

/// Connects, uploads the code unless `--code-tx` names it, funds the fees, prices createJob and
/// subscribes to `JobResponded`.
pub(crate) async fn target(args: &ChainArgs) -> Result<ChainTarget, ChainModeError> {
    let workload = args.load.workload;
    let chain = contracts::connect(&args.chain).await?;
    let jobs = chain.address(args.jobs, |d| d.jobs, "--jobs")?;
    let code_tx = match args.code_tx {
        Some(code_tx) => code_tx,
        None => {
            let code_contract = chain.address(
                args.chain.code_contract,
                |d| d.code_contract,
                "--code-contract",
            )?;
            chain.upload_code(code_contract, &workload.code()).await?
        }
    };
    let fee_token = chain.address(args.fee_token, |d| d.usdc, "--fee-token")?;
    chain
        .fund_fees(fee_token, jobs, U256::from(FEE_TOKENS))
        .await?;
    let ws_url = args.ws_url.clone().unwrap_or_else(|| ws_of(&chain.rpc_url));
    let watcher = watcher::start(&ws_url, jobs).await?;
    let template = price_create_job(&chain, jobs, args, code_tx).await?;
    let nonce = chain
        .client
        .get_transaction_count(chain.client.address(), None)
        .await
        .map_err(|error| rpc("eth_getTransactionCount", error))?;
    info!(jobs = ?jobs, tx_hash = ?code_tx, gas = ?template.gas, "Chain mode ready.");
    Ok(ChainTarget {
        chain,
        template,
        nonce: AtomicU64::new(nonce.as_u64()),
        jobs,
        job_created: jobs_topic("JobCreated"),
        watcher,
        workload,
        code_tx,
    })
}

/// The createJob transaction with gas (twice one estimate) and fees (twice today's) fixed.
async fn price_create_job(
    chain: &Chain,
    jobs: Address,
    args: &ChainArgs,
    code_tx: H256,
) -> Result<Eip1559TransactionRequest, ChainModeError> {
    let input = Bytes::from(args.load.workload.input().into_bytes());
    let calldata = jobs_abi()
        .encode(
            "createJob",
            (args.env, code_tx.0, input, U256::from(args.job_deadline_ms)),
        )
        .map_err(|error| rpc("encoding createJob", error))?;
    let mut request = Eip1559TransactionRequest::new()
        .from(chain.client.address())
        .to(jobs)
        .data(calldata)
        .chain_id(chain.chain_id);
    let estimate = chain
        .client
        .estimate_gas(&TypedTransaction::Eip1559(request.clone()), None)
        .await
        .map_err(|error| ChainModeError::CreateJobReverts {
            env: args.env,
            source: Box::new(error),
        })?;
    let (max_fee, priority_fee) = chain
        .client
        .estimate_eip1559_fees(None)
        .await
        .map_err(|error| rpc("estimating fees", error))?;
    request = request
        .gas(estimate * 2)
        .max_fee_per_gas(max_fee * 2)
        .max_priority_fee_per_gas(priority_fee);
    Ok(request)
}

/// `ws://` (or `wss://`) at the same host and port as the HTTP RPC URL, as anvil serves both.
fn ws_of(http: &url::Url) -> url::Url {
    let mut ws = http.clone();
    let scheme = if http.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    // Only http(s) → ws(s), which `set_scheme` always accepts.
    let _ = ws.set_scheme(scheme);
    ws
}

impl ChainTarget {
    /// Sends createJob and returns its job id and when its receipt arrived.
    async fn create_job(&self) -> Result<(U256, Instant), Failure> {
        let tx_hash = self.send_create_job().await?;
        let receipt = self.receipt(tx_hash).await?;
        let created_at = Instant::now();
        self.job_id_of(&receipt).map(|id| (id, created_at))
    }

    /// Sends one createJob with the next nonce, without waiting for it to be mined.
    pub(crate) async fn send_create_job(&self) -> Result<H256, Failure> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let tx = TypedTransaction::Eip1559(self.template.clone().nonce(nonce));
        let pending = self
            .chain
            .client
            .send_transaction(tx, None)
            .await
            .map_err(|error| {
                debug!(%error, nonce, "createJob not sent.");
                Failure::CreateJobRpc
            })?;
        Ok(pending.tx_hash())
    }

    /// The job id a successful createJob receipt announces.
    pub(crate) fn job_id_of(&self, receipt: &TransactionReceipt) -> Result<U256, Failure> {
        if receipt.status != Some(1.into()) {
            return Err(Failure::CreateJobReverted);
        }
        receipt
            .logs
            .iter()
            .find(|log| log.address == self.jobs && log.topics.first() == Some(&self.job_created))
            .and_then(|log| log.topics.get(1))
            .map(|id| U256::from_big_endian(id.as_bytes()))
            .ok_or(Failure::CreateJobReverted)
    }

    /// The job's first `JobResponded`, as the watcher saw it arrive.
    pub(crate) async fn responded(&self, job_id: U256) -> Result<watcher::Responded, Failure> {
        let (reply, answer) = oneshot::channel();
        self.watcher
            .send(Watch { job_id, reply })
            .map_err(|_| Failure::WatchLost)?;
        answer.await.map_err(|_| Failure::WatchLost)
    }

    /// Whether a job's answer is outcome 0 with the workload's output.
    pub(crate) fn answer_ok(&self, responded: &watcher::Responded) -> bool {
        responded.error_code == 0 && self.workload.output_ok(&responded.output)
    }

    /// Polls for the receipt every few milliseconds (anvil mines on arrival).
    pub(crate) async fn receipt(&self, tx_hash: H256) -> Result<TransactionReceipt, Failure> {
        loop {
            match self.chain.client.get_transaction_receipt(tx_hash).await {
                Ok(Some(receipt)) => return Ok(receipt),
                Ok(None) => tokio::time::sleep(RECEIPT_POLL).await,
                Err(error) => {
                    debug!(%error, ?tx_hash, "createJob receipt unavailable.");
                    return Err(Failure::CreateJobRpc);
                }
            }
        }
    }

    async fn answer(&self) -> Result<Answer, Failure> {
        let (job_id, created_at) = self.create_job().await?;
        let responded = self.responded(job_id).await?;
        let code = responded.error_code;
        Ok(Answer {
            outcome: Outcome::Answered {
                code,
                output_ok: code == 0 && self.workload.output_ok(&responded.output),
            },
            span: Some((created_at, responded.at.max(created_at))),
        })
    }
}

impl Target for ChainTarget {
    async fn call(&self) -> Answer {
        self.answer().await.unwrap_or_else(|failure| Answer {
            outcome: Outcome::Failed(failure),
            span: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_http_one() {
        let http: url::Url = "http://127.0.0.1:8545".parse().unwrap();
        assert_eq!(ws_of(&http).as_str(), "ws://127.0.0.1:8545/");
        let https: url::Url = "https://127.0.0.1:8545/rpc".parse().unwrap();
        assert_eq!(ws_of(&https).as_str(), "wss://127.0.0.1:8545/rpc");
    }
}
