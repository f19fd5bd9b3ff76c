//! What an operator watches: the alert rules pass their promtool unit tests, a real Prometheus
//! scrapes a real node (on its own `metrics_bind_address` listener) and finds the job counter
//! and a phase histogram, the node's `log_format = "json"` lines are JSON, and every metric the
//! Grafana dashboard and the alert rules name is one the node exports.
//!
//! Prometheus is Debian's package (`scripts/setup.sh`), started on a free loopback port with a
//! temp dir for storage and stopped by PID.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::contracts::upload_code;
use common::*;
use serde_json::json;

const ECHO: &str =
    "export default { async fetch(request) { return new Response(await request.text()); } };";

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let output = Command::new("promtool")
        .args(["test", "rules"])
        .arg(repo().join("deploy/prometheus/alerts.test.yml"))
        .output()
        .expect("promtool is missing: run scripts/setup.sh first");
    assert!(
        output.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Prometheus server of our own, stopped by PID on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: serverless-executor\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus is missing: run scripts/setup.sh first");
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    /// The first sample's value of an instant query, if any.
    async fn query(&self, http: &reqwest::Client, expr: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let response = http.get(url).query(&[("query", expr)]).send().await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn prometheus_scrapes_job_counters_and_phase_histograms_from_a_real_node() {
    let chain = TestChain::start().await;
    let metrics_port = free_port();
    let metrics_address = format!("127.0.0.1:{metrics_port}");
    let options = NodeOptions {
        extra_config: Some(json!({
            "metrics_bind_address": metrics_address,
            "log_format": "json",
            "direct_run_body_limit_bytes": 4096,
        })),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let prometheus = Prometheus::start(&metrics_address);
    let tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    for n in 0..3 {
        let (status, body) = node
            .post_json(
                "/api/serverless",
                &json!({"tx_hash": tx, "input": format!("job {n}")}),
            )
            .await;
        assert_eq!((status, body), (200, format!("job {n}")));
    }
    let too_large = json!({"tx_hash": tx, "input": "x".repeat(8192)});
    assert_eq!(node.post_json("/api/serverless", &too_large).await.0, 413);

    // `/metrics` moved to its own listener: the admin port no longer serves it.
    assert_eq!(node.get("/metrics").await.0, 404);
    let metrics_url = format!("http://{metrics_address}/metrics");
    let text = node
        .http
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let ended =
        r#"executor_jobs_ended_total{job="serverless-executor",source="direct",outcome="0"}"#;
    let refused = r#"executor_jobs_refused_total{source="direct",reason="body_too_large"}"#;
    let executions = r#"executor_job_phase_seconds_count{phase="user_execution"}"#;
    let median = r#"histogram_quantile(0.5, sum by (le) (executor_job_phase_seconds_bucket{phase="user_execution"}))"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (seen, scraped) = loop {
        let seen = (
            prometheus.query(&http, ended).await,
            prometheus.query(&http, refused).await,
            prometheus.query(&http, executions).await,
            prometheus.query(&http, median).await,
        );
        let scraped =
            seen.0 == Some(3.0) && seen.1 == Some(1.0) && seen.2 == Some(3.0) && seen.3.is_some();
        if scraped || tokio::time::Instant::now() >= deadline {
            break (seen, scraped);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        scraped,
        "Prometheus saw (ended, refused, executions, median) = {seen:?}; node exported:\n{text}"
    );
    let median = seen.3.unwrap();
    assert!(
        median > 0.0 && median < 5.0,
        "median user execution {median} s"
    );
    let up = prometheus
        .query(&http, r#"up{job="serverless-executor"}"#)
        .await;
    assert_eq!(up, Some(1.0));

    let logs = node.logs();
    let mut lines = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .peekable();
    assert!(lines.peek().is_some(), "the node logged nothing");
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(
            event["level"].is_string() && event["message"].is_string(),
            "{line}"
        );
    }
    assert!(logs.contains(r#""message":"Job finished.""#), "{logs}");

    dashboards_and_alerts_name_only_exported_metrics(&text);
}

/// Every `executor_*` / `process_*` metric named by the dashboard's expressions and by the alert
/// rules is exported by the node (`text`, after jobs ran).
fn dashboards_and_alerts_name_only_exported_metrics(text: &str) {
    let exported = exported_names(text);
    for name in [
        "executor_jobs_ended_total",
        "executor_job_phase_seconds_bucket",
    ] {
        assert!(exported.contains(name), "{name} not exported:\n{text}");
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/serverless-executor.json")).unwrap(),
    )
    .unwrap();
    let mut expressions = Vec::new();
    collect_exprs(&dashboard, &mut expressions);
    assert!(
        expressions.len() >= 10,
        "dashboard has {} expressions",
        expressions.len()
    );
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    expressions.extend(
        alerts
            .lines()
            .filter_map(|line| line.trim().strip_prefix("expr:"))
            .map(str::to_owned),
    );
    let mut named = BTreeSet::new();
    for expr in &expressions {
        named.extend(metric_names(expr));
    }
    let unknown: Vec<_> = named
        .iter()
        .filter(|name| !exported.contains(*name))
        .collect();
    assert!(unknown.is_empty(), "named but not exported: {unknown:?}");
    let panels_cover = |prefix: &str| named.iter().any(|name| name.starts_with(prefix));
    for prefix in [
        "executor_jobs_ended",
        "executor_job_phase",
        "executor_workerd",
        "executor_chain",
        "executor_tx",
        "process_",
    ] {
        assert!(panels_cover(prefix), "nothing shows {prefix}*");
    }
}

/// Sample names in the exposition, plus every sample name a family without samples yet would
/// have (`# TYPE` lines: `_total` for counters; `_bucket`, `_sum`, `_count` for histograms).
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut parts = declared.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// The `executor_*` and `process_*` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        if word(bytes[start]) && (start == 0 || !word(bytes[start - 1])) {
            let end = (start..bytes.len())
                .find(|&i| !word(bytes[i]))
                .unwrap_or(bytes.len());
            let name = &expr[start..end];
            if name.starts_with("executor_") || name.starts_with("process_") {
                names.push(name.to_owned());
            }
            start = end;
        } else {
            start += 1;
        }
    }
    names
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, phase) (rate(executor_job_phase_seconds_bucket{phase!="x"}[5m]))) / process_open_fds"#,
    );
    assert_eq!(
        names,
        ["executor_job_phase_seconds_bucket", "process_open_fds"]
    );
}
