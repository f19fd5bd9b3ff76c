//! The two SVG plots of a run: latency over time (every measured request at its scheduled send
//! time, errors in red, the per-bucket p50 and p99) and the latency distribution as a percentile
//! plot (latency against 1/(1 − q) on a log axis, HdrHistogram's classic view).
//!
//! Owns the drawing; reads the [`Recorder`] and the report's time series.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::recorder::{Point, Recorder};
use crate::report::Bucket;

/// Most markers drawn in the latency-over-time plot; beyond it, every k-th point is drawn.
const MAX_MARKERS: usize = 20_000;
const SIZE: (u32, u32) = (1000, 520);

/// Drawing a plot failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlotError {
    #[error("cannot draw {path}")]
    Draw {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The two plot paths next to `report`: `<stem>.latency-over-time.svg` and
/// `<stem>.latency-distribution.svg`.
pub(crate) fn paths(report: &Path) -> (PathBuf, PathBuf) {
    let stem = report
        .file_stem()
        .map_or_else(|| "loadgen".into(), |stem| stem.to_string_lossy());
    (
        report.with_file_name(format!("{stem}.latency-over-time.svg")),
        report.with_file_name(format!("{stem}.latency-distribution.svg")),
    )
}

/// Draws latency over time.
pub(crate) fn latency_over_time(
    path: &Path,
    title: &str,
    recorder: &Recorder,
    series: &[Bucket],
    bucket_s: f64,
) -> Result<(), PlotError> {
    draw_over_time(path, title, &recorder.points, series, bucket_s).map_err(|source| {
        PlotError::Draw {
            path: path.to_owned(),
            source,
        }
    })
}

/// Draws the percentile distribution of the answered requests.
pub(crate) fn latency_distribution(
    path: &Path,
    title: &str,
    histogram: &Histogram<u64>,
) -> Result<(), PlotError> {
    draw_distribution(path, title, histogram).map_err(|source| PlotError::Draw {
        path: path.to_owned(),
        source,
    })
}

type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn draw_over_time(
    path: &Path,
    title: &str,
    points: &[Point],
    series: &[Bucket],
    bucket_s: f64,
) -> DrawResult {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = points.iter().map(|p| p.at_s).fold(0.0, f64::max).max(0.1) * 1.02;
    let y_max = points
        .iter()
        .map(|p| p.latency_ms)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("scheduled send (s since start)")
        .y_desc("latency (ms)")
        .draw()?;
    let step = points.len().div_ceil(MAX_MARKERS).max(1);
    let shown = || points.iter().step_by(step);
    chart
        .draw_series(
            shown()
                .filter(|p| p.ok)
                .map(|p| Circle::new((p.at_s, p.latency_ms), 2, BLUE.mix(0.35).filled())),
        )?
        .label("request")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    chart
        .draw_series(
            shown()
                .filter(|p| !p.ok)
                .map(|p| Cross::new((p.at_s, p.latency_ms), 3, RED.stroke_width(1))),
        )?
        .label("error")
        .legend(|(x, y)| Cross::new((x + 10, y), 3, RED.stroke_width(1)));
    let middle = |bucket: &Bucket| bucket.start_s + bucket_s / 2.0;
    for (label, color, value) in [
        (
            "p50 per bucket",
            BLACK,
            (|b: &Bucket| b.p50_ms) as fn(&Bucket) -> f64,
        ),
        ("p99 per bucket", MAGENTA, |b: &Bucket| b.p99_ms),
    ] {
        chart
            .draw_series(LineSeries::new(
                series.iter().map(|b| (middle(b), value(b))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    draw_legend(&mut chart)?;
    root.present()?;
    Ok(())
}

fn draw_distribution(path: &Path, title: &str, histogram: &Histogram<u64>) -> DrawResult {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    // x = 1 / (1 − q): 1 at the median's left end, 10 at p90, 100 at p99, …; the last point
    // (q = 1) sits one decade past the count, where the max is drawn.
    let count = histogram.len().max(1) as f64;
    let x_max = 10f64.powf(count.log10().ceil() + 1.0).max(100.0);
    let curve: Vec<(f64, f64)> = histogram
        .iter_quantiles(5)
        .map(|step| {
            let q = step.quantile_iterated_to();
            let x = if q >= 1.0 {
                x_max
            } else {
                (1.0 / (1.0 - q)).min(x_max)
            };
            (x, step.value_iterated_to() as f64 / 1000.0)
        })
        .collect();
    let y_max = histogram.max() as f64 / 1000.0 * 1.05 + 0.001;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        // The last tick label (e.g. "99.99%") is centred on the right edge.
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((1.0..x_max).log_scale(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| percentile_label(*x))
        .draw()?;
    chart
        .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))?
        .label(format!("{} answered requests", histogram.len()))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    draw_legend(&mut chart)?;
    root.present()?;
    Ok(())
}

/// The series legend, the same on every plot: top left, on a translucent white box.
fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// `x = 1 / (1 − q)` as a percentile: 1 → "0%", 10 → "90%", 1000 → "99.9%".
fn percentile_label(x: f64) -> String {
    let percent = 100.0 * (1.0 - 1.0 / x);
    let text = format!("{percent:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_read_as_nines() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
    }

    #[test]
    fn plot_files_sit_next_to_the_report() {
        let (over_time, distribution) = paths(Path::new("results/run.json"));
        assert_eq!(over_time, Path::new("results/run.latency-over-time.svg"));
        assert_eq!(
            distribution,
            Path::new("results/run.latency-distribution.svg")
        );
    }
}
