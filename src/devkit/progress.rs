//! Progress on waits longer than a second: a spinner on a terminal, a plain line every few
//! seconds otherwise (CI logs, pipes). Always on stderr, so stdout keeps only results.
//!
//! Owns the spinner; receives status messages from the waiting subcommand. Every wait of the
//! kit goes through here: [`during`] for one future (a receipt, a local re-run), [`Progress`]
//! for a loop that reports its own state (`job watch`).

use std::future::Future;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget};
use tokio::time::Instant;

/// Nothing is shown for waits shorter than this.
const QUIET_FOR: Duration = Duration::from_secs(1);
/// Off a terminal, how often a plain line repeats the status.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often [`during`] redraws the spinner.
const TICK: Duration = Duration::from_millis(100);

/// Awaits `work`, showing `status` (with the seconds waited) if it takes over a second.
pub async fn during<T>(status: &str, work: impl Future<Output = T>) -> T {
    let mut progress = Progress::new();
    let mut ticks = tokio::time::interval(TICK);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticks.tick() => {
                let waited = progress.started.elapsed().as_secs();
                progress.tick(&format!("{status} ({waited} s)"));
            }
        }
    };
    progress.clear();
    result
}

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
            spinner: terminal.then(hidden_spinner),
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

    /// Removes the spinner before results are printed; a later [`tick`](Self::tick) shows a
    /// fresh one.
    pub fn clear(&mut self) {
        if let Some(spinner) = &mut self.spinner {
            spinner.finish_and_clear();
            *spinner = hidden_spinner();
        }
    }
}

/// A spinner that draws nothing until the first tick past [`QUIET_FOR`].
fn hidden_spinner() -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_draw_target(ProgressDrawTarget::hidden());
    spinner
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
