//! `verify --job ID`: checks every on-chain answer of a job without trusting the node that gave
//! it. For each `JobResponded`: the output and outcome code against a re-run of the job's code
//! with its input in the local sandbox (the same path as `run`), the signer recovered from the
//! `submitOutput` calldata (the node's own digest and recovery) against the event's executor,
//! and that signer's registration in `Executors` at the job's block.
//!
//! The code transaction is judged by the node's own code path ([`code_tx`]): an invalid one
//! (reverted, not sent to the code contract, calldata that is not `saveCodeInCallData`) is a
//! failed check of its own, and the answers are compared with the outcome a node gives it.
//!
//! Receives [`VerifyArgs`]; reads logs, transactions and views; runs the code once locally.
//! Prints one block per answer and a verdict line each; exit 0 only if every check passed.
//!
//! Determinism: only code that reads no clock or randomness reproduces its output. When the
//! code mentions `Date`, `Math.random`, `crypto.getRandomValues` or `performance.now`, a
//! mismatch is reported as "non-deterministic code suspected" (still a failed check). Outcomes
//! 4 (timeout) and 6 (memory) depend on the host's speed and memory as well.

use std::io::Write as _;
use std::time::Duration;

use ethers::abi::Token;
use ethers::types::{Address, H256, U256};

use super::args::VerifyArgs;
use super::client::{self, executors_abi, jobs_abi, jobs_topic, Reader, Responded};
use super::local_run::{LocalOutcome, LocalSandbox};
use super::{code_tx, exit, DevkitError};
use crate::chain::ecdsa::recover_address;
use crate::chain::eip712::{submit_output_digest, SubmitOutputMessage};
use crate::messages::code::CodeError;

/// What the code mentions that makes a re-run differ legitimately.
pub(super) const NON_DETERMINISTIC: [&str; 4] =
    ["Date", "Math.random", "getRandomValues", "performance.now"];

/// The re-run's answer: outcome code and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expected {
    pub(super) error_code: u8,
    pub(super) output: Vec<u8>,
}

