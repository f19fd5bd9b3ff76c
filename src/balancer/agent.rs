//! The agent-check endpoint (`lb_agent_port`): every TCP connection gets one line — `ready up
//! N%`, `drain` or `down` (see [`super::readiness`]) — and is closed.
//!
//! Receives connections from HAProxy's `agent-check`; reads nothing from them (HAProxy's
//! optional `agent-send` text is ignored). Bounded so that a hostile client cannot hurt the
//! node: at most [`MAX_CONNECTIONS`] are served at once (more wait in the kernel's accept
//! backlog, which drops what overflows it), each gets [`WRITE_TIMEOUT`] to take its line, and
//! nothing is read or kept per connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::readiness::ReadinessProbe;

/// Connections answered at once; HAProxy needs one per server line and check interval.
pub const MAX_CONNECTIONS: usize = 32;
/// Longest one connection is kept (a client that never reads is dropped then).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Answers connections until the task is dropped.
pub async fn serve(listener: TcpListener, probe: ReadinessProbe) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, "Agent-check port open.");
    }
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "Agent-check accept failed.");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        // Back-pressure rather than refusal: a line takes microseconds to write, so a burst
        // of connections is served in turn (the kernel's backlog holds the rest) and the
        // balancer's own check, arriving in the middle of it, is still answered.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let line = probe.check().agent_line();
        tokio::spawn(async move {
            answer(stream, line.as_bytes()).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, line: &[u8]) {
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(line).await?;
        stream.shutdown().await
    })
    .await;
    if let Ok(Err(error)) = written {
        debug!(%error, "Agent-check client went away.");
    }
}
