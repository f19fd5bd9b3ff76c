//! The node's footprint on the host: one node per cgroup parent, job directory and state
//! directory (a second one refuses to start, naming the first and the config key to change, and
//! leaves its jobs alone), a taken port that stops the node before it starts anything, and a
//! clean shutdown that leaves no workerd process, job cgroup or job directory behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::contracts::upload_code;
use common::*;
use serde_json::json;

fn job_cgroups(parent: &str) -> usize {
    ["memory", "pids", "cpu", "unified", ""]
        .iter()
        .map(|hierarchy| {
            let dir = std::path::Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(parent);
            std::fs::read_dir(dir)
                .map(|entries| entries.flatten().filter(|e| e.path().is_dir()).count())
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test]
async fn a_second_node_on_the_same_cgroup_parent_refuses_to_start_and_spares_the_first() {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        ..NodeOptions::default()
    };
    let first = TestNode::start(&chain, options).await;
    let warm_before = job_cgroups(&first.cgroup_parent);
    assert!(warm_before > 0, "the first node keeps warm processes");
    let same: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(first.dir.path().join("config.json")).unwrap(),
    )
    .unwrap();
    let error = refused_start(&same);
    assert!(
        error.contains(&format!("another node (pid {})", first.pid()))
            && error.contains("`cgroup_parent`"),
        "{error}"
    );
    // Nothing of the first node was touched: its warm processes still serve.
    assert_eq!(job_cgroups(&first.cgroup_parent), warm_before);
    let tx = upload_code(
        &chain,
        STRANGER_KEY,
        b"export default { async fetch() { return new Response('alive'); } };",
    )
    .await;
    let (status, body) = first
        .post_json("/api/serverless", &json!({"tx_hash": tx, "input": ""}))
        .await;
    assert_eq!((status, body.as_str()), (200, "alive"));
}

/// The names in a node's job directory.
fn job_dirs(node: &TestNode) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(node.dir.path().join("jobs"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .collect()
}

/// Starts the node binary on `config` and returns the one ERROR line it must stop with.
fn refused_start(config: &serde_json::Value) -> String {
    refused_start_on(config, free_port())
}

/// [`refused_start`] with the HTTP port given; the node must stop without a panic.
fn refused_start_on(config: &serde_json::Value, port: u16) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_serverless-executor"))
        .args(["--port", &port.to_string(), "--config-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let errors: Vec<_> = text.lines().filter(|line| line.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    errors[0].to_owned()
}

#[tokio::test]
async fn a_second_node_sharing_only_a_job_or_state_directory_refuses_to_start() {
    let chain = TestChain::start().await;
    let first = TestNode::start(&chain, NodeOptions::default()).await;
    let jobs_before = job_dirs(&first);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(first.dir.path().join("config.json")).unwrap(),
    )
    .unwrap();
    let own = tempfile::tempdir().unwrap();
    let mut shares_jobs = config.clone();
    shares_jobs["cgroup_parent"] = json!(format!("{}-second", first.cgroup_parent));
    shares_jobs["state_dir"] = json!(own.path().join("state"));
    let error = refused_start(&shares_jobs);
    assert!(
        error.contains(&format!("another node (pid {})", first.pid()))
            && error.contains("`job_dir`"),
        "{error}"
    );
    let mut shares_state = shares_jobs;
    shares_state["job_dir"] = json!(own.path().join("jobs"));
    shares_state["state_dir"] = config["state_dir"].clone();
    let error = refused_start(&shares_state);
    assert!(error.contains("`state_dir`"), "{error}");
    // The first node's job directories are untouched (its warm pool may still be adding one,
    // so every directory seen before must still be there) and it still serves.
    let jobs_after = job_dirs(&first);
    let removed: Vec<_> = jobs_before.difference(&jobs_after).collect();
    assert!(removed.is_empty(), "job directories removed: {removed:?}");
    let (status, _) = first.get("/health").await;
    assert_eq!(status, 200);
    remove_cgroup_parent(&format!("{}-second", first.cgroup_parent));
}

#[tokio::test]
async fn a_taken_port_stops_the_node_before_any_actor_starts_naming_its_config_key() {
    let chain = TestChain::start().await;
    let first = TestNode::start(&chain, NodeOptions::default()).await;
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(first.dir.path().join("config.json")).unwrap(),
    )
    .unwrap();
    let own = tempfile::tempdir().unwrap();
    let parent = format!("{}-second", first.cgroup_parent);
    config["cgroup_parent"] = json!(parent);
    config["job_dir"] = json!(own.path().join("jobs"));
    config["state_dir"] = json!(own.path().join("state"));
    let taken = first.port;
    let error = refused_start_on(&config, taken);
    assert!(
        error.contains("cannot bind the HTTP server")
            && error.contains("`--port`")
            && error.contains(&format!("127.0.0.1:{taken}"))
            && error.contains("Address already in use"),
        "{error}"
    );
    let mut metrics = config.clone();
    metrics["metrics_bind_address"] = json!(format!("127.0.0.1:{taken}"));
    let error = refused_start(&metrics);
    assert!(
        error.contains("`metrics_bind_address`") && error.contains("Address already in use"),
        "{error}"
    );
    let mut agent = config.clone();
    agent["lb_agent_port"] = json!(taken);
    let error = refused_start(&agent);
    assert!(
        error.contains("`lb_agent_port`") && error.contains("Address already in use"),
        "{error}"
    );
    // Bound before the pools start: none of the three made a job cgroup or job directory.
    assert_eq!(job_cgroups(&parent), 0);
    let made = std::fs::read_dir(own.path().join("jobs")).map_or(0, |entries| entries.count());
    assert_eq!(made, 0, "job directories made");
    let (status, _) = first.get("/health").await;
    assert_eq!(status, 200);
    remove_cgroup_parent(&parent);
}

