//! `GET /ready`: whether the node can do chain work now, and if not, why.
//!
//! 200 `ready` when an owner and a gas key are set, the enclave is registered on `Executors`
//! and the chain listener is connected; otherwise 503 with one reason per line. After a
//! restart the owner and the gas key (held in memory only) are missing until the operator sets
//! them again: meanwhile the node keeps following the chain, runs the jobs that select it and
//! holds their outputs and its due timeout reports until the key arrives (each within its
//! window). Reads `NodeSetup`'s status and the listener's flag; changes nothing.

use actix_web::{get, web, HttpResponse};

use super::{ApiError, HttpState};
use crate::messages::setup::GetNodeStatus;

/// Ready, or 503 with the reasons it is not.
#[get("/ready")]
pub(super) async fn ready(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let reasons = not_ready_reasons(&state).await?;
    if reasons.is_empty() {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"));
    }
    Ok(HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body(format!("not ready:\n{}\n", reasons.join("\n"))))
}

/// Why the node is not ready, one reason each (empty: ready). The one definition of readiness,
/// shared by `/ready` and the `executor_ready` gauge of `/metrics`.
pub(super) async fn not_ready_reasons(state: &HttpState) -> Result<Vec<&'static str>, ApiError> {
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
