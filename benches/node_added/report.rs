//! The report of `benches/node_added.rs` on stdout: one summary line per mode against the floors
//! (and `prewarmed` against `cold`), a table of every target and load, and the node's phases.

use super::load::Latencies;
use super::phases;
use super::Subject;

/// One line of the report on stdout.
pub fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub fn print(subjects: &[Subject], half_rate: f64) {
    let (floor, fresh) = (&subjects[0], &subjects[1]);
    let cold = subjects.iter().find(|subject| subject.name == "cold");
    for mode in &subjects[2..] {
        let half = if mode.half.count() == 0 {
            format!("{half_rate:.0}/s beyond its saturation")
        } else {
            format!(
                "{half_rate:.0}/s p50 {:+.2} ms p99 {:+.2} ms",
                mode.half.p(0.5) - floor.half.p(0.5),
                mode.half.p(0.99) - floor.half.p(0.99)
            )
        };
        say(format!(
            "{}: node-added paced JS p50 {:+.2} ms paired ({:+.2} between p50s), p99 {:+.2} ms; \
             Wasm over JS p50 {:+.2} ms paired (floor {:+.2} ms); {half}; saturation {:.0} % of \
             the floor's ({})",
            mode.name,
            mode.paced.paired_median(&floor.paced),
            mode.paced.p(0.5) - floor.paced.p(0.5),
            mode.paced.p(0.99) - floor.paced.p(0.99),
            mode.paced_wasm.paired_median(&mode.paced),
            floor.paced_wasm.paired_median(&floor.paced),
            100.0 * mode.rate() / floor.rate(),
            ratios(mode, floor),
        ));
        say(format!(
            "{}: over the 1-job floor: paced JS p50 {:+.2} ms paired ({:+.2} between p50s); \
             saturation {:.0} % of its ({})",
            mode.name,
            mode.paced.paired_median(&fresh.paced),
            mode.paced.p(0.5) - fresh.paced.p(0.5),
            100.0 * mode.rate() / fresh.rate(),
            ratios(mode, fresh),
        ));
        if let Some(cold) = cold.filter(|_| mode.name == "prewarmed") {
            say(format!(
                "prewarmed: saturation {:.0} % of cold's ({})",
                100.0 * mode.rate() / cold.rate(),
                ratios(mode, cold),
            ));
        }
    }
    say("\n| target | load | jobs | throughput | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |".into());
    for subject in subjects {
        say(row(&subject.name, "paced JS", &subject.paced));
        say(row(&subject.name, "paced Wasm", &subject.paced_wasm));
        let rates: Vec<String> = subject.rates.iter().map(|r| format!("{r:.0}")).collect();
        say(format!(
            "| {} | saturated | | {:.1}/s (rounds: {}) | | |",
            subject.name,
            subject.rate(),
            rates.join(", ")
        ));
        if subject.half.count() > 0 {
            say(row(
                &subject.name,
                &format!("{half_rate:.0}/s"),
                &subject.half,
            ));
        }
    }
    let mut columns = Vec::new();
    for mode in subjects.iter().filter(|subject| subject.phases[1].any()) {
        let loads = ["paced", "saturated", &format!("{half_rate:.0}/s")];
        for (load, phases) in loads.iter().zip(&mode.phases) {
            columns.push((format!("{}, {load}", mode.name), phases.clone()));
        }
    }
    say(format!("\n{}", phases::table(&columns)));
}

/// Round by round, this target's rate over the other's, in per cent.
fn ratios(subject: &Subject, baseline: &Subject) -> String {
    let ratios: Vec<String> = subject
        .rates
        .iter()
        .zip(&baseline.rates)
        .map(|(mine, theirs)| format!("{:.0} %", 100.0 * mine / theirs))
        .collect();
    format!("rounds: {}", ratios.join(", "))
}

fn row(target: &str, load: &str, latencies: &Latencies) -> String {
    format!(
        "| {target} | {load} | {} ({} failed) | | {:.2} | {:.2} |",
        latencies.count(),
        latencies.1,
        latencies.p(0.5),
        latencies.p(0.99)
    )
}
