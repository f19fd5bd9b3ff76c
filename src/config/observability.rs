//! The operator's view of the node: log line format and where `/metrics` is served.
//!
//! Keys `log_format` (`"text"`, the default, or `"json"`: one JSON object per line, the same
//! fields, for log shippers) and `metrics_bind_address` (`"IP:port"`: `/metrics` on a listener
//! of its own instead of the admin port). Pure validation; receives and sends nothing.

use std::net::SocketAddr;

use super::raw::RawConfig;
use super::validate::invalid;
use super::ConfigError;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, with the same fields as the text format.
    Json,
}

/// Logging and metrics exposure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservabilityConfig {
    /// `log_format`.
    pub log_format: LogFormat,
    /// `metrics_bind_address`: `/metrics` only there; `None` keeps it on the admin port.
    pub metrics_bind_address: Option<SocketAddr>,
}

/// Validates the two keys.
pub(super) fn observability_config(raw: &RawConfig) -> Result<ObservabilityConfig, ConfigError> {
    let log_format = match raw.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(invalid(
                "log_format",
                format!("`{other}` is not one of text, json"),
            ))
        }
    };
    let metrics_bind_address = match &raw.metrics_bind_address {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            invalid(
                "metrics_bind_address",
                format!("`{text}` is not an IP:port address"),
            )
        })?),
    };
    Ok(ObservabilityConfig {
        log_format,
        metrics_bind_address,
    })
}
