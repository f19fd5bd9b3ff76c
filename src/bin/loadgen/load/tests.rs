//! Unit tests of the load loops: the open-loop schedule, the in-flight bound and timing from the
//! scheduled instant, under paused tokio time.
use super::*;

/// Answers after a fixed service time, one call at a time at most (like a single slot).
struct SlowTarget {
    service: Duration,
    busy: tokio::sync::Mutex<()>,
}

impl Target for SlowTarget {
    async fn call(&self) -> Answer {
        let _one_at_a_time = self.busy.lock().await;
        tokio::time::sleep(self.service).await;
        Answer {
            outcome: Outcome::Answered {
                code: 0,
                output_ok: true,
            },
            span: None,
        }
    }
}

fn slow(service_ms: u64) -> Arc<SlowTarget> {
    Arc::new(SlowTarget {
        service: Duration::from_millis(service_ms),
        busy: tokio::sync::Mutex::new(()),
    })
}

async fn collect(plan: Plan, target: Arc<SlowTarget>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    run(&plan, target, stop, |sample| samples.push(sample)).await;
    samples.sort_by_key(|sample| sample.scheduled);
    samples
}

fn plan(kind: LoopKind, requests: u64) -> Plan {
    Plan {
        kind,
        warmup: Duration::ZERO,
        duration: None,
        requests: Some(requests),
        timeout: Duration::from_secs(60),
    }
}

fn millis(samples: &[Sample], field: fn(&Sample) -> Duration) -> Vec<u128> {
    samples.iter().map(|s| field(s).as_millis()).collect()
}

#[tokio::test(start_paused = true)]
async fn open_loop_times_requests_from_their_scheduled_send() {
    // Due every 100 ms, served in 250 ms one at a time: each request waits longer for the
    // one before it, and that wait is latency (a closed loop would report 250 ms each).
    let kind = LoopKind::Open {
        rate: 10.0,
        max_in_flight: 64,
    };
    let samples = collect(plan(kind, 5), slow(250)).await;
    assert_eq!(millis(&samples, |s| s.scheduled), [0, 100, 200, 300, 400]);
    assert_eq!(millis(&samples, |s| s.latency), [250, 400, 550, 700, 850]);
    assert_eq!(
        millis(&samples, |s| s.from_schedule),
        millis(&samples, |s| s.latency)
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_an_in_flight_slot_counts_as_latency() {
    let kind = LoopKind::Open {
        rate: 10.0,
        max_in_flight: 1,
    };
    let samples = collect(plan(kind, 4), slow(250)).await;
    assert_eq!(millis(&samples, |s| s.latency), [250, 400, 550, 700]);
}

#[tokio::test(start_paused = true)]
async fn closed_loop_sends_the_next_request_when_one_answers() {
    let samples = collect(plan(LoopKind::Closed { concurrency: 1 }, 3), slow(250)).await;
    assert_eq!(millis(&samples, |s| s.scheduled), [0, 250, 500]);
    assert_eq!(millis(&samples, |s| s.latency), [250, 250, 250]);
}

#[tokio::test(start_paused = true)]
async fn warmup_requests_are_marked_and_not_counted_against_the_limit() {
    let mut plan = plan(
        LoopKind::Open {
            rate: 10.0,
            max_in_flight: 64,
        },
        3,
    );
    plan.warmup = Duration::from_millis(200);
    let samples = collect(plan, slow(10)).await;
    let warmup: Vec<bool> = samples.iter().map(|s| s.warmup).collect();
    assert_eq!(warmup, [true, true, false, false, false]);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_run_sends_nothing_new_and_keeps_what_it_measured() {
    let kind = LoopKind::Open {
        rate: 10.0,
        max_in_flight: 64,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut samples = Vec::new();
    run(&plan(kind, 100), slow(10), stop.clone(), |sample| {
        samples.push(sample);
        stop.store(true, Ordering::Relaxed);
    })
    .await;
    assert_eq!(samples.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn duration_limits_the_measured_phase_and_timeouts_are_failures() {
    let mut plan = plan(LoopKind::Closed { concurrency: 2 }, 1000);
    plan.requests = None;
    plan.duration = Some(Duration::from_millis(1000));
    plan.timeout = Duration::from_millis(300);
    let samples = collect(plan, slow(200)).await;
    // Two workers share one 200 ms slot: the second always waits, the budget runs out.
    assert!(samples.iter().all(|s| s.scheduled < Duration::from_secs(1)));
    assert!(samples
        .iter()
        .any(|s| s.outcome == Outcome::Failed(Failure::Timeout)));
}
