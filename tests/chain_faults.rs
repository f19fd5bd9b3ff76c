//! The chain job loop under faults, on anvil with our contracts and the real node binary:
//! - the websocket is closed while jobs are created, including a `JobCreated` emitted on a
//!   connection that closes before delivering it (only a backfill can find it);
//! - the websocket stalls silently (open sockets, nothing forwarded): the node must notice,
//!   reconnect and backfill;
//! - three nodes share one chain and each job selects two: each job gets one output per
//!   selected executor, signed by it, and a node not selected never runs the job;
//! - a node crashed (SIGKILL) and restarted, with a job created while it is down;
//! - deadlines of 2^64 ms and more neither crash the node nor stop the jobs after them.
//!
//! Every job must be answered exactly once per selected executor, and each node's gas account
//! must have sent nothing else: its nonce equals the outputs it owes. Outputs are read from
//! anvil over HTTP, never through the relay under test. The relay itself is tested first, on a
//! loopback echo server, so that a relay that does not break anything cannot pass for a node
//! that survives.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::contracts::{create_job, create_job_with_deadline, upload_code};
use common::jobs::{
    gas_nonce, outputs_of, registered_node, registered_node_with, runs_of, selected_of,
    wait_for_outputs, Output,
};
use common::proxy::TcpRelay;
use common::*;
use ethers::types::U256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers with its input, so an output shows which job it belongs to.
const ECHO: &str =
    "export default { async fetch(request) { return new Response(await request.text()); } };";

/// Generous: a slow machine must not turn a node restart into a missed deadline.
const DEADLINE_MS: u64 = 10_000;

/// A registered node (gas key [`GAS_KEY`]) whose websocket goes through `relay`.
async fn node_behind(chain: &TestChain, relay: &TcpRelay) -> TestNode {
    let options = NodeOptions {
        ws_rpc_url: Some(relay.ws_url()),
        // Jobs hold a slot on chain until answered: room for every job a test creates, so
        // that a node that is slow to answer shows as unanswered jobs, not as a createJob revert.
        job_capacity: Some(8),
        ..NodeOptions::default()
    };
    registered_node_with(chain, GAS_KEY, options).await
}

/// Creates a job running [`ECHO`] on `input`; returns its id.
async fn echo_job(chain: &TestChain, code_tx: &str, input: &str) -> U256 {
    create_job(chain, STRANGER_KEY, code_tx, input.as_bytes(), DEADLINE_MS).await
}

/// Each of `jobs` (id, input) has exactly one output, from `node`, echoing its input, and the
/// gas account [`GAS_KEY`] sent one transaction per job and nothing else.
async fn assert_each_answered_once(chain: &TestChain, node: &TestNode, jobs: &[(U256, String)]) {
    let ids: Vec<U256> = jobs.iter().map(|(id, _)| *id).collect();
    let all = wait_for_outputs(chain, &ids, 1, &[node]).await;
    for (id, input) in jobs {
        let outputs: Vec<&Output> = outputs_of(&all, *id);
        assert_eq!(outputs.len(), 1, "job {id}: {outputs:?}\n{}", node.logs());
        assert_eq!(outputs[0].executor, node.enclave_address(), "job {id}");
        assert_eq!(outputs[0].output, input.as_bytes(), "job {id}");
        assert_eq!(outputs[0].error_code, 0, "job {id}");
    }
    assert_eq!(
        gas_nonce(chain, GAS_KEY).await,
        jobs.len() as u64,
        "one transaction per job: nothing submitted twice\n{}",
        node.logs()
    );
}

/// The node started each job once: a log re-read after a reconnect is not run again.
fn assert_each_run_once(node: &TestNode, jobs: &[(U256, String)]) {
    for (id, _) in jobs {
        assert_eq!(runs_of(node, *id), 1, "job {id} runs\n{}", node.logs());
    }
}

/// Creates a job on `input` and records it in `jobs`.
async fn push_job(chain: &TestChain, code_tx: &str, jobs: &mut Vec<(U256, String)>, input: &str) {
    jobs.push((echo_job(chain, code_tx, input).await, input.to_owned()));
}

/// Waits until every job in `jobs` has an output; the node's websocket is then live (it
/// delivered the last `JobCreated`), so the next fault hits a working connection.
async fn wait_answered(chain: &TestChain, node: &TestNode, jobs: &[(U256, String)]) {
    let ids: Vec<U256> = jobs.iter().map(|(id, _)| *id).collect();
    wait_for_outputs(chain, &ids, 1, &[node]).await;
}

