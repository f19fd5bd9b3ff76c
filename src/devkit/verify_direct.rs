//! `verify --direct`: checks a direct-run receipt (`POST /api/serverless`) against the request
//! it answered: the output and outcome code against a local re-run of the code with the same
//! input (parsed by the route's own parser), the signer recovered from the receipt headers
//! under the direct-run EIP-712 domain (the node's own digest), and that signer's registration
//! in `Executors` now (a direct run has no block).
//!
//! The code transaction is judged as the node judges it ([`super::code_tx`]).
//!
//! Receives [`VerifyArgs`] with `--request` and `--response` files; reads the code transaction
//! and one view; runs the code once. Prints the checks and a verdict; exit 0 only if all pass.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use ethers::middleware::Middleware as _;
use ethers::types::{Address, H256, U256};

use super::args::VerifyArgs;
use super::client::{self, executors_abi};
use super::local_run::LocalSandbox;
use super::verify::{expect, shown};
use super::{code_tx, exit, read_file, DevkitError};
use crate::chain::ecdsa::recover_address;
use crate::chain::eip712::{direct_run_receipt_digest, DirectRunReceipt};
use crate::http::{
    parse_direct_request as parse_request, ERROR_CODE_HEADER,
    RECEIPT_SIGNATURE_HEADER as SIGNATURE_HEADER, SIGN_TIMESTAMP_HEADER, TOTAL_TIME_HEADER,
};

/// The receipt as the response carried it.
#[derive(Debug)]
struct Receipt {
    error_code: u8,
    total_time_ms: u64,
    sign_timestamp: u64,
    signature: Vec<u8>,
    output: Vec<u8>,
}

/// `verify --direct`.
pub async fn verify_direct(args: &VerifyArgs) -> Result<u8, DevkitError> {
    let path = |file: &Option<std::path::PathBuf>| {
        file.clone()
            .ok_or_else(|| DevkitError::Usage("--direct needs --request and --response".into()))
    };
    let request = read_file(&path(&args.request)?)?;
    let response_path = path(&args.response)?;
    let response = read_file(&response_path)?;
    let (code_tx, input) = parse_request(&request)
        .map_err(|error| DevkitError::Usage(format!("the request body: {error}")))?;
    let receipt = parse_response(&response, &response_path)?;
    let executors = client::address("--executors", &args.executors)?;
    let reader = client::reader(&args.chain.rpc)?;
    let chain_id = reader
        .get_chainid()
        .await
        .map_err(|error| client::rpc("eth_chainId")(&error))?
        .as_u64();
    let code_contract = client::address("--code-contract", &args.code_contract)?;
    let judged = code_tx::fetch(&args.chain.rpc, H256(code_tx.0), code_contract).await?;
    let sandbox = LocalSandbox::new(&args.sandbox, None)?;
    // The receipt's total time is capped at the node's deadline: the re-run gets at least that.
    let budget = Duration::from_millis(receipt.total_time_ms.max(1)).max(sandbox.default_budget());
    let (expected, suspects) = expect(&sandbox, &judged, &input, budget).await?;
    let mut out = std::io::stdout().lock();
    let write = DevkitError::Write;
    let mut failures = Vec::new();
    if let Err(error) = &judged {
        failures.push(code_tx::failure(error));
    }
    writeln!(
        out,
        "direct run of code {code_tx}: receipt error_code {} output {}; re-run: error_code {} output {}",
        receipt.error_code,
        shown(&receipt.output),
        expected.error_code,
        shown(&expected.output)
    )
    .map_err(write)?;
    writeln!(out, "  {}", code_tx::describe(H256(code_tx.0), &judged)).map_err(write)?;
    if receipt.error_code == expected.error_code && receipt.output == expected.output {
        writeln!(out, "  output and code: equal to the re-run").map_err(write)?;
    } else {
        writeln!(out, "  output and code: DIFFER from the re-run").map_err(write)?;
        let mut failure = "output differs".to_owned();
        if !suspects.is_empty() {
            failure.push_str(&format!(
                " (non-deterministic code suspected: uses {})",
                suspects.join(", ")
            ));
        }
        failures.push(failure);
    }
    let digest = direct_run_receipt_digest(&DirectRunReceipt {
        chain_id,
        code_tx: code_tx.0,
        input: &input,
        output: &receipt.output,
        total_time_ms: receipt.total_time_ms,
        error_code: receipt.error_code,
        sign_timestamp: receipt.sign_timestamp,
    });
    match recover_address(&digest, &receipt.signature) {
        Err(error) => {
            writeln!(out, "  signer: cannot be recovered: {error}").map_err(write)?;
            failures.push("signer not recovered".to_owned());
        }
        Ok(signer) => {
            let signer = Address::from(signer.0);
            let record: (U256, U256, U256, Address, bool, u8) = client::view(
                &reader,
                &executors_abi(),
                executors,
                "executors",
                signer,
                None,
            )
            .await?;
            let (_, _, stake, owner, _, env) = record;
            if owner == Address::zero() {
                writeln!(out, "  signer {signer:?}: NOT registered in {executors:?}")
                    .map_err(write)?;
                failures.push("signer not registered".to_owned());
            } else {
                writeln!(
                    out,
                    "  signer {signer:?}: registered, owner {owner:?}, env {env}, stake {stake}"
                )
                .map_err(write)?;
            }
        }
    }
    let verdict = match failures.is_empty() {
        true => "match".to_owned(),
        false => failures.join(", "),
    };
    writeln!(out, "  verdict: {verdict}").map_err(write)?;
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

/// Splits a `curl -i` response into the receipt headers and the body.
fn parse_response(response: &[u8], path: &Path) -> Result<Receipt, DevkitError> {
    let bad = |what: &str| DevkitError::Usage(format!("{}: {what}", path.display()));
    let split = find(response, b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| find(response, b"\n\n").map(|at| at + 2))
        .ok_or_else(|| bad("no blank line between headers and body"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let header = |name: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .ok_or_else(|| bad(&format!("no {name} header")))
    };
    let number = |name: &str| -> Result<u64, DevkitError> {
        header(name)?
            .parse()
            .map_err(|_| bad(&format!("{name} is not a number")))
    };
    let signature = hex::decode(header(SIGNATURE_HEADER)?.trim_start_matches("0x"))
        .map_err(|_| bad("the signature is not hex"))?;
    Ok(Receipt {
        error_code: u8::try_from(number(ERROR_CODE_HEADER)?)
            .map_err(|_| bad("the error code is not 0..=255"))?,
        total_time_ms: number(TOTAL_TIME_HEADER)?,
        sign_timestamp: number(SIGN_TIMESTAMP_HEADER)?,
        signature,
        output: response[split..].to_vec(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
