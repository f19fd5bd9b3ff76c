//! Tracing setup: one line per event to stdout, level from `RUST_LOG` (default `info`); for the
//! developer kit's subcommands, to stderr (stdout carries their results) at default `warn`.
//!
//! Owns the global subscriber; receives and sends nothing.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .init();
}

/// The kit's subscriber: stderr, default level `warn`, so stdout holds only the result.
pub fn init_for_tool() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
