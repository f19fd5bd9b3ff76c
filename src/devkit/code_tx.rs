//! The code a job names, fetched and judged exactly as the node's `CodeStore` judges it: the
//! node's own `ChainRpc::code_tx_input` (the transaction exists, is mined, its receipt status is
//! success, it was sent to the code contract) and its own `decode_code_calldata` (a strict
//! `saveCodeInCallData` call). So `verify` re-runs the code a node would have run, and an
//! invalid code transaction gets the verdict (outcome 1 or 2) a node gives it.
//!
//! Receives the RPC URL, the code transaction's hash and the code contract; sends
//! `eth_getTransactionByHash` and `eth_getTransactionReceipt`. Returns the code, or the node's
//! [`CodeError`] verdict; failing to hear from the chain is a tool failure, not a verdict.

use std::time::Duration;

use ethers::types::{Address, H256};

use super::client::ClientError;
use super::DevkitError;
use crate::chain::rpc::ChainRpc;
use crate::code::calldata::decode_code_calldata;
use crate::domain::TxHash;
use crate::messages::code::CodeError;

/// Bounds each of the two calls, as the node's `rpc_timeout_ms` does.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The code of `code_tx` if a node would run it, else the node's verdict on it.
pub(super) async fn fetch(
    rpc_url: &str,
    code_tx: H256,
    code_contract: Address,
) -> Result<Result<Vec<u8>, CodeError>, DevkitError> {
    let invalid_url = || ClientError::Invalid {
        what: "--rpc",
        value: rpc_url.to_owned(),
    };
    let url = url::Url::parse(rpc_url).map_err(|_| invalid_url())?;
    let rpc = ChainRpc::new(&url, CALL_TIMEOUT).map_err(|_| invalid_url())?;
    let judged = rpc
        .code_tx_input(TxHash(code_tx.0), crate::domain::Address(code_contract.0))
        .await
        .map_err(|error| ClientError::Rpc {
            what: "fetching the code transaction",
            detail: error.to_string(),
        })?;
    Ok(match judged {
        Ok(input) => decode_code_calldata(&input).map_err(CodeError::from),
        Err(verdict) => Err(CodeError::from(verdict)),
    })
}

/// One line on what the node makes of the code transaction.
pub(super) fn describe(code_tx: H256, judged: &Result<Vec<u8>, CodeError>) -> String {
    match judged {
        Ok(code) => format!(
            "code transaction {code_tx:?}: a successful saveCodeInCallData call to the code contract, {} bytes of code",
            code.len()
        ),
        Err(error) => format!(
            "code transaction {code_tx:?}: NOT valid code: {} (a node answers outcome {})",
            reason(error),
            error.job_error_code().unwrap_or_default()
        ),
    }
}

/// The verdict line's words for an invalid code transaction.
pub(super) fn failure(error: &CodeError) -> String {
    format!("code transaction invalid ({})", reason(error))
}

fn reason(error: &CodeError) -> String {
    match error {
        CodeError::InvalidCodeTx(verdict) => verdict.to_string(),
        CodeError::InvalidCalldata(calldata) => {
            format!("not a saveCodeInCallData call: {calldata}")
        }
        CodeError::Unavailable => error.to_string(),
    }
}
