//! Running one job in workerd: the files it needs ([`config`]), the process and request
//! ([`run`]), and turning the evidence into an outcome ([`classify`]).
//!
//! Used by the `WorkerdRunner` actor; owns nothing long-lived.

pub mod classify;
pub mod config;
pub mod run;
