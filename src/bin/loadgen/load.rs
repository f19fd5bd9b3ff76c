//! The load loops, independent of what is being called: an open loop that schedules request i at
//! `start + i / rate` and times it from that *scheduled* instant (so a stalled target cannot
//! hide the requests it delayed: no coordinated omission), and a closed loop of N workers that
//! each send the next request when the previous one answered.
//!
//! Owns the schedule and the in-flight bound; receives [`Answer`]s from a [`Target`] and sends
//! one [`Sample`] per request to the caller's sink. Time is `tokio::time`, so tests pause it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LoopKind {
    /// Request i is due at `start + i / rate`, whatever happened to the earlier ones.
    Open { rate: f64, max_in_flight: usize },
    /// `concurrency` workers, each sending its next request when the previous one answered.
    Closed { concurrency: usize },
}

/// A validated run: the loop, the warm-up and the limits (whichever is reached first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) kind: LoopKind,
    /// Requests due before `start + warmup` are sent but marked as warm-up.
    pub(crate) warmup: Duration,
    /// Length of the measured phase.
    pub(crate) duration: Option<Duration>,
    /// Number of measured requests.
    pub(crate) requests: Option<u64>,
    /// One request's budget; beyond it the request counts as a [`Failure::Timeout`].
    pub(crate) timeout: Duration,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The executor answered with an outcome code (0..=7); `output_ok` = the output a successful
    /// run of the workload returns (always false for codes other than 0).
    Answered { code: u8, output_ok: bool },
    /// No outcome: the request failed on the way.
    Failed(Failure),
}

/// A request that got no outcome code, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Failure {
    /// 503: every slot and the queue were busy.
    Busy,
    /// Any other HTTP status than 200 and 503.
    HttpStatus(u16),
    /// No connection to the node.
    Connect,
    /// No answer within the request budget.
    Timeout,
    /// The request or the response body broke off.
    Transfer,
    /// 200 without a valid `X-Executor-Error-Code`.
    MissingErrorCode,
    /// createJob could not be sent (JSON-RPC error).
    CreateJobRpc,
    /// createJob was mined but reverted (e.g. no executor with a free slot).
    CreateJobReverted,
    /// The JobResponded watch was lost before the job answered.
    WatchLost,
}

impl Failure {
    /// The key used in the report's `transport_errors`.
    pub(crate) fn key(self) -> String {
        match self {
            Self::Busy => "http_503_busy".to_owned(),
            Self::HttpStatus(status) => format!("http_{status}"),
            Self::Connect => "connect".to_owned(),
            Self::Timeout => "timeout".to_owned(),
            Self::Transfer => "transfer".to_owned(),
            Self::MissingErrorCode => "missing_error_code".to_owned(),
            Self::CreateJobRpc => "create_job_rpc".to_owned(),
            Self::CreateJobReverted => "create_job_reverted".to_owned(),
            Self::WatchLost => "watch_lost".to_owned(),
        }
    }
}

/// What a target reports for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) outcome: Outcome,
    /// The interval the target itself measured (chain mode: createJob receipt → JobResponded);
    /// `None` means "from the scheduled send until now".
    pub(crate) span: Option<(Instant, Instant)>,
}

/// Something to put load on.
pub(crate) trait Target: Send + Sync + 'static {
    /// Sends one request and waits for its end.
    fn call(&self) -> impl Future<Output = Answer> + Send;
}

/// One request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// When it was due, from the start of the run.
    pub(crate) scheduled: Duration,
    /// The measured latency: the target's span, or `from_schedule`.
    pub(crate) latency: Duration,
    /// From the scheduled send to the end (includes any wait for a free in-flight slot).
    pub(crate) from_schedule: Duration,
    pub(crate) outcome: Outcome,
    /// Due during the warm-up: left out of the stats.
    pub(crate) warmup: bool,
}

