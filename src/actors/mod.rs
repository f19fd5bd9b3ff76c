//! The node's actors. Each owns its state; they talk only through typed messages.
//!
//! | actor | owns | receives | sends |
//! | --- | --- | --- | --- |
//! | [`Signer`](signer::Signer) | enclave key | `SignRegistration`, `SignOutput`, `SignReceipt` | — |
//! | [`NodeSetup`](node_setup::NodeSetup) | owner, gas address, admin nonce, registration | admin messages, registration events | `SetGasKey`, `SignRegistration` |
//! | [`TxSender`](tx_sender::TxSender) | gas key, nonce, pending transactions | `SetGasKey`, `SubmitOutput`, `ReportTimeout` | JSON-RPC |
//! | [`ChainListener`](chain_listener::ChainListener) | websocket, checkpoint, block hashes | its feed | registration events, `ServingChanged`, `ChainJobCreated`, `ChainJobResponded`, `ChainReorged` |
//! | [`CodeStore`](code_store::CodeStore) | code cache | `FetchCode` | JSON-RPC |
//! | [`JobScheduler`](job_scheduler::JobScheduler) | chain and direct slots, direct queue, budgets and waiting bounds, book of chain jobs | `ExecuteJob`, chain job messages | `FetchCode`, `RunInProcess`, `SignOutput`, `SubmitOutput`, `ReportTimeout` |
//! | [`CgroupPool`](cgroup_pool::CgroupPool) | job cgroups | `ReserveCgroup`, `ReleaseCgroup` | — |
//! | [`PortPool`](port_pool::PortPool) | bound listeners | `ReservePort` | — |
//! | [`WorkerdRunner`](workerd_runner::WorkerdRunner) | HTTP client to workerd, warm processes | `RunInProcess`, `ShutDownPool` | `ReserveCgroup`, `ReservePort` |

pub mod cgroup_pool;
pub mod chain_listener;
pub mod code_store;
pub mod job_scheduler;
pub mod node_setup;
pub mod port_pool;
pub mod signer;
pub mod tx_sender;
pub mod workerd_runner;
