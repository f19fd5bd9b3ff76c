//! `job create` and `job watch`.
//!
//! Receives [`CreateArgs`] / [`WatchArgs`]. `create` reads the fee token and the env's fees from
//! `Jobs`, approves the escrow if the allowance is short, sends `createJob` and prints the job
//! id (stdout) and the selected executors. `watch` polls `JobResponded` and
//! `SlashedOnExecutionTimeout` logs of the job and prints each answer until every selected
//! executor answered (exit 0) or the job was slashed or its window closed with answers missing
//! (exit 4); waits longer than a second show progress on stderr ([`Progress`]).

use ethers::types::{Address, Bytes, H256, U256};
use std::io::Write as _;

use super::args::{CreateArgs, WatchArgs};
use super::client::{self, jobs_abi, jobs_topic, token_abi};
use super::progress::Progress;
use super::{exit, DevkitError};

/// The execution environment of JavaScript jobs.
const ENV: u8 = 1;

/// `job create`.
pub async fn create(args: &CreateArgs) -> Result<u8, DevkitError> {
    let jobs = client::address("--jobs", &args.jobs)?;
    let code_tx = client::hash("--code-tx", &args.code_tx)?;
    let writer = client::writer(&args.chain.rpc, &args.key_file).await?;
    let reader = client::reader(&args.chain.rpc)?;
    let abi = jobs_abi();
    let token: Address = client::view(&reader, &abi, jobs, "USDC_TOKEN", (), None).await?;
    let (execution, reward): (U256, U256) =
        client::view(&reader, &abi, jobs, "executionEnv", ENV, None).await?;
    let escrow = U256::from(args.deadline) * (execution + reward);
    let user = ethers::middleware::Middleware::default_sender(writer.as_ref()).unwrap_or_default();
    let tokens = token_abi();
    let allowance: U256 =
        client::view(&reader, &tokens, token, "allowance", (user, jobs), None).await?;
    if allowance < escrow {
        let approve = tokens
            .encode("approve", (jobs, escrow))
            .map_err(|error| client::rpc("approve")(&error))?;
        client::send(&writer, token, approve.to_vec(), "approving the fee escrow").await?;
    }
    let data = abi
        .encode(
            "createJob",
            (
                ENV,
                code_tx.0,
                Bytes::from(args.input.clone().into_bytes()),
                U256::from(args.deadline),
            ),
        )
        .map_err(|error| client::rpc("createJob")(&error))?;
    let receipt = client::send(&writer, jobs, data.to_vec(), "createJob").await?;
    let created = receipt
        .logs
        .iter()
        .find(|log| log.address == jobs && log.topics.first() == Some(&jobs_topic("JobCreated")))
        .map(client::decode_created)
        .transpose()?
        .ok_or_else(|| client::rpc("createJob")(&"no JobCreated log in the receipt"))?;
    writeln!(std::io::stdout(), "{}", created.id).map_err(DevkitError::Write)?;
    let selected: Vec<String> = created.selected.iter().map(|a| format!("{a:?}")).collect();
    writeln!(
        std::io::stderr(),
        "job {} created in block {}, escrow {escrow}, selected executors: {}",
        created.id,
        created.block,
        selected.join(", ")
    )
    .map_err(DevkitError::Write)?;
    Ok(exit::OK)
}

/// The job's `JobCreated` log, decoded; a usage error when there is none.
pub(super) async fn job_created(
    reader: &client::Reader,
    jobs: Address,
    id: U256,
) -> Result<client::Created, DevkitError> {
    let topic = H256::from(<[u8; 32]>::from(id));
    client::logs(reader, jobs, jobs_topic("JobCreated"), Some(topic))
        .await?
        .first()
        .map(client::decode_created)
        .transpose()?
        .ok_or_else(|| DevkitError::Usage(format!("job {id} has no JobCreated log")))
}

/// `job watch ID`.
pub async fn watch(args: &WatchArgs) -> Result<u8, DevkitError> {
    let jobs = client::address("--jobs", &args.jobs)?;
    let id = client::job_id(&args.id)?;
    let reader = client::reader(&args.chain.rpc)?;
    let created = job_created(&reader, jobs, id).await?;
    let topic = H256::from(<[u8; 32]>::from(id));
    let buffer: U256 = client::view(
        &reader,
        &jobs_abi(),
        jobs,
        "EXECUTION_BUFFER_TIME",
        (),
        None,
    )
    .await?;
    let window_ms = created.deadline + buffer * 1000;
    let mut printed = 0;
    let mut progress = Progress::new();
    let mut stdout = std::io::stdout();
    loop {
        let answers = client::logs(&reader, jobs, jobs_topic("JobResponded"), Some(topic)).await?;
        if answers.len() > printed {
            progress.clear();
        }
        for log in answers.iter().skip(printed) {
            let answer = client::decode_responded(log)?;
            writeln!(
                stdout,
                "executor {:?} error_code {} total_time_ms {} output {}",
                answer.executor,
                answer.error_code,
                answer.total_time,
                String::from_utf8_lossy(&answer.output).escape_debug()
            )
            .map_err(DevkitError::Write)?;
        }
        printed = answers.len();
        if printed >= created.selected.len() {
            progress.clear();
            writeln!(
                stdout,
                "settled: answered by all {printed} selected executors"
            )
            .map_err(DevkitError::Write)?;
            return Ok(exit::OK);
        }
        let slashed = client::logs(
            &reader,
            jobs,
            jobs_topic("SlashedOnExecutionTimeout"),
            Some(topic),
        )
        .await?;
        if !slashed.is_empty() {
            progress.clear();
            writeln!(
                stdout,
                "settled: slashed ({} executors did not answer)",
                slashed.len()
            )
            .map_err(DevkitError::Write)?;
            return Ok(exit::CHECK_FAILED);
        }
        if window_closed(&reader, created.block, window_ms).await? {
            progress.clear();
            writeln!(
                stdout,
                "window closed: {printed} of {} answered; anyone may now call slashOnExecutionTimeout({id})",
                created.selected.len()
            )
            .map_err(DevkitError::Write)?;
            return Ok(exit::CHECK_FAILED);
        }
        progress.tick(&format!(
            "waiting for answers: {printed} of {}",
            created.selected.len()
        ));
        tokio::time::sleep(client::POLL).await;
    }
}

/// Whether the latest block is past the job's window (its start block's time + `window_ms`).
async fn window_closed(
    reader: &client::Reader,
    start_block: u64,
    window_ms: U256,
) -> Result<bool, DevkitError> {
    use ethers::middleware::Middleware as _;
    let time = |block: Option<ethers::types::Block<H256>>| block.map(|b| b.timestamp);
    let start = reader
        .get_block(start_block)
        .await
        .map_err(|error| client::rpc("eth_getBlockByNumber")(&error))?;
    let latest = reader
        .get_block(ethers::types::BlockNumber::Latest)
        .await
        .map_err(|error| client::rpc("eth_getBlockByNumber")(&error))?;
    Ok(match (time(start), time(latest)) {
        (Some(start), Some(latest)) => latest * 1000 > start * 1000 + window_ms,
        _ => false,
    })
}