/// Sends `bytes` and reads as many back through an echo server; `None` if nothing comes within
/// a second (stalled), `Some(empty)` at end of stream (closed).
async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> Option<Vec<u8>> {
    let _ = stream.write_all(bytes).await;
    let mut buffer = vec![0; bytes.len()];
    let read = stream.read(&mut buffer);
    match tokio::time::timeout(std::time::Duration::from_secs(1), read).await {
        Err(_) => None,
        Ok(result) => Some(buffer[..result.unwrap_or(0)].to_vec()),
    }
}

#[tokio::test]
async fn the_relay_drops_or_stalls_only_the_connections_open_at_the_time() {
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    let relay = TcpRelay::start(echo_port).await;
    let mut first = TcpStream::connect(relay.address()).await.unwrap();
    assert_eq!(round_trip(&mut first, b"one").await.unwrap(), b"one");

    relay.stall_connections();
    assert_eq!(
        round_trip(&mut first, b"two").await,
        None,
        "stalled, not closed"
    );
    let mut second = TcpStream::connect(relay.address()).await.unwrap();
    assert_eq!(round_trip(&mut second, b"new").await.unwrap(), b"new");

    relay.drop_connections();
    assert_eq!(round_trip(&mut first, b"x").await.unwrap(), b"", "closed");
    assert_eq!(round_trip(&mut second, b"y").await.unwrap(), b"", "closed");
    let mut third = TcpStream::connect(relay.address()).await.unwrap();
    assert_eq!(round_trip(&mut third, b"later").await.unwrap(), b"later");
    assert_eq!(relay.connections(), 3);
}

#[tokio::test]
async fn jobs_created_while_the_websocket_is_dropped_are_each_answered_once() {
    let chain = TestChain::start().await;
    let relay = TcpRelay::start(chain.anvil.port).await;
    let node = node_behind(&chain, &relay).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let mut jobs = Vec::new();

    push_job(&chain, &code_tx, &mut jobs, "before any fault").await;
    wait_answered(&chain, &node, &jobs).await;

    // Created while the node reconnects (or just after it did).
    relay.drop_connections();
    push_job(&chain, &code_tx, &mut jobs, "right after a drop").await;
    push_job(&chain, &code_tx, &mut jobs, "second after a drop").await;
    wait_answered(&chain, &node, &jobs).await;

    // Emitted on a connection that then closes without delivering it: only a backfill finds it.
    relay.stall_connections();
    push_job(&chain, &code_tx, &mut jobs, "lost in flight").await;
    relay.drop_connections();
    wait_answered(&chain, &node, &jobs).await;

    relay.drop_connections();
    push_job(&chain, &code_tx, &mut jobs, "after a third drop").await;
    push_job(&chain, &code_tx, &mut jobs, "last").await;

    assert_each_answered_once(&chain, &node, &jobs).await;
    assert_each_run_once(&node, &jobs);
    // Each drop closed a live connection (an answer came through it just before).
    assert!(
        relay.connections() >= 4,
        "the node reconnected after each drop"
    );
}

#[tokio::test]
async fn a_silently_stalled_websocket_is_noticed_and_every_job_answered_once() {
    let chain = TestChain::start().await;
    let relay = TcpRelay::start(chain.anvil.port).await;
    let node = node_behind(&chain, &relay).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let mut jobs = Vec::new();
    push_job(&chain, &code_tx, &mut jobs, "before the stall").await;
    wait_answered(&chain, &node, &jobs).await;
    let connections = relay.connections();

    // No FIN, no RST: only the node's own liveness check (chain_head_timeout_ms, 3 s in tests)
    // can tell that nothing comes any more.
    relay.stall_connections();
    for input in [
        "stalled 1",
        "stalled 2",
        "stalled 3",
        "stalled 4",
        "stalled 5",
    ] {
        push_job(&chain, &code_tx, &mut jobs, input).await;
    }

    assert_each_answered_once(&chain, &node, &jobs).await;
    assert_each_run_once(&node, &jobs);
    assert!(
        relay.connections() > connections,
        "the node left the stalled connection for a new one"
    );
}

