//! Typed messages between actors, grouped by the receiving actor (one file per protocol).
//!
//! | file | receiver | senders |
//! | --- | --- | --- |
//! | `signing.rs` | `Signer` | `NodeSetup` |
//! | `setup.rs` | `NodeSetup` | HTTP admin routes |
//! | `chain.rs` | `NodeSetup` (chain events) | `ChainListener` |
//! | `tx.rs` | `TxSender` | `NodeSetup` |
//! | `code.rs` | `CodeStore` | `JobScheduler` |
//! | `pool.rs` | `CgroupPool`, `PortPool` | `JobScheduler`, `CgroupLease` |
//! | `jobs.rs` | `JobScheduler`, `WorkerdRunner` | direct-run route, `JobScheduler` |

pub mod chain;
pub mod code;
pub mod jobs;
pub mod pool;
pub mod setup;
pub mod signing;
pub mod tx;
