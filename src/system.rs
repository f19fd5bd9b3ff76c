//! Start order and wiring of the actors; returns the handles the HTTP layer needs.
//!
//! Order: `Signer` (own thread) → `TxSender` → `NodeSetup` → `ChainListener` (supervised).
//! Every address is passed explicitly to the constructor that needs it; nothing is looked up
//! from a registry.

use actix::{Actor, Arbiter, Supervisor};

use crate::actors::chain_listener::{ChainListener, RegistrationSink};
use crate::actors::node_setup::{AuthPolicy, NodeSetup, NodeSetupParts};
use crate::actors::signer::Signer;
use crate::actors::tx_sender::TxSender;
use crate::chain::rpc::{ChainRpc, RpcError};
use crate::config::Config;
use crate::domain::EnclaveIdentity;
use crate::http::HttpState;
use crate::secrets::SecretKey;

/// What `main` keeps after start.
#[derive(Debug)]
pub struct Handles {
    /// Routes' view of the actors.
    pub http: HttpState,
    /// This node's public identity.
    pub identity: EnclaveIdentity,
    /// The signer's thread; stopped on shutdown.
    pub signer_arbiter: Arbiter,
}

/// Why the node could not start its actors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP RPC client could not be built.
    #[error("cannot set up the chain RPC client")]
    Rpc(#[from] RpcError),
}

/// Starts every actor. Must run inside an actix `System`.
pub fn start(config: &Config, enclave_key: SecretKey) -> Result<Handles, StartError> {
    let (signer, identity) = Signer::new(enclave_key);
    let signer_arbiter = Arbiter::new();
    let signer = Signer::start_in_arbiter(&signer_arbiter.handle(), move |_| signer);

    let rpc = ChainRpc::new(&config.chain.http_rpc_url, config.chain.rpc_timeout)?;
    let tx_sender = TxSender::new(rpc.clone(), config.chain.chain_id).start();
    let setup = NodeSetup::new(NodeSetupParts {
        identity,
        policy: AuthPolicy {
            chain_id: config.chain.chain_id,
            enclave: identity.address,
            max_ttl: config.admin.signature_max_ttl,
            compat_unauthenticated: config.admin.compat_unauthenticated_admin,
        },
        job_capacity: config.job_capacity,
        signer: signer.recipient(),
        tx_sender: tx_sender.recipient(),
    })
    .start();

    let sink = RegistrationSink {
        registered: setup.clone().recipient(),
        deregistered: setup.clone().recipient(),
    };
    let chain = config.chain.clone();
    let enclave = identity.address;
    Supervisor::start(move |_| ChainListener::new(&chain, rpc, enclave, sink));

    Ok(Handles {
        http: HttpState { setup },
        identity,
        signer_arbiter,
    })
}
