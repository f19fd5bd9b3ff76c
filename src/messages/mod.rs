//! Typed messages between actors, grouped by the receiving actor (one file per protocol).
//!
//! | file | receiver | senders |
//! | --- | --- | --- |
//! | `signing.rs` | `Signer` | `NodeSetup` |
//! | `setup.rs` | `NodeSetup` | HTTP admin routes |
//! | `chain.rs` | `NodeSetup` (chain events) | `ChainListener` |
//! | `tx.rs` | `TxSender` | `NodeSetup` |

pub mod chain;
pub mod setup;
pub mod signing;
pub mod tx;
