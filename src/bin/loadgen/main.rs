//! `loadgen`: puts load on a serverless-executor node and measures it the way wrk2 and oha
//! `--latency-correction` do: an open loop at a target rate timed from each request's scheduled
//! send (free of coordinated omission), or a closed loop with N in flight; HdrHistogram
//! percentiles, throughput and an error breakdown, written as JSON with two SVG plots.
//!
//! # Layout
//! - [`cli`]: flags, validated into a [`load::Plan`].
//! - [`workloads`]: the JavaScript jobs (trivial, cpu, memory, large-output) and their checks.
//! - [`load`]: the open and closed loops, generic over a [`load::Target`].
//! - [`direct`]: the `POST /api/serverless` target.
//! - [`burst`]: N jobs in one block against the same N direct runs, in one run; [`phases`]:
//!   the node's phase means over them.
//! - [`chain`]: the `Jobs.createJob` → `JobResponded` target; [`watcher`] matches the answers.
//! - [`contracts`]: the user's side of the chain (client, deployment, code upload, fees).
//! - [`recorder`]: histograms, counts and raw points; [`report`]: the JSON and the summary;
//!   [`plots`]: the SVG files; [`progress`]: the bar.

mod burst;
mod chain;
mod cli;
mod contracts;
mod direct;
mod load;
mod phases;
mod plots;
mod progress;
mod recorder;
mod report;
mod watcher;
mod workloads;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tracing::{error, info, warn};

use crate::cli::{Cli, LoadArgs, Mode};
use crate::load::{Plan, Target};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::{Plots, Report, RunConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    serverless_executor::telemetry::init_for_tool("info");
    // One thread: the generator stays cheap next to the node it measures on a small machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => Err(error).context("starting the async runtime"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.mode {
        Mode::Direct(args) => {
            let plan = args.load.plan()?;
            let (target, config) = direct::setup(&args, &plan)
                .await
                .context("setting up direct mode")?;
            measure(&args.load, &plan, target, config).await
        }
        Mode::Chain(args) => {
            let plan = args.load.plan()?;
            let (target, config) = chain::setup(&args, &plan)
                .await
                .context("setting up chain mode")?;
            measure(&args.load, &plan, target, config).await
        }
        Mode::Burst(args) => burst::run(&args).await.context("measuring a burst"),
    }
}

/// Runs the plan, then writes the report, the plots and the summary.
async fn measure<T: Target>(
    load: &LoadArgs,
    plan: &Plan,
    target: Arc<T>,
    config: RunConfig,
) -> anyhow::Result<()> {
    let out = load.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "results/{}-{}.json",
            config.mode,
            config.workload.name()
        ))
    });
    info!(mode = config.mode, workload = config.workload.name(), loop_kind = ?plan.kind, "Load started.");
    let mut recorder = Recorder::new();
    let mut progress = Progress::new(plan, load.no_progress);
    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = tokio::spawn(stop_on_ctrl_c(stop.clone()));
    load::run(plan, target, stop, |sample| {
        recorder.record(&sample);
        progress.update(&recorder);
    })
    .await;
    interrupt.abort();
    progress.finish();

    let (over_time, distribution) = plots::paths(&out);
    let plots = Plots {
        latency_over_time: file_name(&over_time),
        latency_distribution: file_name(&distribution),
    };
    let title = format!(
        "{} · {} · {}",
        config.mode,
        config.workload.name(),
        match plan.kind {
            load::LoopKind::Open { rate, .. } => format!("open loop {rate}/s"),
            load::LoopKind::Closed { concurrency } => format!("closed loop ×{concurrency}"),
        }
    );
    let report = Report::new(config, &recorder, plan, plots);
    report.write(&out)?;
    plots::latency_over_time(
        &over_time,
        &format!("latency over time · {title}"),
        &recorder,
        &report.time_series,
        report.time_series_bucket_s,
    )?;
    plots::latency_distribution(
        &distribution,
        &format!("latency distribution · {title}"),
        &recorder.latency,
    )?;
    info!(report = %out.display(), "Report written.");
    report
        .summary(&mut std::io::stdout().lock())
        .context("writing the summary")?;
    std::io::stdout().flush().context("writing the summary")
}

/// Ctrl-C stops sending; requests in flight finish and the report is written as usual.
async fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        warn!("Interrupted: no new requests; waiting for those in flight.");
        stop.store(true, Ordering::Relaxed);
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
