//! Running one job in workerd: the files it needs ([`config`]), a cold process per job
//! ([`run`]), a warm process serving the loader ([`warm`]), and turning the evidence into an
//! outcome ([`classify`]).
//!
//! Used by the `WorkerdRunner` actor; owns nothing long-lived.

pub mod classify;
pub mod config;
pub mod run;
pub mod warm;
