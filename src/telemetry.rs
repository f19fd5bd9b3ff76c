//! Tracing setup: one line per event to stdout, level from `RUST_LOG` (default `info`), as text
//! or, with `log_format = "json"`, as one JSON object per line carrying the same fields
//! (`timestamp`, `level`, `message` and each event field at the top level, for log shippers);
//! for the developer kit's subcommands, text to stderr (stdout carries their results) at
//! default `warn`.
//!
//! Owns the global subscriber; receives and sends nothing.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; call once, before the first event.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stdout);
    match format {
        // Colour codes only on a terminal: log files and collectors get plain text.
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// A command-line tool's subscriber (the kit's, `loadgen`'s): stderr, so stdout holds only the
/// result, at `default_level` unless `RUST_LOG` says otherwise.
pub fn init_for_tool(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
