//! The exit statuses of the kit's subcommands, one table for all (README, "Developer kit").
//!
//! Pure constants and the outcome → status map; receives and sends nothing.

use crate::domain::JobOutcome;

/// Outcome 0, or every `verify` check passed.
pub const OK: u8 = 0;
/// The tool could not do its work: a bad flag or file, no privileges, no chain.
pub const TOOL_FAILED: u8 = 1;
/// clap's own status for a malformed command line.
pub const USAGE: u8 = 2;
/// `run`: the job has no outcome (the node's fault twice: the node would sign nothing).
pub const NO_OUTCOME: u8 = 3;
/// `verify`: at least one check failed. `job watch`: the job was slashed.
pub const CHECK_FAILED: u8 = 4;
/// `run`: outcome `n` (1 to 7) exits with `OUTCOME_BASE + n`, so 11 to 17.
pub const OUTCOME_BASE: u8 = 10;

/// The exit status of a run that ended with `outcome`.
pub const fn of_outcome(outcome: JobOutcome) -> u8 {
    match outcome.error_code() {
        0 => OK,
        code => OUTCOME_BASE + code,
    }
}

/// A short name for an outcome, for humans.
pub const fn outcome_name(outcome: JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Success => "success",
        JobOutcome::InvalidCodeTx => "invalid code transaction",
        JobOutcome::InvalidCalldata => "invalid calldata",
        JobOutcome::SyntaxError => "syntax error",
        JobOutcome::Timeout => "timeout",
        JobOutcome::OutputTooLarge => "output too large",
        JobOutcome::MemoryExceeded => "memory exceeded",
        JobOutcome::UncaughtException => "uncaught exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_status() {
        let outcomes = [
            JobOutcome::Success,
            JobOutcome::InvalidCodeTx,
            JobOutcome::InvalidCalldata,
            JobOutcome::SyntaxError,
            JobOutcome::Timeout,
            JobOutcome::OutputTooLarge,
            JobOutcome::MemoryExceeded,
            JobOutcome::UncaughtException,
        ];
        let statuses: std::collections::BTreeSet<u8> =
            outcomes.into_iter().map(of_outcome).collect();
        assert_eq!(statuses.len(), outcomes.len());
        for reserved in [TOOL_FAILED, USAGE, NO_OUTCOME, CHECK_FAILED] {
            assert!(!statuses.contains(&reserved));
        }
    }
}
