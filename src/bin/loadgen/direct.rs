//! Direct mode: every request is a `POST /api/serverless` with `{"tx_hash", "input"}` on one
//! pooled keep-alive HTTP client; the answer's `X-Executor-Error-Code` is the outcome, and 503
//! (busy), other statuses and connection failures are transport errors.
//!
//! Owns the node's HTTP client; receives nothing; sends requests to the node only.

use std::sync::Arc;

use ethers::types::H256;
use reqwest::StatusCode;
use tracing::info;

use crate::cli::DirectArgs;
use crate::contracts::{self, ChainError};
use crate::load::{Answer, Failure, Outcome, Plan, Target};
use crate::report::RunConfig;
use crate::workloads::Workload;

/// The outcome header of the direct route.
const ERROR_CODE_HEADER: &str = "x-executor-error-code";

/// Setting up direct mode failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirectError {
    #[error("uploading the workload's code")]
    Upload(#[from] ChainError),
    #[error("--node-url {0} cannot take the path /api/serverless")]
    BadNodeUrl(url::Url),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// `POST /api/serverless` with a fixed body.
#[derive(Debug)]
pub(crate) struct DirectTarget {
    client: reqwest::Client,
    url: url::Url,
    body: Vec<u8>,
    workload: Workload,
}

/// Uploads the code unless `--code-tx` names it, and builds the target and the report's config.
pub(crate) async fn setup(
    args: &DirectArgs,
    plan: &Plan,
) -> Result<(Arc<DirectTarget>, RunConfig), DirectError> {
    let workload = args.load.workload;
    let code_tx = match args.code_tx {
        Some(code_tx) => code_tx,
        None => upload(args, workload).await?,
    };
    let target = DirectTarget::new(&args.node_url, code_tx, workload)?;
    let mut config = RunConfig::from_plan(plan, workload);
    config.mode = "direct";
    config.target = args.node_url.to_string();
    config.code_tx = format!("{code_tx:?}");
    Ok((Arc::new(target), config))
}

async fn upload(args: &DirectArgs, workload: Workload) -> Result<H256, ChainError> {
    let chain = contracts::connect(&args.chain).await?;
    let code_contract = chain.address(
        args.chain.code_contract,
        |deployment| deployment.code_contract,
        "--code-contract",
    )?;
    let code_tx = chain.upload_code(code_contract, &workload.code()).await?;
    info!(tx_hash = ?code_tx, workload = workload.name(), "Workload code uploaded.");
    Ok(code_tx)
}

impl DirectTarget {
    pub(crate) fn new(
        node_url: &url::Url,
        code_tx: H256,
        workload: Workload,
    ) -> Result<Self, DirectError> {
        let url = node_url
            .join("/api/serverless")
            .map_err(|_| DirectError::BadNodeUrl(node_url.clone()))?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .map_err(DirectError::Client)?;
        let body = serde_json::json!({
            "tx_hash": format!("{code_tx:?}"),
            "input": workload.input(),
        });
        Ok(Self {
            client,
            url,
            body: body.to_string().into_bytes(),
            workload,
        })
    }

    async fn post(&self) -> Result<Outcome, reqwest::Error> {
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone())
            .send()
            .await?;
        let status = response.status();
        let code = response
            .headers()
            .get(ERROR_CODE_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u8>().ok());
        let output = response.bytes().await?;
        Ok(match (status, code) {
            (StatusCode::OK, Some(code)) => Outcome::Answered {
                code,
                output_ok: code == 0 && self.workload.output_ok(&output),
            },
            (StatusCode::OK, None) => Outcome::Failed(Failure::MissingErrorCode),
            (StatusCode::SERVICE_UNAVAILABLE, _) => Outcome::Failed(Failure::Busy),
            (status, _) => Outcome::Failed(Failure::HttpStatus(status.as_u16())),
        })
    }
}

impl Target for DirectTarget {
    async fn call(&self) -> Answer {
        let outcome = self.post().await.unwrap_or_else(|error| {
            Outcome::Failed(if error.is_connect() {
                Failure::Connect
            } else if error.is_timeout() {
                Failure::Timeout
            } else {
                Failure::Transfer
            })
        });
        Answer {
            outcome,
            span: None,
        }
    }
}
