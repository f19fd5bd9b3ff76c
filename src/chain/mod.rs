//! Everything that speaks Ethereum: digests, signatures, log decoding and JSON-RPC.
//!
//! The only module that imports ethers; the rest of the node speaks our domain types, so a
//! later move to alloy touches this folder alone (STYLE.md §3.12).

pub mod checkpoint;
pub mod code_tx;
pub mod ecdsa;
pub mod eip712;
pub mod events;
pub mod fees;
pub mod jobs_events;
pub mod rpc;
pub mod submit;
pub mod tx_errors;
pub mod wallet;
