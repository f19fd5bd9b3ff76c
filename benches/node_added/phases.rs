//! The node's phase histogram (`executor_job_phase_seconds`) scraped from `/metrics`, the
//! difference between two scrapes, and its quantiles (interpolated within a bucket, as
//! Prometheus's `histogram_quantile` does).

use std::collections::BTreeMap;

/// Cumulative bucket counts by phase, then by upper bound.
#[derive(Default, Clone)]
pub struct Phases(BTreeMap<String, Vec<(f64, f64)>>);

pub async fn scrape(node: &super::common::TestNode) -> Phases {
    let (status, text) = node.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let mut phases = Phases::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("executor_job_phase_seconds_bucket{") else {
            continue;
        };
        let (labels, count) = rest.split_once("} ").unwrap();
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            let end = labels[start..].find('"').unwrap() + start;
            labels[start..end].to_owned()
        };
        let le = match label("le").as_str() {
            "+Inf" => f64::INFINITY,
            bound => bound.parse().unwrap(),
        };
        phases
            .0
            .entry(label("phase"))
            .or_default()
            .push((le, count.parse().unwrap()));
    }
    phases
}

impl Phases {
    pub fn since(&self, earlier: &Phases) -> Phases {
        let mut difference = self.clone();
        for (phase, buckets) in &mut difference.0 {
            if let Some(before) = earlier.0.get(phase) {
                for ((_, count), (_, old)) in buckets.iter_mut().zip(before) {
                    *count -= old;
                }
            }
        }
        difference
    }

    /// Whether any job was counted.
    pub fn any(&self) -> bool {
        self.0
            .values()
            .any(|buckets| buckets.last().is_some_and(|(_, n)| *n > 0.0))
    }

    /// Both counts together (windows of one node measured in several rounds).
    pub fn plus(&self, other: &Phases) -> Phases {
        let mut sum = self.clone();
        for (phase, buckets) in &other.0 {
            match sum.0.get_mut(phase) {
                Some(mine) => {
                    for ((_, count), (_, more)) in mine.iter_mut().zip(buckets) {
                        *count += more;
                    }
                }
                None => {
                    sum.0.insert(phase.clone(), buckets.clone());
                }
            }
        }
        sum
    }

    fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
        let total = buckets.last()?.1;
        if total == 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(bound, count) in buckets {
            if count >= rank {
                if bound.is_infinite() {
                    return Some(lower.0);
                }
                let share = (rank - lower.1) / (count - lower.1).max(1.0);
                return Some(lower.0 + (bound - lower.0) * share);
            }
            lower = (bound, count);
        }
        None
    }
}

/// A markdown table: one row per phase, p50/p99 in ms per column.
pub fn table(columns: &[(String, Phases)]) -> String {
    let mut names: Vec<&String> = columns.iter().flat_map(|(_, p)| p.0.keys()).collect();
    names.sort();
    names.dedup();
    let mut text = String::from("| phase |");
    for (title, _) in columns {
        text += &format!(" {title} p50 / p99 ms |");
    }
    text += "\n| --- |";
    text += &" --- |".repeat(columns.len());
    for name in names {
        text += &format!("\n| {name} |");
        for (_, phases) in columns {
            let cell = phases.0.get(name).and_then(|buckets| {
                Some((
                    Phases::quantile(buckets, 0.5)?,
                    Phases::quantile(buckets, 0.99)?,
                    buckets.last()?.1,
                ))
            });
            text += &match cell {
                Some((p50, p99, n)) => format!(" {:.2} / {:.2} (n={n}) |", p50 * 1e3, p99 * 1e3),
                None => " – |".into(),
            };
        }
    }
    text
}
