//! The `Jobs` contract's timing parameters the node reads once at start (the answer window's
//! buffer, a signature's maximum age), with a logged fallback when the chain is down then.

use std::time::Duration;

use tracing::warn;

use crate::chain::rpc::ChainRpc;
use crate::config::Config;

/// `Jobs.EXECUTION_BUFFER_TIME` from the chain; the config's copy only if the chain is down at
/// start (logged: timeouts may then be reported early, and the simulation refuses them).
pub(super) async fn execution_buffer(config: &Config, rpc: &ChainRpc) -> Duration {
    match rpc.execution_buffer(config.chain.jobs).await {
        Ok(buffer) => buffer,
        Err(error) => {
            warn!(%error, "Cannot read Jobs.EXECUTION_BUFFER_TIME; using the config's copy.");
            config.execution_buffer_time
        }
    }
}

/// Used when `Jobs.SIGN_MAX_AGE` cannot be read at start: short, so that a signature is
/// refreshed early rather than refused by the contract.
const FALLBACK_SIGN_MAX_AGE: Duration = Duration::from_secs(60);

/// `Jobs.SIGN_MAX_AGE` from the chain (logged fallback if the chain is down at start).
pub(super) async fn sign_max_age(config: &Config, rpc: &ChainRpc) -> Duration {
    match rpc.sign_max_age(config.chain.jobs).await {
        Ok(age) => age,
        Err(error) => {
            warn!(%error, fallback_secs = FALLBACK_SIGN_MAX_AGE.as_secs(), "Cannot read Jobs.SIGN_MAX_AGE; using a short fallback.");
            FALLBACK_SIGN_MAX_AGE
        }
    }
}
