//! `serverless-executor run`: the examples run in the node's own sandbox (real workerd, real
//! cgroups) with no config file, in every mode; outcomes map to their documented exit statuses;
//! a host where jobs cannot be contained, or a bad limit, is refused in one line.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{repo, tool};

const BIN: &str = env!("CARGO_BIN_EXE_serverless-executor");

fn run(args: &[&str]) -> Output {
    let example = |name: &str| repo().join("examples").join(name);
    let args: Vec<String> = args
        .iter()
        .map(|arg| match arg.strip_prefix("example:") {
            Some(name) => example(name).display().to_string(),
            None => (*arg).to_owned(),
        })
        .collect();
    Command::new(BIN)
        .arg("run")
        .args(&args)
        .arg("--workerd")
        .arg(tool("workerd"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn examples_run_with_the_nodes_outcomes_and_exit_statuses_in_every_mode() {
    for mode in ["cold", "prewarmed", "isolate"] {
        let square = run(&["example:square.js", "--input", "12", "--mode", mode]);
        assert_eq!(square.status.code(), Some(0), "{mode}: {square:?}");
        assert_eq!(square.stdout, b"144", "{mode}: only the output on stdout");
        let summary = String::from_utf8_lossy(&square.stderr);
        assert!(
            summary.contains("outcome 0 (success)") && summary.contains("peak memory"),
            "{mode}: {summary}"
        );

        let json = run(&[
            "example:json.js",
            "--input",
            r#"{"numbers":[3,1,4]}"#,
            "--mode",
            mode,
            "--json",
        ]);
        assert_eq!(json.status.code(), Some(0), "{mode}: {json:?}");
        let report = json_of(&json);
        assert_eq!(report["outcome"], 0);
        assert_eq!(report["output"], r#"{"count":3,"sum":8,"max":4}"#);
        assert!(
            report["peak_memory_bytes"].as_u64().unwrap() > 0,
            "{report}"
        );

        let error = run(&["example:error.js", "--input=-1", "--mode", mode, "--json"]);
        assert_eq!(error.status.code(), Some(17), "{mode}: outcome 7 exits 17");
        assert_eq!(json_of(&error)["outcome"], 7);
    }
}

#[test]
fn timeouts_and_oversized_outputs_get_their_own_status() {
    let dir = tempfile::tempdir().unwrap();
    let looping = dir.path().join("loop.js");
    std::fs::write(
        &looping,
        "export default { async fetch() { for (;;) {} } };",
    )
    .unwrap();
    let looping = looping.to_str().unwrap();
    let timeout = run(&[looping, "--deadline", "300", "--json"]);
    assert_eq!(timeout.status.code(), Some(14), "outcome 4 exits 14");
    assert_eq!(json_of(&timeout)["user_time_ms"], 300);

    // The node's output cap, from a config file with execution keys only.
    let config = dir.path().join("run.toml");
    std::fs::write(&config, "max_output_bytes = 4\n").unwrap();
    let config = config.to_str().unwrap();
    let large = run(&["example:square.js", "--input", "1000", "--config", config]);
    assert_eq!(
        large.status.code(),
        Some(15),
        "outcome 5 exits 15: {large:?}"
    );
}

#[test]
fn an_uncontainable_host_or_a_bad_limit_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("cgroup_root = \"/nonexistent\"\n", "cannot contain jobs"),
        ("job_memory_limit_mib = 2\n", "job_memory_limit_mib"),
    ];
    for (text, needle) in cases {
        let config = dir.path().join("run.toml");
        std::fs::write(&config, text).unwrap();
        let output = run(&["example:square.js", "--config", config.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].contains(needle), "{stderr}");
    }
}
