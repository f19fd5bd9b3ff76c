//! `PortPool` binds loopback listeners for workerd and hands them out as leases.
//!
//! Receives: [`ReservePort`]. Sends: nothing. Each lease is a socket the node bound to
//! `127.0.0.1:0` and put in the listening state, so ports can never collide and workerd needs
//! no port of its own: it serves the inherited socket (`--socket-fd`), and the job's request
//! waits in the socket's backlog until it does. A few sockets are bound ahead of need so the
//! bind is off the job's critical path.

use std::net::TcpListener;

use actix::{Actor, Context, Handler};

use crate::messages::pool::{PoolError, PortLease, ReservePort};

/// Sockets kept bound ahead of need.
const SPARE: usize = 4;

/// The listener source.
#[derive(Debug, Default)]
pub struct PortPool {
    spare: Vec<TcpListener>,
}

impl PortPool {
    /// An empty pool; it binds on first use.
    pub fn new() -> Self {
        Self::default()
    }

    fn bind() -> Result<TcpListener, PoolError> {
        TcpListener::bind(("127.0.0.1", 0)).map_err(PoolError::Bind)
    }
}

impl Actor for PortPool {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.spare = (0..SPARE).filter_map(|_| Self::bind().ok()).collect();
    }
}

impl Handler<ReservePort> for PortPool {
    type Result = Result<PortLease, PoolError>;

    fn handle(&mut self, _: ReservePort, _: &mut Context<Self>) -> Self::Result {
        let listener = match self.spare.pop() {
            Some(listener) => listener,
            None => Self::bind()?,
        };
        if self.spare.len() < SPARE {
            if let Ok(listener) = Self::bind() {
                self.spare.push(listener);
            }
        }
        Ok(PortLease { listener })
    }
}