/// Runs `plan` against `target`, handing every sample to `sink` as it completes; returns when
/// the last request has ended. Once `stop` is set no new request is sent (Ctrl-C ends a run
/// early and its report is still written).
pub(crate) async fn run<T: Target>(
    plan: &Plan,
    target: Arc<T>,
    stop: Arc<AtomicBool>,
    mut sink: impl FnMut(Sample),
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    match plan.kind {
        LoopKind::Open {
            rate,
            max_in_flight,
        } => {
            let schedule = Schedule::new(plan, start, stop);
            tokio::spawn(open_loop(schedule, rate, max_in_flight, target, tx));
        }
        LoopKind::Closed { concurrency } => {
            let schedule = Arc::new(Schedule::new(plan, start, stop));
            for _ in 0..concurrency {
                let worker = closed_worker(schedule.clone(), target.clone(), tx.clone());
                tokio::spawn(worker);
            }
            // The workers hold the only senders now: the channel closes when the last one ends.
            drop(tx);
        }
    }
    while let Some(sample) = rx.recv().await {
        sink(sample);
    }
}

/// The run's clock and limits, shared by whoever issues requests.
#[derive(Debug)]
struct Schedule {
    start: Instant,
    warmup_end: Instant,
    end: Option<Instant>,
    requests: Option<u64>,
    timeout: Duration,
    /// Measured requests issued so far.
    issued: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl Schedule {
    fn new(plan: &Plan, start: Instant, stop: Arc<AtomicBool>) -> Self {
        let warmup_end = start + plan.warmup;
        Self {
            start,
            warmup_end,
            end: plan.duration.map(|duration| warmup_end + duration),
            requests: plan.requests,
            timeout: plan.timeout,
            issued: AtomicU64::new(0),
            stop,
        }
    }

    /// Whether a request due at `due` is sent, and if so whether it is warm-up.
    fn admit(&self, due: Instant) -> Option<bool> {
        if self.end.is_some_and(|end| due >= end) || self.stop.load(Ordering::Relaxed) {
            return None;
        }
        if due < self.warmup_end {
            return Some(true);
        }
        let issued = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.requests {
            Some(limit) if issued >= limit => None,
            _ => Some(false),
        }
    }

    /// Calls the target once and times it from `due`.
    async fn measure<T: Target>(&self, target: &T, due: Instant, warmup: bool) -> Sample {
        let answer = tokio::time::timeout(self.timeout, target.call()).await;
        let now = Instant::now();
        let (outcome, span) = match answer {
            Ok(answer) => (answer.outcome, answer.span),
            Err(_) => (Outcome::Failed(Failure::Timeout), None),
        };
        let end = span.map_or(now, |(_, end)| end);
        let from_schedule = end.saturating_duration_since(due);
        let latency = span.map_or(from_schedule, |(begin, end)| {
            end.saturating_duration_since(begin)
        });
        Sample {
            scheduled: due.saturating_duration_since(self.start),
            latency,
            from_schedule,
            outcome,
            warmup,
        }
    }
}

async fn open_loop<T: Target>(
    schedule: Schedule,
    rate: f64,
    max_in_flight: usize,
    target: Arc<T>,
    tx: mpsc::UnboundedSender<Sample>,
) {
    let schedule = Arc::new(schedule);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let interval = 1.0 / rate;
    for index in 0u64.. {
        // Computed from the start, never accumulated: no drift, and a late wake-up does not
        // move the due time of this request or of any later one.
        #[allow(clippy::cast_precision_loss)]
        let due = schedule.start + Duration::from_secs_f64(index as f64 * interval);
        let Some(warmup) = schedule.admit(due) else {
            break;
        };
        tokio::time::sleep_until(due).await;
        if schedule.stop.load(Ordering::Relaxed) {
            break;
        }
        // Waiting here for a free slot delays the send, and the delay is part of the latency.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (schedule, target, tx) = (schedule.clone(), target.clone(), tx.clone());
        tokio::spawn(async move {
            let sample = schedule.measure(target.as_ref(), due, warmup).await;
            drop(slot);
            let _ = tx.send(sample);
        });
    }
}

async fn closed_worker<T: Target>(
    schedule: Arc<Schedule>,
    target: Arc<T>,
    tx: mpsc::UnboundedSender<Sample>,
) {
    loop {
        let due = Instant::now();
        let Some(warmup) = schedule.admit(due) else {
            break;
        };
        let sample = schedule.measure(target.as_ref(), due, warmup).await;
        if tx.send(sample).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
