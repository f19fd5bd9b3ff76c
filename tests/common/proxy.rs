//! A TCP relay between the node and anvil's websocket, for fault tests. It can close every
//! current connection (the node sees its socket end), or freeze them: both sockets stay open and
//! nothing is forwarded either way, a half-dead websocket that no FIN or RST announces, which
//! only a liveness check can notice. New connections always work, so a node that reconnects
//! recovers. Loopback only; its tasks stop when it is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

/// What a command does to the connections open at that moment.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Close both sides.
    Drop,
    /// Stop forwarding both ways, keeping both sockets open.
    Stall,
}

/// A relay on a free `127.0.0.1` port in front of `127.0.0.1:upstream_port`.
#[derive(Debug)]
pub struct TcpRelay {
    port: u16,
    /// Each connection subscribes when accepted, so a command reaches only the connections
    /// open when it is sent.
    faults: broadcast::Sender<Fault>,
    /// Connections accepted so far: a node's reconnect shows up here.
    accepted: Arc<AtomicUsize>,
    /// The accept loop; it owns every connection task.
    task: JoinHandle<()>,
}

impl TcpRelay {
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        let (faults, _) = broadcast::channel(16);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            faults.clone(),
            Arc::clone(&accepted),
        ));
        Self {
            port,
            faults,
            accepted,
            task,
        }
    }

    /// The websocket URL to give the node instead of anvil's.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Where the relay listens.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Closes every current connection on both sides; new connections are still accepted.
    pub fn drop_connections(&self) {
        // No receiver just means no connection is open.
        let _ = self.faults.send(Fault::Drop);
    }

    /// Makes every current connection silently stop forwarding, both ways, with both sockets
    /// left open; new connections work normally.
    pub fn stall_connections(&self) {
        let _ = self.faults.send(Fault::Stall);
    }

    /// How many connections the relay has accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        // Aborting the accept loop drops its `JoinSet`, which aborts every connection task.
        self.task.abort();
    }
}

/// Accepts connections until aborted, relaying each in its own task.
async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: broadcast::Sender<Fault>,
    accepted: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        connections.spawn(relay(client, upstream, faults.subscribe()));
        // Forget finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

/// Forwards one connection until a side closes it or a fault arrives; a stalled connection
/// stays open until a later drop.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut faults: broadcast::Receiver<Fault>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let stalled = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        fault = faults.recv() => matches!(fault, Ok(Fault::Stall)),
    };
    if stalled {
        // Hold both sockets, reading and writing nothing, until a drop or the relay's end.
        while let Ok(Fault::Stall) = faults.recv().await {}
    }
    // Returning drops both sockets: each peer sees its connection closed.
}
