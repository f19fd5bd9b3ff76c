//! WebAssembly jobs (issue 11) as chain jobs on anvil, in every execution mode: a C WASI
//! command, an AssemblyScript bundle, a hand-written bundle and a module that does not link are answered on `Jobs` with the outcome
//! and output the direct route gives (tests/wasm.rs), signed by the node's enclave key.

#![allow(clippy::unwrap_used)]

mod common;
mod wasm_tools;

use common::contracts::{create_job, upload_code};
use common::jobs::{outputs_of, registered_node_with, wait_for_outputs};
use common::*;
use wasm_tools::{add_bundle, assemblyscript_bundle, c_program, wat};

/// Code, input, outcome, output.
type Case = (Vec<u8>, &'static [u8], u8, &'static [u8]);

async fn wasm_chain_jobs_are_answered_with_their_outcome(mode: &'static str) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some(mode),
        ..NodeOptions::default()
    };
    let node = registered_node_with(&chain, GAS_KEY, options).await;
    let unlinked = wat(
        r#"(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let cases: [Case; 5] = [
        (assemblyscript_bundle(), br#"{"num": 20}"#, 0, b"2,2,5"),
        (c_program("prime_factors"), br#"{"num": 10}"#, 0, b"2,5"),
        (c_program("exit3"), b"", 7, b""),
        (add_bundle(), br#"{"a": 1, "b": 2}"#, 0, b"sum=3"),
        (unlinked, b"", 3, b""),
    ];
    let mut jobs = Vec::new();
    for (code, input, _, _) in &cases {
        let tx = upload_code(&chain, STRANGER_KEY, code).await;
        jobs.push(create_job(&chain, STRANGER_KEY, &tx, input, 5000).await);
    }
    let all = wait_for_outputs(&chain, &jobs, 1, &[&node]).await;
    for (i, (_, _, outcome, output)) in cases.iter().enumerate() {
        let answers = outputs_of(&all, jobs[i]);
        assert_eq!(answers.len(), 1, "{mode} job {i}");
        assert_eq!(answers[0].executor, node.enclave_address());
        assert_eq!(
            (answers[0].error_code, answers[0].output.as_slice()),
            (*outcome, *output),
            "{mode} job {i}: {}",
            node.logs()
        );
    }
}

mod cold {
    #[tokio::test]
    async fn wasm_chain_jobs_are_answered_with_their_outcome() {
        super::wasm_chain_jobs_are_answered_with_their_outcome("cold").await
    }
}
mod prewarmed {
    #[tokio::test]
    async fn wasm_chain_jobs_are_answered_with_their_outcome() {
        super::wasm_chain_jobs_are_answered_with_their_outcome("prewarmed").await
    }
}
mod isolate {
    #[tokio::test]
    async fn wasm_chain_jobs_are_answered_with_their_outcome() {
        super::wasm_chain_jobs_are_answered_with_their_outcome("isolate").await
    }
}
