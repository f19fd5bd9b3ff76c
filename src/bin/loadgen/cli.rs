//! The command line: which mode (direct route or chain), which workload, which loop (open at a
//! rate or closed with N in flight) and the limits, parsed into a validated [`Plan`].
//!
//! Owns argument parsing and validation only; nothing here talks to the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ethers::types::{Address, H256};

use crate::load::{LoopKind, Plan};
use crate::workloads::Workload;

/// Load generator for serverless-executor: open or closed loop, free of coordinated omission.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) mode: Mode,
}

/// Where the load goes.
#[derive(Debug, Subcommand)]
pub(crate) enum Mode {
    /// POST /api/serverless on a node; latency = scheduled send → response.
    Direct(DirectArgs),
    /// createJob on Jobs; latency = createJob receipt → JobResponded for that job.
    Chain(ChainArgs),
    /// N jobs created in one block vs the same N jobs run at once through the direct route.
    Burst(BurstArgs),
}

/// `loadgen burst`.
#[derive(Debug, Args)]
pub(crate) struct BurstArgs {
    /// The node's base URL, for the direct runs, e.g. http://127.0.0.1:6001.
    #[arg(long)]
    pub(crate) node_url: url::Url,
    /// Jobs per burst (at most the node's free chain slots and direct_run_capacity).
    #[arg(long, default_value_t = 20)]
    pub(crate) size: usize,
    /// Measured rounds (each: one direct burst, one chain burst), after one warm-up round.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
}

/// `loadgen direct`.
#[derive(Debug, Args)]
pub(crate) struct DirectArgs {
    /// The node's base URL, e.g. http://127.0.0.1:6001.
    #[arg(long)]
    pub(crate) node_url: url::Url,
    /// A code transaction already on the node's chain; without it the workload's code is uploaded
    /// through the code contract (needs --rpc-url, --key and the code contract address).
    #[arg(long)]
    pub(crate) code_tx: Option<H256>,
    #[command(flatten)]
    pub(crate) chain: ChainAccess,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}

/// `loadgen chain`.
#[derive(Debug, Args)]
pub(crate) struct ChainArgs {
    /// Websocket JSON-RPC URL for the JobResponded subscription (default: --rpc-url with ws://).
    #[arg(long)]
    pub(crate) ws_url: Option<url::Url>,
    /// The Jobs contract (default: from --deployment).
    #[arg(long)]
    pub(crate) jobs: Option<Address>,
    /// The fee token Jobs charges (default: `usdc` from --deployment).
    #[arg(long)]
    pub(crate) fee_token: Option<Address>,
    /// A code transaction to run; without it the workload's code is uploaded first.
    #[arg(long)]
    pub(crate) code_tx: Option<H256>,
    /// The job's deadline passed to createJob, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub(crate) job_deadline_ms: u64,
    /// Execution environment id passed to createJob.
    #[arg(long, default_value_t = 1)]
    pub(crate) env: u8,
    #[command(flatten)]
    pub(crate) chain: ChainAccess,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}

/// How to reach the chain and pay for transactions.
#[derive(Debug, Args)]
pub(crate) struct ChainAccess {
    /// HTTP JSON-RPC URL of the chain the node uses (a local anvil).
    #[arg(long)]
    pub(crate) rpc_url: Option<url::Url>,
    /// The JSON printed by scripts/deploy-contracts.sh (addresses of Jobs, the code contract…).
    #[arg(long)]
    pub(crate) deployment: Option<PathBuf>,
    /// The code contract (default: from --deployment).
    #[arg(long)]
    pub(crate) code_contract: Option<Address>,
    /// A funded private key (0x + 64 hex) that uploads code and creates jobs. Local chains only.
    #[arg(long)]
    pub(crate) key: Option<String>,
}

