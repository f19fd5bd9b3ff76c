//! `serverless-executor run`: the examples run in the node's own sandbox (real workerd, real
//! cgroups) with no config file, in every mode; outcomes map to their documented exit statuses;
//! a host where jobs cannot be contained, or a bad limit, is refused in one line.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output, Stdio};

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
    let child = Command::new(BIN)
        .arg("run")
        .args(&args)
        .arg("--workerd")
        .arg(tool("workerd"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert_nothing_left(pid, &output);
    output
}

/// A `run` removes its one-off cgroup parent (in every hierarchy), job directory and jail files:
/// a start still under way when it ended used to create a cgroup after the cleanup, and the jail
/// files were never removed.
fn assert_nothing_left(pid: u32, output: &Output) {
    let name = format!("serverless-executor-run-{pid}");
    let cgroups = std::fs::read_dir("/sys/fs/cgroup").unwrap();
    let mut left: Vec<_> = cgroups
        .filter_map(|hierarchy| Some(hierarchy.ok()?.path().join(&name)))
        .chain([
            std::env::temp_dir().join(&name),
            std::env::temp_dir().join(format!("{name}.jail")),
        ])
        .filter(|path| path.exists())
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "left behind: {left:?}; stderr {}",
        String::from_utf8_lossy(&output.stderr)
    );
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

/// A module one byte over the node's code cap (4 MiB), made by `wat` plus a custom section:
/// `run` gives the node's outcome for it (2: no upload of it decodes) and `code upload` refuses
/// it before it talks to any chain (the RPC URL is a closed port).
#[test]
fn a_module_over_the_code_cap_is_outcome_2_and_never_uploaded() {
    let cap = serverless_executor::code::calldata::MAX_ARG_BYTES;
    let mut module =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
            .unwrap();
    // A custom section (id 0): its size as a 5-byte LEB128, a one-byte name, then padding.
    let mut size = cap + 1 - module.len() - 6;
    module.push(0);
    for i in 0..5 {
        let more = if i < 4 { 0x80 } else { 0 };
        module.push((size & 0x7f) as u8 | more);
        size >>= 7;
    }
    module.extend([1, b'x']);
    module.resize(cap + 1, 0);
    assert!(module.starts_with(b"\0asm") && module.len() == cap + 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("over_cap.wasm");
    std::fs::write(&file, &module).unwrap();
    let file = file.to_str().unwrap();

    let ran = run(&[file, "--json"]);
    assert_eq!(ran.status.code(), Some(12), "outcome 2 exits 12: {ran:?}");
    assert_eq!(json_of(&ran)["outcome"], 2);

    let key = dir.path().join("key");
    std::fs::write(&key, format!("0x{}\n", "11".repeat(32))).unwrap();
    let upload = Command::new(BIN)
        .args(["code", "upload", file, "--rpc", "http://127.0.0.1:9"])
        .args(["--code-contract", &format!("0x{}", "22".repeat(20))])
        .args(["--key-file", key.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(upload.status.code(), Some(1), "{upload:?}");
    let stderr = String::from_utf8_lossy(&upload.stderr);
    assert!(stderr.contains("nodes accept at most"), "{stderr}");
    assert!(upload.stdout.is_empty(), "no transaction hash");
}

/// `run` tells code forms apart as the node does: a WASI command (hand-written with `wat`)
/// prints what it writes to stdout, and a trap is outcome 7.
#[test]
fn a_wasi_module_runs_as_on_the_node() {
    let hello = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "hi")
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let trap = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, wat::parse_str(text).unwrap()).unwrap();
        path.display().to_string()
    };
    let hello = run(&[&write("hello.wasm", hello), "--json"]);
    assert_eq!(hello.status.code(), Some(0), "{hello:?}");
    assert_eq!(json_of(&hello)["output"], "hi");
    let trapped = run(&[&write("trap.wasm", trap), "--json"]);
    assert_eq!(trapped.status.code(), Some(17), "{trapped:?}");
}
