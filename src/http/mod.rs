//! The HTTP surface: Marlin's admin routes plus `/health`, `/ready`, `/ready/chain` and
//! `/metrics`. Routes only send messages to actors.
//!
//! Every route shares [`HttpState`] (actor addresses, no data). Bodies are capped by
//! `admin_body_limit_bytes` (larger: 413).

mod admin;
mod direct;
mod error;
pub mod listeners;
mod metrics;
mod ready;

use actix::Addr;
use actix_web::{get, web, HttpResponse};

pub use admin::{EXPIRY_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
pub use direct::{
    parse_request as parse_direct_request, ERROR_CODE_HEADER,
    SIGNATURE_HEADER as RECEIPT_SIGNATURE_HEADER, SIGN_TIMESTAMP_HEADER, TOTAL_TIME_HEADER,
};
pub use error::ApiError;
pub use metrics::configure_metrics_only;

use crate::actors::chain_listener::ListenerStatus;
use crate::actors::job_scheduler::JobScheduler;
use crate::actors::node_setup::NodeSetup;
use crate::config::DirectRunConfig;
use crate::messages::setup::GetNodeStatus;

/// Addresses of the actors routes talk to.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// Owner, gas key and registration.
    pub setup: Addr<NodeSetup>,
    /// Whether the chain listener is connected (for `/ready/chain`).
    pub chain_listener: ListenerStatus,
    /// The direct-run route's links.
    pub direct_run: DirectRunState,
    /// Whether a direct run would be taken now (`/ready`, the drain's 503).
    pub readiness: crate::balancer::readiness::ReadinessProbe,
    /// What `/metrics` encodes.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// What `POST /api/serverless` needs.
#[derive(Debug, Clone)]
pub struct DirectRunState {
    /// Runs jobs and signs their receipts.
    pub scheduler: Addr<JobScheduler>,
    /// Enabled, deadline, body limit.
    pub settings: DirectRunConfig,
}

/// Registers every route; `body_limit` caps admin request bodies in bytes. `/metrics` is
/// among them unless `with_metrics` is false (it then has a listener of its own:
/// [`configure_metrics_only`]).
pub fn configure(
    state: HttpState,
    body_limit: usize,
    with_metrics: bool,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |config: &mut web::ServiceConfig| {
        let direct_limit = state.direct_run.settings.body_limit_bytes;
        if with_metrics {
            config.service(metrics::metrics);
        }
        config
            .app_data(web::Data::new(state.clone()))
            .app_data(web::PayloadConfig::new(body_limit))
            .service(
                web::scope("/api")
                    .app_data(direct::json_config(direct_limit, &state.metrics))
                    .service(direct::direct_run),
            )
            .service(admin::index)
            .service(admin::immutable_config)
            .service(admin::mutable_config)
            .service(admin::executor_details)
            .service(admin::signed_registration_message)
            .service(health)
            .service(ready::ready)
            .service(ready::ready_chain);
    }
}

/// Lifecycle state: configured, registered.
#[get("/health")]
async fn health(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let status = state
        .setup
        .send(GetNodeStatus)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(status))
}
