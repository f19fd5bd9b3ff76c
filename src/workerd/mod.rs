//! Running jobs in workerd: the files of a process ([`config`] and the JavaScript in `js/`),
//! starting one in the sandbox ([`run`]), a process serving our loader ([`process`]) and its
//! HTTP exchange ([`exchange`]), turning the evidence into an outcome ([`classify`]), the
//! retry-once policy ([`retry`]) and each process's job quota ([`quota`]); [`bare`] is the
//! same process without the node, the benchmarks' floor.
//!
//! Used by the `WorkerdRunner` actor; owns nothing long-lived.

pub mod bare;
pub mod classify;
pub mod config;
pub mod exchange;
pub mod process;
pub mod quota;
pub mod retry;
pub mod run;