#[tokio::test]
async fn three_nodes_each_answer_only_the_jobs_that_select_them() {
    let chain = TestChain::start_with(&["--nodes-to-select", "2"]).await;
    let keys = [GAS_KEY, SECOND_GAS_KEY, THIRD_GAS_KEY];
    let mut nodes = Vec::new();
    for key in keys {
        // Room for every job at once, so that no createJob finds too few free executors.
        let options = NodeOptions {
            job_capacity: Some(8),
            ..NodeOptions::default()
        };
        nodes.push(registered_node_with(&chain, key, options).await);
    }
    let enclaves: Vec<String> = nodes.iter().map(TestNode::enclave_address).collect();
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let mut jobs = Vec::new();
    for n in 0..6 {
        push_job(&chain, &code_tx, &mut jobs, &format!("shared {n}")).await;
    }

    let ids: Vec<U256> = jobs.iter().map(|(id, _)| *id).collect();
    let node_refs: Vec<&TestNode> = nodes.iter().collect();
    let all = wait_for_outputs(&chain, &ids, 2, &node_refs).await;
    let mut owed = [0u64; 3];
    for (id, input) in &jobs {
        let mut selected = selected_of(&chain, *id).await;
        selected.sort();
        assert_eq!(selected.len(), 2, "job {id} selects two executors");
        assert!(selected.iter().all(|executor| enclaves.contains(executor)));
        let outputs = outputs_of(&all, *id);
        let mut signers: Vec<String> = outputs.iter().map(|o| o.executor.clone()).collect();
        signers.sort();
        assert_eq!(
            signers, selected,
            "job {id}: one output per selected executor"
        );
        assert!(outputs.iter().all(|o| o.output == input.as_bytes()));
        for (n, node) in nodes.iter().enumerate() {
            let chosen = selected.contains(&enclaves[n]);
            owed[n] += u64::from(chosen);
            assert_eq!(
                runs_of(node, *id),
                usize::from(chosen),
                "job {id} on node {n} (selected: {chosen})\n{}",
                node.logs()
            );
        }
    }
    for (n, key) in keys.iter().enumerate() {
        assert_eq!(
            gas_nonce(&chain, key).await,
            owed[n],
            "node {n}'s gas account"
        );
    }
}

#[tokio::test]
async fn a_node_crashed_and_restarted_answers_every_job_once() {
    let chain = TestChain::start().await;
    let mut node = registered_node(&chain, GAS_KEY).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let mut jobs = Vec::new();
    push_job(&chain, &code_tx, &mut jobs, "before the crash").await;
    wait_answered(&chain, &node, &jobs).await;

    node.crash_and_restart().await;
    node.configure().await;
    push_job(&chain, &code_tx, &mut jobs, "after the restart").await;
    wait_answered(&chain, &node, &jobs).await;

    node.crash();
    push_job(&chain, &code_tx, &mut jobs, "while the node is down").await;
    node.start_again().await;
    // The job created while it was down is read back at once, but the owner takes a moment to
    // set the gas key again: the output must wait for it, not be dropped.
    wait_until(
        Duration::from_secs(20),
        "the output to wait for a gas key",
        || {
            let waiting = node.logs().contains("No gas key yet; the output waits");
            async move { waiting }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    node.configure().await;
    push_job(&chain, &code_tx, &mut jobs, "after the second restart").await;

    assert_each_answered_once(&chain, &node, &jobs).await;
}

#[tokio::test]
async fn deadlines_of_2_pow_64_ms_and_more_neither_crash_the_node_nor_stop_later_jobs() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let code_tx = upload_code(&chain, STRANGER_KEY, ECHO.as_bytes()).await;
    let huge = [U256::from(u64::MAX) + 1, U256::from(u128::MAX) + 1];
    for deadline in huge {
        // The contract accepts them: each is a real job selecting the node.
        create_job_with_deadline(&chain, STRANGER_KEY, &code_tx, b"huge", deadline).await;
    }
    // The largest deadline that fits in u64 ms is an ordinary (very long) job.
    let largest = b"largest u64 deadline";
    let longest = create_job_with_deadline(
        &chain,
        STRANGER_KEY,
        &code_tx,
        largest,
        U256::from(u64::MAX),
    )
    .await;
    let normal = echo_job(&chain, &code_tx, "after the huge ones").await;

    let all = wait_for_outputs(&chain, &[longest, normal], 1, &[&node]).await;
    assert_eq!(outputs_of(&all, longest)[0].output, largest);
    assert_eq!(outputs_of(&all, normal)[0].output, b"after the huge ones");
    let logs = node.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}
