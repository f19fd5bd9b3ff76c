//! The node's actors. Each owns its state; they talk only through typed messages.
//!
//! | actor | owns | receives | sends |
//! | --- | --- | --- | --- |
//! | [`Signer`](signer::Signer) | enclave key | `SignRegistration` | — |
//! | [`NodeSetup`](node_setup::NodeSetup) | owner, gas address, admin nonce, registration | admin messages, registration events | `SetGasKey`, `SignRegistration` |
//! | [`TxSender`](tx_sender::TxSender) | gas key and nonce | `SetGasKey` | JSON-RPC |
//! | [`ChainListener`](chain_listener::ChainListener) | websocket, checkpoint | its feed | registration events |

pub mod chain_listener;
pub mod node_setup;
pub mod signer;
pub mod tx_sender;