/// `verify`.
pub async fn verify(args: &VerifyArgs) -> Result<u8, DevkitError> {
    if args.direct {
        return super::verify_direct::verify_direct(args).await;
    }
    let jobs = client::address("--jobs", args.jobs.as_deref().unwrap_or_default())?;
    let executors = client::address("--executors", &args.executors)?;
    let code_contract = client::address("--code-contract", &args.code_contract)?;
    let id = client::job_id(args.job.as_deref().unwrap_or_default())?;
    let reader = client::reader(&args.chain.rpc)?;
    let topic = H256::from(<[u8; 32]>::from(id));
    let created = super::job::job_created(&reader, jobs, id).await?;
    let answers: Vec<Responded> =
        client::logs(&reader, jobs, jobs_topic("JobResponded"), Some(topic))
            .await?
            .iter()
            .map(client::decode_responded)
            .collect::<Result<_, _>>()?;
    let judged = code_tx::fetch(&args.chain.rpc, created.code_tx, code_contract).await?;
    let sandbox = LocalSandbox::new(&args.sandbox, None)?;
    let budget = Duration::from_millis(created.deadline.min(U256::from(u64::MAX)).as_u64());
    let (expected, suspects) = expect(&sandbox, &judged, &created.input, budget).await?;
    let mut out = std::io::stdout().lock();
    let write = |error| DevkitError::Write(error);
    writeln!(
        out,
        "job {id}: {} selected, {} answered; re-run: error_code {} output {}",
        created.selected.len(),
        answers.len(),
        expected.error_code,
        shown(&expected.output)
    )
    .map_err(write)?;
    writeln!(out, "  {}", code_tx::describe(created.code_tx, &judged)).map_err(write)?;
    let mut all_passed = !answers.is_empty();
    for answer in &answers {
        let failures = check(
            &reader,
            executors,
            id,
            created.block,
            answer,
            &expected,
            &suspects,
            &mut out,
        )
        .await?;
        let line = if failures.is_empty() {
            "verdict: match".to_owned()
        } else {
            all_passed = false;
            format!("verdict: {}", failures.join(", "))
        };
        writeln!(out, "  {line}").map_err(write)?;
    }
    if answers.is_empty() {
        writeln!(out, "no answers on chain yet").map_err(write)?;
    }
    if let Err(error) = &judged {
        all_passed = false;
        writeln!(out, "verdict: {}", code_tx::failure(error)).map_err(write)?;
    }
    Ok(if all_passed {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

/// What the code mentions from [`NON_DETERMINISTIC`] (a static scan).
pub(super) fn suspects_in(code: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(code);
    NON_DETERMINISTIC
        .into_iter()
        .filter(|name| text.contains(name))
        .collect()
}

/// What a node answers for the judged code: the re-run's outcome and output, or the node's
/// verdict on an invalid code transaction (outcome 1 or 2, no output); and the code's
/// non-determinism suspects.
pub(super) async fn expect(
    sandbox: &LocalSandbox,
    judged: &Result<Vec<u8>, CodeError>,
    input: &[u8],
    budget: Duration,
) -> Result<(Expected, Vec<&'static str>), DevkitError> {
    Ok(match judged {
        Ok(code) => (
            rerun(sandbox, code.clone(), input, budget).await?,
            suspects_in(code),
        ),
        Err(error) => (
            Expected {
                error_code: error.job_error_code().unwrap_or_default(),
                output: Vec::new(),
            },
            Vec::new(),
        ),
    })
}

pub(super) async fn rerun(
    sandbox: &LocalSandbox,
    code: Vec<u8>,
    input: &[u8],
    budget: Duration,
) -> Result<Expected, DevkitError> {
    let run = sandbox.run(code, input.to_vec(), budget);
    match super::progress::during("re-running the code in the local sandbox", run).await? {
        LocalOutcome::Ended {
            outcome, output, ..
        } => Ok(Expected {
            error_code: outcome.error_code(),
            output,
        }),
        LocalOutcome::NoOutcome(reason) => Err(DevkitError::Usage(format!(
            "the local re-run has no outcome (the sandbox failed twice): {reason}"
        ))),
    }
}

/// Checks one answer; prints what it found and returns the failed checks.
#[allow(clippy::too_many_arguments)]
async fn check(
    reader: &Reader,
    executors: Address,
    id: U256,
    block: u64,
    answer: &Responded,
    expected: &Expected,
    suspects: &[&str],
    out: &mut impl std::io::Write,
) -> Result<Vec<String>, DevkitError> {
    let write = |error| DevkitError::Write(error);
    let mut failures = Vec::new();
    writeln!(
        out,
        "answer from {:?} (transaction {:?}): error_code {} output {}",
        answer.executor,
        answer.tx,
        answer.error_code,
        shown(&answer.output)
    )
    .map_err(write)?;
    if answer.error_code == expected.error_code && answer.output == expected.output {
        writeln!(out, "  output and code: equal to the re-run").map_err(write)?;
    } else {
        let mut failure = "output differs".to_owned();
        if !suspects.is_empty() {
            failure.push_str(&format!(
                " (non-deterministic code suspected: uses {})",
                suspects.join(", ")
            ));
        }
        writeln!(out, "  output and code: DIFFER from the re-run").map_err(write)?;
        failures.push(failure);
    }
    let signer = match client::tx_input(reader, answer.tx).await? {
        Some(input) => recover_signer(&input, id, answer),
        None => Err("the answer's transaction is unknown".to_owned()),
    };
    let signer = match signer {
        Ok(signer) if signer == answer.executor => {
            writeln!(out, "  signer {signer:?}: recovered from the submitOutput calldata, equal to the event's executor").map_err(write)?;
            Some(signer)
        }
        Ok(signer) => {
            writeln!(out, "  signer {signer:?}: NOT the event's executor").map_err(write)?;
            failures.push("signer differs from the executor".to_owned());
            Some(signer)
        }
        Err(reason) => {
            writeln!(out, "  signer: cannot be recovered: {reason}").map_err(write)?;
            failures.push("signer not recovered".to_owned());
            None
        }
    };
    let enclave = signer.unwrap_or(answer.executor);
    let record: (U256, U256, U256, Address, bool, u8) = client::view(
        reader,
        &executors_abi(),
        executors,
        "executors",
        enclave,
        Some(block),
    )
    .await?;
    let (_capacity, _active, stake, owner, _draining, env) = record;
    if owner == Address::zero() {
        writeln!(
            out,
            "  registration at block {block}: NONE in {executors:?}"
        )
        .map_err(write)?;
        failures.push("signer not registered".to_owned());
    } else {
        writeln!(
            out,
            "  registration at block {block}: owner {owner:?}, env {env}, stake {stake}"
        )
        .map_err(write)?;
    }
    Ok(failures)
}

/// The signer of a `submitOutput` call, from its calldata; also checks that the calldata
/// carries this job and this answer.
fn recover_signer(input: &[u8], id: U256, answer: &Responded) -> Result<Address, String> {
    let abi = jobs_abi();
    let function = abi
        .abi()
        .function("submitOutput")
        .map_err(|error| error.to_string())?;
    let selector = function.short_signature();
    let args = input
        .strip_prefix(&selector[..])
        .ok_or("the transaction does not call submitOutput directly")?;
    let tokens = function
        .decode_input(args)
        .map_err(|error| format!("submitOutput calldata: {error}"))?;
    let mut tokens = tokens.into_iter();
    let bad = || "submitOutput calldata has unexpected types".to_owned();
    let signature = tokens.next().and_then(Token::into_bytes).ok_or_else(bad)?;
    let job = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    let output = tokens.next().and_then(Token::into_bytes).ok_or_else(bad)?;
    let total_time = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    let error_code = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    let sign_timestamp = tokens.next().and_then(Token::into_uint).ok_or_else(bad)?;
    if job != id || output != answer.output || error_code != U256::from(answer.error_code) {
        return Err("the calldata carries another job or answer than the event".into());
    }
    let message = SubmitOutputMessage {
        job_id: <[u8; 32]>::from(job),
        output: &output,
        total_time_ms: total_time.min(U256::from(u64::MAX)).as_u64(),
        error_code: answer.error_code,
        sign_timestamp: sign_timestamp.min(U256::from(u64::MAX)).as_u64(),
    };
    let digest = submit_output_digest(&message);
    let signer = recover_address(&digest, &signature).map_err(|error| error.to_string())?;
    Ok(Address::from(signer.0))
}

pub(super) fn shown(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_randomness_are_suspects() {
        let code = b"export default { fetch() { return new Response(String(Math.random())); } }";
        assert_eq!(suspects_in(code), vec!["Math.random"]);
        assert!(
            suspects_in(b"export default { fetch() { return new Response('1'); } }").is_empty()
        );
    }
}
