//! `POST /api/serverless`: run a job without a chain, as Marlin's v1 API did, for developers and
//! the load harness.
//!
//! Body: `{"tx_hash": "0x…", "input": <JSON value or string>}`. Answers 200 with the user's
//! output as the body and the outcome in headers: `X-Executor-Error-Code`,
//! `X-Executor-Total-Time-Ms`, `X-Executor-Sign-Timestamp` and `X-Executor-Signature`, a receipt
//! signed under the direct-run EIP-712 domain (never the Jobs domain, so it can never be
//! submitted as an output). 503 with `Retry-After` when every slot and the queue are busy, and
//! once a draining node's grace is over (`balancer::drain`).

use std::sync::Arc;

use actix_web::error::JsonPayloadError;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::HttpState;
use crate::domain::TxHash;
use crate::messages::jobs::{ExecuteJob, ScheduleError};
use crate::metrics::{Metrics, Refusal, Source};

/// Response header: the outcome code (0..=7).
pub const ERROR_CODE_HEADER: &str = "x-executor-error-code";
/// Response header: total time in milliseconds.
pub const TOTAL_TIME_HEADER: &str = "x-executor-total-time-ms";
/// Response header: the receipt's signing time, unix seconds.
pub const SIGN_TIMESTAMP_HEADER: &str = "x-executor-sign-timestamp";
/// Response header: the receipt signature, `0x` + 130 hex.
pub const SIGNATURE_HEADER: &str = "x-executor-signature";

#[derive(Deserialize)]
struct DirectRunBody {
    tx_hash: String,
    /// Kept as the exact bytes received: the job sees, and the receipt signs, what the client
    /// sent, never a re-serialization (which would round large numbers, reorder keys…).
    #[serde(default)]
    input: Option<Box<RawValue>>,
}

/// The job's input: a JSON string's text as is (Marlin's form), no input as empty, and any other
/// JSON value as its bytes exactly as received.
fn input_bytes(input: Option<&RawValue>) -> Result<Vec<u8>, ApiError> {
    let Some(raw) = input else {
        return Ok(Vec::new());
    };
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text)
            .map(String::into_bytes)
            .map_err(|_| ApiError::BadInput),
        _ if text == "null" => Ok(Vec::new()),
        _ => Ok(text.as_bytes().to_vec()),
    }
}

/// The code transaction and the input bytes of a request body, read exactly as the route reads
/// them: `verify --direct` checks a receipt against the request it answered with this.
pub fn parse_request(body: &[u8]) -> Result<(TxHash, Vec<u8>), ApiError> {
    let body: DirectRunBody =
        serde_json::from_slice(body).map_err(|error| ApiError::Json(error.to_string()))?;
    let code_tx = TxHash::parse_hex(&body.tx_hash).ok_or(ApiError::BadTxHash)?;
    Ok((code_tx, input_bytes(body.input.as_deref())?))
}

/// Runs the job and returns its output with a signed receipt.
#[post("/serverless")]
pub(super) async fn direct_run(
    state: web::Data<HttpState>,
    body: web::Json<DirectRunBody>,
) -> Result<HttpResponse, ApiError> {
    let sent = tokio::time::Instant::now();
    let direct = &state.direct_run;
    if !direct.settings.enabled {
        state.metrics.refused(Source::Direct, Refusal::Disabled);
        return Err(ApiError::NotFound);
    }
    if state.readiness.drain.refusing() {
        return Ok(refused(
            "The node is shutting down; retry on another node.\n",
        ));
    }
    let body = body.into_inner();
    let code_tx = TxHash::parse_hex(&body.tx_hash).ok_or(ApiError::BadTxHash)?;
    let input = input_bytes(body.input.as_deref())?;
    let job = ExecuteJob {
        code_tx,
        input,
        deadline: direct.settings.deadline,
        sent,
    };
    // The scheduler signs the receipt where the run ends: one answer, one crossing back.
    let run = match direct
        .scheduler
        .send(job)
        .await
        .map_err(|_| ApiError::Unavailable)?
    {
        Ok(run) => run,
        Err(ScheduleError::Busy) => {
            return Ok(refused(
                "All execution slots and the queue are busy; retry later.\n",
            ))
        }
        Err(ScheduleError::Infrastructure(reason)) => return Err(ApiError::Infrastructure(reason)),
        // Direct runs have no cancel flag; treated as an infrastructure answer all the same.
        Err(ScheduleError::Cancelled) => {
            return Err(ApiError::Infrastructure("job cancelled".into()))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            ERROR_CODE_HEADER,
            run.execution.outcome.error_code().to_string(),
        ))
        .insert_header((TOTAL_TIME_HEADER, run.total_time_ms.to_string()))
        .insert_header((SIGN_TIMESTAMP_HEADER, run.sign_timestamp.to_string()))
        .insert_header((SIGNATURE_HEADER, run.signature.to_string()))
        .body(run.execution.output))
}

/// The route's JSON extractor: bodies over `limit` bytes are refused (413) and counted as
/// `body_too_large` refusals.
pub(super) fn json_config(limit: usize, metrics: &Arc<Metrics>) -> web::JsonConfig {
    let metrics = Arc::clone(metrics);
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| {
            if matches!(
                error,
                JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. }
            ) {
                metrics.refused(Source::Direct, Refusal::BodyTooLarge);
            }
            error.into()
        })
}

fn refused(why: &'static str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((RETRY_AFTER, HeaderValue::from_static("1")))
        .content_type("text/plain; charset=utf-8")
        .body(why)
}
