//! Unit tests of the report: percentile math, time-series buckets and the JSON shape.
use super::*;

fn close(actual: f64, expected: f64) -> bool {
    // HdrHistogram at 3 significant digits: within 0.1 %.
    (actual - expected).abs() <= expected * 0.001
}

#[test]
fn percentiles_of_one_to_a_thousand_milliseconds() {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for ms in 1..=1000u64 {
        histogram.record(ms * 1000).unwrap();
    }
    let p = Percentiles::from_micros(&histogram).unwrap();
    assert_eq!(p.count, 1000);
    for (actual, expected) in [
        (p.min, 1.0),
        (p.mean, 500.5),
        (p.p50, 500.0),
        (p.p90, 900.0),
        (p.p99, 990.0),
        (p.p99_9, 999.0),
        (p.max, 1000.0),
    ] {
        assert!(close(actual, expected), "{actual} vs {expected}: {p:?}");
    }
}

#[test]
fn a_single_outlier_shows_in_the_tail_only() {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    histogram.record_n(10_000, 999).unwrap();
    histogram.record(2_000_000).unwrap();
    let p = Percentiles::from_micros(&histogram).unwrap();
    assert!(close(p.p99_9, 10.0), "{p:?}");
    assert!(close(p.max, 2000.0), "{p:?}");
    assert!(Percentiles::from_micros(&Histogram::<u64>::new(3).unwrap()).is_none());
}

#[test]
fn nearest_rank_picks_the_smallest_value_covering_the_quantile() {
    let values: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(nearest_rank(&values, 0.5), 5.0);
    assert_eq!(nearest_rank(&values, 0.99), 10.0);
    assert_eq!(nearest_rank(&values, 0.0), 1.0);
    assert_eq!(nearest_rank(&[], 0.5), 0.0);
}

#[test]
fn time_series_buckets_by_scheduled_time() {
    let point = |at_s, latency_ms, ok| Point {
        at_s,
        latency_ms,
        ok,
    };
    let points = [
        point(0.05, 3.0, true),
        point(0.01, 1.0, true),
        point(0.12, 9.0, false),
    ];
    let series = time_series(&points, 0.1);
    assert_eq!(series.len(), 2);
    assert_eq!((series[0].requests, series[0].errors), (2, 0));
    assert_eq!((series[0].p50_ms, series[0].max_ms), (1.0, 3.0));
    assert_eq!((series[1].start_s, series[1].errors), (0.1, 1));
    assert_eq!(bucket_width(10.0), 0.1);
    assert_eq!(bucket_width(100.0), 1.0);
}
