//! serverless-executor: a node that runs untrusted JavaScript jobs for smart contracts, contained
//! and fast, and signs every result with its enclave key.
//!
//! # Layout
//! - [`config`]: the operator's file, validated into typed values.
//! - [`domain`]: addresses, identity and other shared domain types.
//! - [`secrets`]: key material, zeroized and never printed.
//! - [`sandbox`]: the launcher that confines workerd before it starts.
//! - [`cgroup`]: cgroup v1/v2 backends: create, limit, kill, OOM evidence, remove.
//! - [`code`]: strict calldata decoding and the code cache.
//! - [`workerd`]: one job in one workerd process, and its classification.
//! - [`chain`]: the only module that speaks Ethereum (digests, signatures, logs, JSON-RPC).
//! - [`actors`]: one actor per file, each owning its state.
//! - [`messages`]: typed messages, grouped by receiving actor.
//! - [`http`]: admin routes; they only send messages. [`metrics`]: what `/metrics` shows.
//! - [`system`]: start order and wiring; [`node_lock`]: one node per cgroup parent.
//! - [`balancer`]: readiness, the agent-check port and the drain phase, for HAProxy.
//! - [`backoff`]: the one retry schedule (capped exponential, jittered).
//! - [`devkit`]: `run`, `code upload`, `job create`, `job watch`, `verify` (no node needed).
//!
//! See ARCHITECTURE.md for the code map and invariants.

pub mod actors;
pub mod backoff;
pub mod balancer;
pub mod cgroup;
pub mod chain;
pub mod cli;
pub mod code;
pub mod config;
pub mod devkit;
pub mod domain;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod node_lock;
pub mod sandbox;
pub mod secrets;
pub mod system;
pub mod telemetry;
pub mod workerd;
