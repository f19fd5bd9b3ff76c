//! `GET /metrics`: the Prometheus text exposition, on the admin port or, with
//! `metrics_bind_address`, on a listener of its own.
//!
//! Before encoding, sets the `executor_ready` gauge from the computation `GET /ready` uses
//! (atomics), and `executor_chain_ready` from the reasons `GET /ready/chain` gives (one
//! `GetNodeStatus` round to `NodeSetup`, bounded: a node whose setup actor does not answer is
//! not ready). Everything else is read from atomics.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};

use super::ready::not_ready_for_chain;
use super::HttpState;

/// Longest a scrape waits for the readiness answer.
const READY_LIMIT: Duration = Duration::from_secs(1);

/// Prometheus text exposition of the node's metrics.
#[get("/metrics")]
pub(super) async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    state.metrics.set_ready(state.readiness.check().ready());
    let chain = tokio::time::timeout(READY_LIMIT, not_ready_for_chain(&state)).await;
    let chain_ready = matches!(chain, Ok(Ok(reasons)) if reasons.is_empty());
    state.metrics.set_chain_ready(chain_ready);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.encode())
}

/// Only `/metrics`: the routes of the separate metrics listener (`metrics_bind_address`).
pub fn configure_metrics_only(state: HttpState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |config: &mut web::ServiceConfig| {
        config
            .app_data(web::Data::new(state.clone()))
            .service(metrics);
    }
}