#[tokio::test]
async fn a_clean_shutdown_leaves_no_process_cgroup_or_job_directory() {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let pid = node.pid();
    let parent = node.cgroup_parent.clone();
    let jobs_dir = node.dir.path().join("jobs");
    // A job cgroup exists a moment before its workerd does: wait for both.
    wait_until(Duration::from_secs(20), "warm processes to start", || {
        let up = job_cgroups(&parent) > 0 && !workerd_below(pid).is_empty();
        async move { up }
    })
    .await;
    let children = workerd_below(pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until(Duration::from_secs(20), "the node to exit", || {
        let gone = !std::path::Path::new(&format!("/proc/{pid}/status")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|status| status.contains("State:\tZ"));
        async move { gone }
    })
    .await;
    assert_eq!(job_cgroups(&parent), 0, "{}", node.logs());
    let left = std::fs::read_dir(&jobs_dir)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "job directories left: {}", node.logs());
    for child in children {
        let alive = std::fs::read_to_string(format!("/proc/{child}/status"))
            .is_ok_and(|status| !status.contains("State:\tZ"));
        assert!(!alive, "workerd {child} outlived the node");
    }
    assert!(node.logs().contains("Node stopped."), "{}", node.logs());
}

/// The pipe inodes among a process's descriptors, by descriptor number.
fn pipes_of(pid: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_string_lossy().to_string();
            let fd = entry.file_name().to_string_lossy().parse().ok()?;
            target.starts_with("pipe:").then_some((fd, target))
        })
        .collect()
}

/// Every workerd process below `pid` (children and their children). A child is listed under
/// the thread that forked it, so every thread's list is read.
fn workerd_below(pid: u32) -> Vec<u32> {
    let children = |pid: u32| -> Vec<u32> {
        let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        threads
            .flatten()
            .flat_map(|thread| {
                let list = std::fs::read_to_string(thread.path().join("children"));
                let list = list.unwrap_or_default();
                let pids: Vec<u32> = list.split_whitespace().flat_map(str::parse).collect();
                pids
            })
            .collect()
    };
    let mut found = Vec::new();
    let mut todo = children(pid);
    while let Some(next) = todo.pop() {
        let command = std::fs::read(format!("/proc/{next}/cmdline")).unwrap_or_default();
        let command = String::from_utf8_lossy(&command).to_string();
        if command.contains("workerd") && !command.contains("sandbox-exec") {
            found.push(next);
        }
        todo.extend(children(next));
    }
    found
}

#[tokio::test]
async fn no_job_process_holds_another_job_processs_pipes() {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some("isolate"),
        extra_config: Some(json!({"warm_processes": 3})),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    wait_until(
        Duration::from_secs(30),
        "three warm workerd processes",
        || {
            let count = workerd_below(node.pid()).len();
            async move { count >= 3 }
        },
    )
    .await;
    let processes = workerd_below(node.pid());
    // Each process's own pipes: its stderr (fd 2) and its control pipe (fd 4).
    let own: Vec<(u32, Vec<String>)> = processes
        .iter()
        .map(|&pid| {
            let mine = pipes_of(pid)
                .into_iter()
                .filter(|(fd, _)| *fd == 2 || *fd == 4)
                .map(|(_, pipe)| pipe)
                .collect();
            (pid, mine)
        })
        .collect();
    for &(pid, _) in &own {
        let held: Vec<String> = pipes_of(pid).into_iter().map(|(_, pipe)| pipe).collect();
        for (other, theirs) in &own {
            if *other == pid {
                continue;
            }
            let leaked: Vec<_> = theirs.iter().filter(|pipe| held.contains(pipe)).collect();
            assert!(
                leaked.is_empty(),
                "workerd {pid} holds pipes of workerd {other}: {leaked:?}"
            );
        }
    }
}
