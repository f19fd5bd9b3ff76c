//! `job create`, and the `JobCreated` lookup `job watch` and `verify` share.
//!
//! Receives [`CreateArgs`]: reads the fee token and the env's fees from `Jobs`, approves the
//! escrow if the allowance is short, sends `createJob` and prints the job id (stdout) and the
//! selected executors (stderr). Receipt waits show progress ([`super::progress`]).

use ethers::types::{Address, Bytes, H256, U256};
use std::io::Write as _;

use super::args::CreateArgs;
use super::client::{self, jobs_abi, jobs_topic, token_abi};
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
        client::send(&writer, token, approve.to_vec(), "approve").await?;
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
    reader: &impl ethers::middleware::Middleware,
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
