//! What a Prometheus scrape costs the node: encoding every metric (`GET /metrics`' body) after
//! 10 000 jobs were counted and timed in every phase. The budget is under 5 ms per
//! scrape; label sets are bounded, so the cost does not grow with the number of jobs.

#![allow(missing_docs)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serverless_executor::metrics::pools::ProcessCounts;
use serverless_executor::metrics::{Metrics, Phase, Retired, Source};

const JOBS: u32 = 10_000;

fn scrape(c: &mut Criterion) {
    let metrics = Metrics::default();
    for job in 0..JOBS {
        let source = [Source::Direct, Source::Chain][(job % 2) as usize];
        metrics.accepted(source);
        for (n, &phase) in Phase::ALL.iter().enumerate() {
            let took = Duration::from_micros(u64::from(job % 5000) * (n as u64 + 1));
            metrics.phase(phase, took);
        }
        metrics.ended(source, (job % 8) as u8);
        metrics.pools().retired(Retired::JobQuota);
        metrics.pools().processes(ProcessCounts {
            idle: 2,
            busy: 1,
            starting: 0,
            idle_target: 2,
        });
    }
    let bytes = metrics.encode().len();
    c.bench_function(
        &format!("metrics_encode_after_10k_jobs ({bytes} bytes)"),
        |b| b.iter(|| black_box(metrics.encode())),
    );
}

criterion_group!(benches, scrape);
criterion_main!(benches);