/// What to send, how and for how long; shared by both modes.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The job every request runs.
    #[arg(long, value_enum, default_value_t = Workload::Trivial)]
    pub(crate) workload: Workload,
    /// Open loop: requests per second, each timed from its scheduled send time.
    #[arg(long, group = "loop_kind")]
    pub(crate) rate: Option<f64>,
    /// Closed loop: this many requests in flight, each sent when the previous one answered.
    #[arg(long, group = "loop_kind")]
    pub(crate) concurrency: Option<usize>,
    /// Measured phase length, e.g. 10s, 500ms, 2m (default 10s unless --requests is given).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long)]
    pub(crate) requests: Option<u64>,
    /// Warm-up before measuring; its requests are sent but left out of the stats.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub(crate) warmup: Duration,
    /// Give up on one request after this long (counted as a `timeout` error).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub(crate) timeout: Duration,
    /// Open loop only: most requests in flight; beyond it sends wait, and the wait counts as latency.
    #[arg(long, default_value_t = 4096)]
    pub(crate) max_in_flight: usize,
    /// Report file; the two SVG plots are written next to it.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Never draw the progress bar (it is also hidden off a terminal and when CI is set).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

/// A command-line combination that cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum CliError {
    #[error("give exactly one of --rate (open loop) or --concurrency (closed loop)")]
    NoLoop,
    #[error("--rate must be a positive number of requests per second, got {0}")]
    BadRate(f64),
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
}

impl LoadArgs {
    /// The validated run plan.
    pub(crate) fn plan(&self) -> Result<Plan, CliError> {
        let kind = match (self.rate, self.concurrency) {
            (Some(rate), None) if rate.is_finite() && rate > 0.0 => LoopKind::Open {
                rate,
                max_in_flight: nonzero(self.max_in_flight, "max-in-flight")?,
            },
            (Some(rate), None) => return Err(CliError::BadRate(rate)),
            (None, Some(concurrency)) => LoopKind::Closed {
                concurrency: nonzero(concurrency, "concurrency")?,
            },
            _ => return Err(CliError::NoLoop),
        };
        if self.requests == Some(0) {
            return Err(CliError::Zero("requests"));
        }
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(Duration::from_secs(10)),
            (duration, _) => duration,
        };
        Ok(Plan {
            kind,
            warmup: self.warmup,
            duration,
            requests: self.requests,
            timeout: self.timeout,
        })
    }
}

fn nonzero(value: usize, name: &'static str) -> Result<usize, CliError> {
    if value == 0 {
        Err(CliError::Zero(name))
    } else {
        Ok(value)
    }
}

/// `250ms`, `10s`, `1.5s`, `2m`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit `{other}` in `{text}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("`{text}`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    fn load(args: &[&str]) -> LoadArgs {
        let mut argv = vec!["loadgen", "direct", "--node-url", "http://127.0.0.1:1"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().mode {
            Mode::Direct(direct) => direct.load,
            Mode::Chain(_) | Mode::Burst(_) => unreachable!("parsed as direct"),
        }
    }

    #[test]
    fn a_loop_kind_is_required_and_exclusive() {
        assert_eq!(load(&[]).plan().unwrap_err(), CliError::NoLoop);
        let argv = [
            "loadgen",
            "direct",
            "--node-url",
            "http://127.0.0.1:1",
            "--rate",
            "5",
            "--concurrency",
            "2",
        ];
        assert!(Cli::try_parse_from(argv).is_err());
        assert_eq!(
            load(&["--rate", "0"]).plan().unwrap_err(),
            CliError::BadRate(0.0)
        );
    }

    #[test]
    fn duration_defaults_to_ten_seconds_unless_a_count_is_given() {
        let plan = load(&["--concurrency", "4"]).plan().unwrap();
        assert_eq!(plan.duration, Some(Duration::from_secs(10)));
        let plan = load(&["--concurrency", "4", "--requests", "7"])
            .plan()
            .unwrap();
        assert_eq!((plan.duration, plan.requests), (None, Some(7)));
    }

    #[test]
    fn a_burst_defaults_to_twenty_jobs_and_three_rounds() {
        let argv = ["loadgen", "burst", "--node-url", "http://127.0.0.1:1"];
        let Mode::Burst(burst) = Cli::try_parse_from(argv).unwrap().mode else {
            unreachable!("parsed as burst")
        };
        assert_eq!((burst.size, burst.rounds), (20, 3));
    }
}
