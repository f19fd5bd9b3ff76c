//! The node's own account of where a burst's time went: `executor_job_phase_seconds` read from
//! its `/metrics` before and after the measured rounds, as the mean of each phase over the jobs
//! in between (direct and chain together; `Submission` is chain only).
//!
//! Owns nothing; one GET per scrape. A node without `/metrics` (or an unreadable answer) just
//! leaves the table out of the report.

use std::collections::BTreeMap;

use serde::Serialize;

/// Sum (seconds) and count of every phase, by its label.
#[derive(Debug, Default, Clone)]
pub(crate) struct PhaseTotals(BTreeMap<String, (f64, f64)>);

/// One phase over the measured rounds.
#[derive(Debug, Serialize)]
pub(crate) struct PhaseMean {
    pub(crate) phase: String,
    pub(crate) count: u64,
    pub(crate) mean_ms: f64,
}

/// Reads the phase histogram's sums and counts from `node_url`'s `/metrics`.
pub(crate) async fn scrape(client: &reqwest::Client, node_url: &url::Url) -> Option<PhaseTotals> {
    let url = node_url.join("/metrics").ok()?;
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(parse(&response.text().await.ok()?))
}

fn parse(text: &str) -> PhaseTotals {
    let mut totals = BTreeMap::<String, (f64, f64)>::new();
    for line in text.lines() {
        let (kind, rest) = if let Some(rest) = line.strip_prefix("executor_job_phase_seconds_sum{")
        {
            (0, rest)
        } else if let Some(rest) = line.strip_prefix("executor_job_phase_seconds_count{") {
            (1, rest)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(phase) = labels
            .split(',')
            .find_map(|label| label.strip_prefix("phase=\""))
            .and_then(|phase| phase.strip_suffix('"'))
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let entry = totals.entry(phase.to_owned()).or_default();
        if kind == 0 {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }
    PhaseTotals(totals)
}

/// The mean of each phase observed between `before` and `after`.
pub(crate) fn means(before: &PhaseTotals, after: &PhaseTotals) -> Vec<PhaseMean> {
    after
        .0
        .iter()
        .filter_map(|(phase, (sum, count))| {
            let (sum0, count0) = before.0.get(phase).copied().unwrap_or_default();
            let count = count - count0;
            (count >= 1.0).then(|| PhaseMean {
                phase: phase.clone(),
                // Counts are whole numbers well below 2^53.
                count: count.round() as u64,
                mean_ms: (sum - sum0) / count * 1000.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_taken_over_the_jobs_between_two_scrapes() {
        let before = parse(
            "executor_job_phase_seconds_sum{phase=\"submission\"} 1.0\n\
             executor_job_phase_seconds_count{phase=\"submission\"} 10\n",
        );
        let after = parse(
            "executor_job_phase_seconds_sum{phase=\"submission\"} 1.5\n\
             executor_job_phase_seconds_count{phase=\"submission\"} 30\n\
             executor_job_phase_seconds_sum{phase=\"slot_wait\"} 0.002\n\
             executor_job_phase_seconds_count{phase=\"slot_wait\"} 2\n\
             executor_job_phase_seconds_bucket{le=\"0.1\",phase=\"slot_wait\"} 2\n",
        );
        let means = means(&before, &after);
        assert_eq!(means.len(), 2);
        assert_eq!(means[0].phase, "slot_wait");
        assert!((means[0].mean_ms - 1.0).abs() < 1e-9);
        assert_eq!(means[1].count, 20);
        assert!((means[1].mean_ms - 25.0).abs() < 1e-9);
    }
}
