//! Per-job overhead of the whole pipeline around workerd, against a bare workerd start measured
//! in the same run.
//!
//! `direct_run_cached_code/<mode>`: POST /api/serverless on a real node in each execution mode
//! (cgroup, sandbox launcher, network namespace, port lease, workerd or a warm process,
//! classification, receipt signature), code cached. `direct_run_wasm/<mode>`: the same echo
//! job as a raw WASI command (our shim, a module compiled by workerd), to compare with JS.
//! `bare_workerd_start`: spawn workerd on a pre-bound socket, POST, read, kill, reap: the floor.
//! The difference is the node's overhead. `wasm_over_js/<mode>` (printed, not criterion):
//! JS and Wasm jobs sent alternately to one node, the issue's "Wasm over JS" measure: the
//! median of each pair's difference (and the difference of the p50s).
//! Jobs are paced (an unmeasured pause before each), so
//! every mode is measured at low load. The warm modes' floor (a bare warm workerd serving our
//! loader), saturation and percentiles are in `benches/node_added.rs`. Needs root,
//! `scripts/setup.sh` and a free CPU.

#![allow(missing_docs, clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

/// Idle time before each measured job.
const PACING: Duration = Duration::from_millis(60);

const ECHO: &str = "export default { async fetch(r) { return new Response(await r.text()); } };";

/// The echo job as a WASI command: one `fd_read` of stdin, one `fd_write` of what it read.
const ECHO_WAT: &str = include_str!("echo.wat");

fn pipeline(c: &mut Criterion) {
    common::log_as_operators_do();
    let runtime = actix_rt_runtime();
    let chain = runtime.block_on(common::TestChain::start());
    let tx = runtime.block_on(common::contracts::upload_code(
        &chain,
        common::STRANGER_KEY,
        ECHO.as_bytes(),
    ));
    let wasm_tx = runtime.block_on(common::contracts::upload_code(
        &chain,
        common::STRANGER_KEY,
        &wat::parse_str(ECHO_WAT).unwrap(),
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut group = c.benchmark_group("per_job");
    group.sample_size(30);
    // `*_without_jail`: every optional jail layer off (cgroups and the network namespace stay),
    // the baseline of the jail's cost on the critical path; JS only.
    for (label, mode, without_jail) in [
        ("cold", "cold", false),
        ("cold_without_jail", "cold", true),
        ("prewarmed", "prewarmed", false),
        ("prewarmed_without_jail", "prewarmed", true),
        ("isolate", "isolate", false),
    ] {
        let options = common::NodeOptions {
            execution_mode: Some(mode),
            without_jail,
            ..common::NodeOptions::default()
        };
        let node = runtime.block_on(common::TestNode::start(&chain, options));
        if !without_jail {
            runtime.block_on(wasm_over_js(&client, &node, &tx, &wasm_tx, label));
        }
        let forms = [
            ("direct_run_cached_code", &tx),
            ("direct_run_wasm", &wasm_tx),
        ];
        let forms = if without_jail {
            &forms[..1]
        } else {
            &forms[..]
        };
        for &(name, tx) in forms {
            group.bench_function(format!("{name}/{label}"), |b| {
                b.to_async(&runtime).iter_custom(|iterations| {
                    let client = client.clone();
                    let url = node.url("/api/serverless");
                    let tx = tx.clone();
                    async move {
                        let mut measured = Duration::ZERO;
                        for _ in 0..iterations {
                            measured += paced_echo(&client, &url, &tx).await;
                        }
                        measured
                    }
                });
            });
        }
        drop(node);
    }
    let dir = tempfile::tempdir().unwrap();
    write_bare_worker(dir.path());
    group.bench_function("bare_workerd_start", |b| {
        b.to_async(&runtime)
            .iter(|| bare_workerd_job(dir.path(), &client));
    });
    group.finish();
    drop(chain);
}

/// One echo job after an unmeasured pause, checked (outcome 0, output `ping`); returns its
/// time. The pause leaves the node idle when a job arrives, as at low load, so warm modes have
/// their process ready (their start is off the critical path, which is the point of them).
async fn paced_echo(client: &reqwest::Client, url: &str, tx: &str) -> Duration {
    tokio::time::sleep(PACING).await;
    let started = tokio::time::Instant::now();
    let response = client
        .post(url)
        .json(&json!({"tx_hash": tx, "input": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-executor-error-code"], "0");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"ping");
    started.elapsed()
}

/// Paced jobs per form in [`wasm_over_js`] under `cargo bench` (60, or `WASM_OVER_JS_PAIRS`:
/// `cold`'s 40 ms jobs spread wide enough to need ~150); `cargo test --all-targets` (no
/// `--bench`, criterion's test mode) runs one pair, enough to prove the code works.
fn pairs() -> usize {
    if !common::under_cargo_bench() {
        return 1;
    }
    std::env::var("WASM_OVER_JS_PAIRS")
        .ok()
        .and_then(|pairs| pairs.parse().ok())
        .filter(|&pairs| pairs > 0)
        .unwrap_or(60)
}

/// The issue's measure for Wasm, p50 over JavaScript: JS and Wasm jobs alternate on one node, so
/// both forms meet the same machine (criterion measures them one after the other, minutes
/// apart, and reports means, which a few slow jobs move). Prints one line per mode.
async fn wasm_over_js(
    client: &reqwest::Client,
    node: &common::TestNode,
    js_tx: &str,
    wasm_tx: &str,
    mode: &str,
) {
    let url = node.url("/api/serverless");
    let pairs = pairs();
    let mut times = [Vec::with_capacity(pairs), Vec::with_capacity(pairs)];
    // Two unmeasured pairs first: each form's first job on a node fetches its code.
    for round in 0..pairs + 2 {
        for (form, tx) in [js_tx, wasm_tx].into_iter().enumerate() {
            let took = paced_echo(client, &url, tx).await;
            if round >= 2 {
                times[form].push(took.as_secs_f64() * 1000.0);
            }
        }
    }
    // The median of each pair's difference, next to the difference of the medians: a pair's
    // two jobs ran back to back, so the machine's drift cancels out of it.
    let paired = common::paired_median(&times[1], &times[0]);
    let [js, wasm] = times.map(|mut samples| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    });
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout().lock(),
        "wasm_over_js/{mode}: p50 JS {js:.2} ms, Wasm {wasm:.2} ms, Wasm - JS {paired:+.2} ms paired \
         ({:+.2} between p50s; {pairs} alternating pairs)",
        wasm - js
    );
}

fn actix_rt_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn write_bare_worker(dir: &std::path::Path) {
    std::fs::write(dir.join("user.js"), ECHO).unwrap();
    std::fs::write(
        dir.join("config.capnp"),
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", service = "main", http = ()) ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "user.js", esModule = embed "user.js") ],
  compatibilityDate = "2023-03-07",
);
"#,
    )
    .unwrap();
}

async fn bare_workerd_job(dir: &std::path::Path, client: &reqwest::Client) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut command = tokio::process::Command::new(common::tool("workerd"));
    command
        .args(["serve", "config.capnp", "--socket-fd", "http=3"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let fd: OwnedFd = listener.into();
    command
        .fd_mappings(vec![FdMapping {
            parent_fd: fd,
            child_fd: 3,
        }])
        .unwrap();
    let mut child = command.spawn().unwrap();
    drop(command);
    let response = client
        .post(format!("http://127.0.0.1:{port}/"))
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"ping");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
