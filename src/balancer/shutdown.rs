//! Serving HTTP until a signal, then the graceful drain: the node leaves a balancer without
//! losing or half-signing anything it accepted.
//!
//! First SIGTERM (or SIGINT): the phase becomes `Grace` (the agent says `drain`, `/ready` fails)
//! while direct runs are still taken for `drain_grace_ms`; then `Refusing` (503 +
//! `Retry-After`). The node then waits until nothing is in flight — direct runs, chain jobs,
//! and chain outputs and timeout reports, each of which ends only once its transaction is
//! included or its window closed — stops the HTTP server (finishing open requests) and
//! returns [`Ended::Drained`]. A second signal, or `shutdown_timeout_ms` since the first, ends
//! the wait: [`Ended::Forced`] (the caller exits non-zero).
//! Reads the probe's counts; sends nothing to actors.

use std::time::Duration;

use actix_web::dev::Server;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{sleep, sleep_until, Instant};
use tracing::{error, info, warn};

use super::drain::Phase;
use super::readiness::ReadinessProbe;
use crate::config::BalancerConfig;

/// How often the drain looks at the counts.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// How the node's service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Everything accepted was finished.
    Drained,
    /// A second signal or the shutdown timeout cut the drain short.
    Forced,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The signal handlers could not be installed.
    #[error("cannot install the SIGTERM/SIGINT handlers")]
    Signals(#[source] std::io::Error),
    /// The HTTP server stopped by itself with an error.
    #[error("HTTP server failed")]
    Server(#[source] std::io::Error),
}

struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Runs `server` (built with `disable_signals`) until a signal, then drains.
pub async fn serve(
    server: Server,
    probe: &ReadinessProbe,
    settings: BalancerConfig,
) -> Result<Ended, ServeError> {
    let mut signals = Signals {
        term: signal(SignalKind::terminate()).map_err(ServeError::Signals)?,
        int: signal(SignalKind::interrupt()).map_err(ServeError::Signals)?,
    };
    let handle = server.handle();
    let mut running = actix_web::rt::spawn(server);
    let name = tokio::select! {
        ended = &mut running => {
            return match ended {
                Ok(Err(error)) => Err(ServeError::Server(error)),
                _ => Ok(Ended::Drained),
            };
        }
        name = signals.next() => name,
    };
    let forced_at = Instant::now() + settings.shutdown_timeout;
    probe.drain.advance(Phase::Grace);
    info!(
        signal = name,
        grace_ms = settings.drain_grace.as_millis(),
        "Draining: reporting `drain`; direct runs still taken during the grace."
    );
    let grace_end = Instant::now() + settings.drain_grace;
    let ended = tokio::select! {
        () = sleep_until(grace_end) => drain_in_flight(probe, &mut signals, forced_at).await,
        name = signals.next() => forced(name),
        () = sleep_until(forced_at) => forced("shutdown_timeout_ms"),
    };
    if ended == Ended::Forced {
        log_left(probe);
    }
    // Open requests (a receipt being signed) are finished; new connections are refused.
    handle.stop(ended == Ended::Drained).await;
    Ok(ended)
}

async fn drain_in_flight(
    probe: &ReadinessProbe,
    signals: &mut Signals,
    forced_at: Instant,
) -> Ended {
    probe.drain.advance(Phase::Refusing);
    let load = probe.load.snapshot();
    info!(
        direct = load.direct_admitted,
        chain_jobs = load.chain_running,
        chain_reports = load.chain_reports,
        "Draining: new direct runs refused; waiting for the work in flight."
    );
    loop {
        if probe.load.snapshot().idle() {
            info!("Drained: every accepted job finished and every output is on chain.");
            return Ended::Drained;
        }
        tokio::select! {
            () = sleep(IDLE_POLL) => {}
            name = signals.next() => return forced(name),
            () = sleep_until(forced_at) => return forced("shutdown_timeout_ms"),
        }
    }
}

fn forced(by: &str) -> Ended {
    error!(by, "Shutdown forced before the work in flight finished.");
    Ended::Forced
}

/// Logs what was still in flight at a forced exit.
fn log_left(probe: &ReadinessProbe) {
    let load = probe.load.snapshot();
    warn!(
        direct = load.direct_admitted,
        chain_jobs = load.chain_running,
        chain_reports = load.chain_reports,
        "Left in flight at the forced exit."
    );
}
