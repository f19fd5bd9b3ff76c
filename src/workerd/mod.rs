//! Running jobs in workerd: the files of a process ([`config`] and the JavaScript in `js/`),
//! starting one in the sandbox ([`run`]) from one long-lived thread ([`fork_thread`]), a
//! process serving our loader ([`process`]) and its HTTP exchange ([`exchange`]), turning the
//! evidence into an outcome ([`classify`]), the retry-once policy ([`retry`]) and each
//! process's job quota ([`quota`]); [`bare`] is the same process without the node, the
//! benchmarks' floor.
//!
//! Used by the `WorkerdRunner` actor; owns nothing long-lived but the fork thread.

pub mod bare;
pub mod classify;
pub mod config;
pub mod exchange;
pub mod fork_thread;
pub mod process;
pub mod quota;
pub mod retry;
pub mod run;
