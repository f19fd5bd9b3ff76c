//! The node's footprint on the host: one node per cgroup parent (a second one refuses to start,
//! naming the first, and leaves its jobs alone), and a clean shutdown that leaves no workerd
//! process, job cgroup or job directory behind.

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
    let output = Command::new(env!("CARGO_BIN_EXE_serverless-executor"))
        .args(["--port", &free_port().to_string(), "--config-file"])
        .arg(first.dir.path().join("config.json"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let errors: Vec<_> = text.lines().filter(|line| line.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains(&format!("another node (pid {})", first.pid())),
        "{text}"
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
    wait_until(Duration::from_secs(20), "warm processes to start", || {
        let count = job_cgroups(&parent);
        async move { count > 0 }
    })
    .await;
    let children: Vec<u32> = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap()
        .split_whitespace()
        .map(|child| child.parse().unwrap())
        .collect();
    assert!(!children.is_empty());
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
