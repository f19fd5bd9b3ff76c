//! The node's TCP listeners, bound before any actor starts.
//!
//! Owns nothing after it returns: [`bind`] hands a listening socket to the caller (actix-web's
//! `HttpServer::listen`, or the agent-check task). Binding first means a port that is taken ends
//! the node with one clear error before the chain listener, pools and workerd processes exist,
//! rather than in the middle of starting them.

use std::net::SocketAddr;

use tokio::net::TcpSocket;

/// Pending connections the kernel queues per listener (what actix-web's own `bind` asks for),
/// so a burst from the load balancer waits in the backlog instead of being refused.
pub const BACKLOG: u32 = 1024;

/// Why a listener could not be opened; `what` names the config key an operator changes.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what} to {address}")]
pub struct BindError {
    what: &'static str,
    address: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Binds `address` with `SO_REUSEADDR` (a restarted node takes its port back while old
/// connections sit in `TIME_WAIT`) and starts listening. `what` names the listener in errors.
pub fn bind(address: SocketAddr, what: &'static str) -> Result<std::net::TcpListener, BindError> {
    let error = |source| BindError {
        what,
        address,
        source,
    };
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(error)?;
    socket.set_reuseaddr(true).map_err(error)?;
    socket.bind(address).map_err(error)?;
    let listener = socket.listen(BACKLOG).map_err(error)?;
    listener.into_std().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_named_with_its_config_key() {
        let first = bind("127.0.0.1:0".parse().unwrap(), "the HTTP server").unwrap();
        let taken = first.local_addr().unwrap();
        let error = bind(
            taken,
            "the metrics listener (config key `metrics_bind_address`)",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot bind the metrics listener (config key `metrics_bind_address`) to {taken}"
            )
        );
        assert_eq!(
            std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::AddrInUse)
        );
    }

    #[tokio::test]
    async fn a_bound_listener_accepts_connections() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), "the HTTP server").unwrap();
        let address = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(address).unwrap();
        listener.set_nonblocking(false).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    }
}
