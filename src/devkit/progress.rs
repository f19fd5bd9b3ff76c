//! Progress on waits longer than a second: a spinner on a terminal, a plain line every few
//! seconds otherwise (CI logs, pipes). Always on stderr, so stdout keeps only results.
//!
//! Owns the spinner; receives status messages from the waiting subcommand.

use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget};
use tokio::time::Instant;

/// Nothing is shown for waits shorter than this.
const QUIET_FOR: Duration = Duration::from_secs(1);
/// Off a terminal, how often a plain line repeats the status.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One wait's progress.
#[derive(Debug)]
pub struct Progress {
    spinner: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    /// A spinner on a terminal (unless `CI` is set), plain lines otherwise.
    pub fn new() -> Self {
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Self {
            spinner: terminal.then(|| {
                let spinner = ProgressBar::new_spinner();
                spinner.set_draw_target(ProgressDrawTarget::hidden());
                spinner
            }),
            started: Instant::now(),
            last_line: None,
        }
    }

    /// Shows `status` if the wait has lasted over a second.
    pub fn tick(&mut self, status: &str) {
        if self.started.elapsed() < QUIET_FOR {
            return;
        }
        match &self.spinner {
            Some(spinner) => {
                if spinner.is_hidden() {
                    spinner.set_draw_target(ProgressDrawTarget::stderr());
                }
                spinner.set_message(status.to_owned());
                spinner.tick();
            }
            None if self.last_line.is_none_or(|at| at.elapsed() >= PLAIN_EVERY) => {
                self.last_line = Some(Instant::now());
                let _ = writeln!(std::io::stderr(), "{status}");
            }
            None => {}
        }
    }

    /// Removes the spinner before results are printed.
    pub fn clear(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
