//! WebAssembly jobs (issue 11) as chain jobs on anvil, in every execution mode: C WASI commands
//! (prime factors, exit 3, a trap, output past the cap, a memory bomb, an endless loop), an
//! AssemblyScript bundle, a hand-written bundle, a call answered `ENOSYS`, and code that does
//! not load (an unknown import, no `_start`, the magic only, empty code, a truncated archive, a
//! name with `../`, a duplicate name) are answered on `Jobs`
//! with the outcome and output the direct route gives (tests/wasm.rs), signed by the node's
//! enclave key. In `cold`, the C prime-factor program is uploaded by `examples/wasm/build.sh
//! --upload`, as the README shows.

#![allow(clippy::unwrap_used)]

mod common;
mod wasm_tools;

use common::contracts::{create_job, upload_code};
use common::jobs::{outputs_of, registered_node_with, wait_for_outputs};
use common::*;
use wasm_tools::{
    add_bundle, assemblyscript_bundle, build_and_upload, bundle_with_name, c_program,
    duplicate_bundle, wat, ADD_WAT,
};

/// Code, input, outcome, output.
type Case = (Vec<u8>, &'static [u8], u8, &'static [u8]);

/// The deadline of every job but the endless loop's, which spends all of its own.
const DEADLINE_MS: u64 = 5000;
const LOOP_DEADLINE_MS: u64 = 1000;

async fn wasm_chain_jobs_are_answered_with_their_outcome(mode: &'static str) {
    let chain = TestChain::start().await;
    // A slot per job: `createJob` reverts when no selected executor has one free.
    let options = NodeOptions {
        execution_mode: Some(mode),
        job_capacity: Some(16),
        ..NodeOptions::default()
    };
    let node = registered_node_with(&chain, GAS_KEY, options).await;
    let unlinked = wat(
        r#"(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let no_start = wat(r#"(module (memory (export "memory") 1) (func (export "main")))"#);
    // A call WASI does not have here answers ENOSYS (52), and the program goes on.
    let enosys = wat(
        r#"(module (import "wasi_snapshot_preview1" "path_open" (func $p (result i32))) (memory (export "memory") 1) (func (export "_start") (if (i32.ne (call $p) (i32.const 52)) (then unreachable))))"#,
    );
    let mut truncated = add_bundle();
    truncated.truncate(700);
    let cases: [Case; 16] = [
        (assemblyscript_bundle(), br#"{"num": 20}"#, 0, b"2,2,5"),
        (c_program("prime_factors"), br#"{"num": 10}"#, 0, b"2,5"),
        (c_program("exit3"), b"", 7, b""),
        (add_bundle(), br#"{"a": 1, "b": 2}"#, 0, b"sum=3"),
        (unlinked, b"", 3, b""),
        (c_program("trap"), b"0", 7, b""),
        (c_program("large_output"), b"", 5, b""),
        (c_program("memory_bomb"), b"", 6, b""),
        (c_program("loop"), b"", 4, b""),
        (no_start, b"", 3, b""),
        (b"\0asm".to_vec(), b"", 3, b""),
        (truncated, b"", 3, b""),
        (
            bundle_with_name("lib/../add.wasm", &wat(ADD_WAT)),
            b"",
            3,
            b"",
        ),
        (duplicate_bundle(), b"", 3, b""),
        (enosys, b"", 0, b""),
        (Vec::new(), b"", 3, b""),
    ];
    let mut jobs = Vec::new();
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), STRANGER_KEY).unwrap();
    for (i, (code, input, _, _)) in cases.iter().enumerate() {
        let tx = if i == 1 && mode == "cold" {
            // Once, the README's way: `examples/wasm/build.sh --upload`, through the kit.
            let deployment = &chain.deployment;
            let rpc = chain.anvil.http_url();
            build_and_upload(
                "prime_factors.wasm",
                &rpc,
                &deployment.code_contract,
                key_file.path(),
            )
        } else {
            upload_code(&chain, STRANGER_KEY, code).await
        };
        let deadline = if i == 8 {
            LOOP_DEADLINE_MS
        } else {
            DEADLINE_MS
        };
        jobs.push(create_job(&chain, STRANGER_KEY, &tx, input, deadline).await);
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
