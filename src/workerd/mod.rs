//! Running jobs in workerd: the files of a process ([`config`] and the JavaScript in `js/`),
//! starting one in the sandbox ([`run`]), a process serving our loader ([`process`]), and
//! turning the evidence into an outcome ([`classify`]) and the retry-once policy ([`retry`]);
//! [`bare`] is the same process without the node, the benchmarks' floor.
//!
//! Used by the `WorkerdRunner` actor; owns nothing long-lived.

pub mod bare;
pub mod classify;
pub mod config;
pub mod process;
pub mod retry;
pub mod run;
