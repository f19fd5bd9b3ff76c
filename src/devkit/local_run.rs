//! `run FILE`: one job in the node's own sandbox — the same `start_sandbox`, `WorkerdRunner`,
//! classification, output cap and retry policy as the node — with no chain and no key.
//!
//! Receives [`RunArgs`]; sends `RunInProcess` to the runner it starts, and stops it (and removes
//! its cgroups and job directory) before returning. The job's cgroup parent and job directory
//! are private to this process (`<cgroup_parent>-run-<pid>`, a temporary directory), so `run`
//! never touches a node's jobs on the same host. Code above the node's code cap (the calldata
//! decoder's bound) ends as outcome 2 without a run, as no upload of it decodes on a node.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::{Mode, RunArgs, SandboxArgs};
use super::{exit, read_file, DevkitError};
use crate::code::calldata::MAX_ARG_BYTES;
use crate::config::{ExecutionMode, LocalExecution};
use crate::domain::JobOutcome;
use crate::messages::jobs::RunInProcess;
use crate::system::{remove_job_files, start_sandbox, stop_sandbox};
use crate::workerd::process::ProcessJob;
use crate::workerd::retry::{after_run, Step, MAX_RUNS};

/// How a local run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome {
    /// An outcome, as the node would sign it.
    Ended {
        /// The outcome.
        outcome: JobOutcome,
        /// Its output (empty unless success).
        output: Vec<u8>,
        /// The user's execution time.
        user_time: Duration,
        /// The cgroup's peak memory, if the kernel reports it.
        peak_memory: Option<u64>,
    },
    /// The node's fault on every run: the node would sign nothing.
    NoOutcome(String),
}

/// Where the sandbox comes from: a config (or the defaults), a mode and a workerd.
#[derive(Debug, Clone)]
pub struct LocalSandbox {
    settings: LocalExecution,
}

impl LocalSandbox {
    /// The node's limits (or `config`'s), workerd from `workerd` or `PATH`, `mode` if given.
    pub fn new(sandbox: &SandboxArgs, mode: Option<Mode>) -> Result<Self, DevkitError> {
        let mut settings = LocalExecution::load(sandbox.config.as_deref())?;
        let execution = &mut settings.execution;
        execution.workerd = match &sandbox.workerd {
            Some(path) => path.clone(),
            None => on_path("workerd").ok_or_else(|| {
                DevkitError::Usage("workerd is not on PATH; give --workerd PATH".into())
            })?,
        };
        if let Some(mode) = mode {
            execution.mode = match mode {
                Mode::Cold => ExecutionMode::Cold,
                Mode::Prewarmed => ExecutionMode::Prewarmed,
                Mode::Isolate => ExecutionMode::Isolate,
            };
        }
        let private = format!("{}-run-{}", execution.cgroup_parent, std::process::id());
        execution.job_dir = std::env::temp_dir().join(&private);
        execution.cgroup_parent = private;
        // One job: one warm process is what the node would have ready for it.
        execution.warm_processes = 1;
        Ok(Self { settings })
    }

    /// The node's default budget (its direct-run deadline).
    pub fn default_budget(&self) -> Duration {
        self.settings.deadline
    }

    /// Runs one job: starts the sandbox, runs with the node's retry policy, stops it.
    pub async fn run(
        &self,
        code: Vec<u8>,
        input: Vec<u8>,
        budget: Duration,
    ) -> Result<LocalOutcome, DevkitError> {
        if code.len() > MAX_ARG_BYTES {
            // No upload of it decodes on a node (the calldata decoder's length bound): outcome 2.
            return Ok(LocalOutcome::Ended {
                outcome: JobOutcome::InvalidCalldata,
                output: Vec::new(),
                user_time: Duration::ZERO,
                peak_memory: None,
            });
        }
        let started = start_sandbox(&self.settings.execution, 1, &Default::default()).await;
        let (runner, cleanup) =
            started.inspect_err(|_| remove_job_files(&self.settings.execution.job_dir))?;
        let job = ProcessJob {
            name: "local-run".into(),
            code: Arc::from(code),
            input: Arc::from(input),
            budget,
            hard_stop: None,
        };
        let mut last_fault = String::new();
        let mut ended = None;
        for run in 1..=MAX_RUNS {
            let result = match runner.send(RunInProcess { job: job.clone() }).await {
                Ok(Ok(report)) => Ok(report),
                Ok(Err(error)) => Err(format!("workerd could not be run: {error}")),
                Err(_) => Err("runner stopped".into()),
            };
            match after_run(&job.name, run, result) {
                Step::Done {
                    outcome,
                    output,
                    user_time,
                    peak_memory,
                } => {
                    ended = Some(LocalOutcome::Ended {
                        outcome,
                        output,
                        user_time,
                        peak_memory,
                    });
                    break;
                }
                Step::Fault(reason) => last_fault = reason,
            }
        }
        stop_sandbox(&runner, &cleanup).await;
        cleanup.remove_parent();
        Ok(ended.unwrap_or(LocalOutcome::NoOutcome(last_fault)))
    }
}

/// `run FILE`: prints the output and a summary; the exit status tells the outcome.
pub async fn run(args: &RunArgs) -> Result<u8, DevkitError> {
    let code = read_file(&args.file)?;
    let input = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => read_file(path)?,
        (None, None) => Vec::new(),
    };
    let sandbox = SandboxArgs {
        config: args.config.clone(),
        workerd: args.workerd.clone(),
    };
    let sandbox = LocalSandbox::new(&sandbox, args.mode)?;
    let budget = args
        .deadline
        .map_or_else(|| sandbox.default_budget(), Duration::from_millis);
    let ended = sandbox.run(code, input, budget).await?;
    report(&ended, args.json).map_err(DevkitError::Write)?;
    Ok(match ended {
        LocalOutcome::Ended { outcome, .. } => exit::of_outcome(outcome),
        LocalOutcome::NoOutcome(_) => exit::NO_OUTCOME,
    })
}

/// Human: the output on stdout, one summary line on stderr. `--json`: one object on stdout.
fn report(ended: &LocalOutcome, json: bool) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    match ended {
        LocalOutcome::NoOutcome(reason) if json => {
            let value = serde_json::json!({ "outcome": null, "no_outcome": reason });
            writeln!(stdout, "{value}")
        }
        LocalOutcome::NoOutcome(reason) => {
            writeln!(stderr, "no outcome (the node would sign nothing): {reason}")
        }
        LocalOutcome::Ended {
            outcome,
            output,
            user_time,
            peak_memory,
        } => {
            if json {
                let text = std::str::from_utf8(output).ok();
                let value = serde_json::json!({
                    "outcome": outcome.error_code(),
                    "outcome_name": exit::outcome_name(*outcome),
                    "output": text,
                    "output_hex": format!("0x{}", hex::encode(output)),
                    "user_time_ms": user_time.as_millis() as u64,
                    "peak_memory_bytes": peak_memory,
                });
                return writeln!(stdout, "{value}");
            }
            stdout.write_all(output)?;
            stdout.flush()?;
            let peak = peak_memory.map_or_else(
                || "unknown".to_owned(),
                |bytes| format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
            );
            if output.last().is_some_and(|byte| *byte != b'\n') {
                writeln!(stderr)?;
            }
            writeln!(
                stderr,
                "outcome {} ({}), user time {} ms, peak memory {peak}",
                outcome.error_code(),
                exit::outcome_name(*outcome),
                user_time.as_millis()
            )
        }
    }
}

/// The first executable `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
