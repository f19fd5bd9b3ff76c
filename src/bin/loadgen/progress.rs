//! The progress bar on stderr: requests done, errors and the running p99, against the request
//! count or the run's length. Hidden off a terminal, when `CI` is set, or with `--no-progress`.
//!
//! Owns the bar; reads the [`Recorder`] after each sample, at most every 100 ms.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::load::Plan;
use crate::recorder::Recorder;

const REFRESH: Duration = Duration::from_millis(100);

/// The bar, or nothing when hidden.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    /// The bar counts requests; otherwise it counts milliseconds of the run.
    by_count: bool,
    start: Instant,
    last_refresh: Instant,
}

impl Progress {
    pub(crate) fn new(plan: &Plan, disabled: bool) -> Self {
        let hidden =
            disabled || std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal();
        let by_count = plan.requests.is_some();
        let total = match (plan.requests, plan.duration) {
            (Some(requests), _) => requests,
            (None, Some(duration)) => millis(plan.warmup + duration),
            (None, None) => 0,
        };
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = if by_count {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {wide_bar} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        let now = Instant::now();
        Self {
            bar,
            by_count,
            start: now,
            last_refresh: now,
        }
    }

    /// Reflects the recorder, at most every [`REFRESH`].
    pub(crate) fn update(&mut self, recorder: &Recorder) {
        let now = Instant::now();
        if self.bar.is_hidden() || now.duration_since(self.last_refresh) < REFRESH {
            return;
        }
        self.last_refresh = now;
        let position = if self.by_count {
            recorder.requests()
        } else {
            millis(now.duration_since(self.start))
        };
        self.bar.set_position(position);
        let p99 = if recorder.latency.is_empty() {
            0.0
        } else {
            recorder.latency.value_at_quantile(0.99) as f64 / 1000.0
        };
        self.bar.set_message(format!(
            "{} done ({} warm-up), {} errors, p99 {p99:.1} ms",
            recorder.requests(),
            recorder.warmup_requests,
            recorder.errors()
        ));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
