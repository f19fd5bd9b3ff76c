//! `GET /ready`: can the node take a direct run now (what HAProxy's `option httpchk GET /ready`
//! asks); `GET /ready/chain`: can it do chain work now. Each: 200 `ready`, or 503 `not ready:`
//! with one reason per line.
//!
//! `/ready` is `balancer::readiness` (the agent-check port answers from the same computation):
//! not ready while draining, with direct runs disabled, with every slot and the queue full, or
//! with workerd or the job cgroups gone. Its 200 also says the agent state (`up N%`).
//! `/ready/chain` is ready when an owner and a gas key are set, the enclave is registered on
//! `Executors` and the chain listener is connected. After a restart the owner and the gas key
//! (held in memory only) are missing until the operator sets them again: meanwhile the node
//! keeps following the chain, runs the jobs that select it and holds their outputs and its due
//! timeout reports until the key arrives (each within its window). Reads `NodeSetup`'s status,
//! the listener's flag and the scheduler's counts; changes nothing.

use actix_web::{get, web, HttpResponse};

use super::{ApiError, HttpState};
use crate::messages::setup::GetNodeStatus;

/// Ready for a direct run, or 503 with the reasons it is not.
#[get("/ready")]
pub(super) async fn ready(state: web::Data<HttpState>) -> HttpResponse {
    let readiness = state.readiness.check();
    if readiness.ready() {
        let line = readiness.agent_line();
        let agent = line.trim_start_matches("ready ");
        return text(HttpResponse::Ok(), format!("ready\n{agent}"));
    }
    not_ready(&readiness.reasons)
}

/// Ready for chain work, or 503 with the reasons it is not.
#[get("/ready/chain")]
pub(super) async fn ready_chain(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let reasons = not_ready_for_chain(&state).await?;
    if reasons.is_empty() {
        return Ok(text(HttpResponse::Ok(), "ready\n".to_owned()));
    }
    Ok(not_ready(&reasons))
}

/// Why the node cannot do chain work, one reason each (empty: ready). Shared by `/ready/chain`
/// and the `executor_chain_ready` gauge of `/metrics`.
pub(super) async fn not_ready_for_chain(state: &HttpState) -> Result<Vec<&'static str>, ApiError> {
    let status = state
        .setup
        .send(GetNodeStatus)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let reasons = [
        (!status.owner_configured).then_some("no owner configured: POST /immutable-config"),
        (!status.gas_configured)
            .then_some("no gas key: POST /mutable-config; outputs and timeout reports wait for it"),
        (!status.registered).then_some("not registered on Executors"),
        (!state.chain_listener.is_connected()).then_some("chain listener disconnected"),
    ];
    Ok(reasons.into_iter().flatten().collect())
}

fn not_ready(reasons: &[impl AsRef<str>]) -> HttpResponse {
    let lines: Vec<&str> = reasons.iter().map(AsRef::as_ref).collect();
    text(
        HttpResponse::ServiceUnavailable(),
        format!("not ready:\n{}\n", lines.join("\n")),
    )
}

fn text(mut builder: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    builder.content_type("text/plain").body(body)
}
