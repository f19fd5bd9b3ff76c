//! The keys of a node behind a load balancer: the agent-check port and the graceful drain.
//!
//! Validated from [`RawConfig`] into [`BalancerConfig`]; read by `main` (drain and forced exit)
//! and by `lb_agent` (the port). Receives and sends nothing.

use std::time::Duration;

use super::raw::RawConfig;
use super::validate::{in_range, invalid, positive_millis};
use super::ConfigError;

/// How the node behaves behind HAProxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancerConfig {
    /// TCP port of the agent-check endpoint on `http_bind_address`; `None`: not served.
    pub agent_port: Option<u16>,
    /// After the first SIGTERM, how long direct runs are still accepted while the node reports
    /// `drain`: the balancer's time to notice (its check interval times `fall`, and some).
    pub drain_grace: Duration,
    /// Longest a graceful shutdown waits for jobs and outputs in flight before the node exits
    /// anyway (non-zero, logged).
    pub shutdown_timeout: Duration,
}

pub(super) fn balancer_config(raw: &RawConfig) -> Result<BalancerConfig, ConfigError> {
    let agent_port = raw
        .lb_agent_port
        .map(|port| in_range("lb_agent_port", port, 1, u16::MAX))
        .transpose()?;
    let drain_grace =
        Duration::from_millis(in_range("drain_grace_ms", raw.drain_grace_ms, 0, 600_000)?);
    let shutdown_timeout = positive_millis("shutdown_timeout_ms", raw.shutdown_timeout_ms)?;
    if shutdown_timeout <= drain_grace {
        return Err(invalid(
            "shutdown_timeout_ms",
            format!(
                "{} must be longer than drain_grace_ms ({})",
                raw.shutdown_timeout_ms, raw.drain_grace_ms
            ),
        ));
    }
    Ok(BalancerConfig {
        agent_port,
        drain_grace,
        shutdown_timeout,
    })
}
