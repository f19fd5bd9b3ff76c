//! WebAssembly jobs (issue 11) through the real node's direct route in every execution mode:
//! raw WASI commands built from C with clang, bundles built with `tar`, and hand-written
//! modules (`wat`) for the edge cases. Every end is the outcome a JavaScript job with the same
//! behaviour gets.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;
mod wasm_tools;

use common::contracts::upload_code;
use common::*;
use serde_json::json;
use wasm_tools::{
    add_bundle, assemblyscript_bundle, bundle_with_name, c_program, duplicate_bundle, wat,
};

struct Answer {
    error_code: Option<u8>,
    body: Vec<u8>,
}

async fn run(node: &TestNode, tx: &str, input: serde_json::Value) -> Answer {
    let response = node
        .http
        .post(node.url("/api/serverless"))
        .json(&json!({"tx_hash": tx, "input": input}))
        .send()
        .await
        .unwrap();
    let error_code = response
        .headers()
        .get("x-executor-error-code")
        .map(|value| value.to_str().unwrap().parse::<u8>().unwrap());
    let body = response.bytes().await.unwrap().to_vec();
    Answer { error_code, body }
}

/// The cases every mode runs: (name, code, input, outcome, output when 0).
fn cases() -> Vec<(&'static str, Vec<u8>, serde_json::Value, u8, &'static str)> {
    let add = wat(wasm_tools::ADD_WAT);
    let good_bundle = add_bundle();
    let mut truncated = good_bundle.clone();
    truncated.truncate(700);
    let escaping = bundle_with_name("lib/../add.wasm", &add);
    let duplicate = duplicate_bundle();
    vec![
        (
            "C prime factors",
            c_program("prime_factors"),
            json!({"num": 600}),
            0,
            "2,2,2,3,5,5",
        ),
        (
            "AssemblyScript bundle",
            assemblyscript_bundle(),
            json!({"num": 600}),
            0,
            "2,2,2,3,5,5",
        ),
        ("C exit 3", c_program("exit3"), json!(""), 7, ""),
        ("C division by zero", c_program("trap"), json!(0), 7, ""),
        (
            "C output past the cap",
            c_program("large_output"),
            json!(""),
            5,
            "",
        ),
        ("C endless loop", c_program("loop"), json!(""), 4, ""),
        ("C memory bomb", c_program("memory_bomb"), json!(""), 6, ""),
        (
            "wat unreachable",
            wat(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#),
            json!(""),
            7,
            "",
        ),
        (
            "wat no _start",
            wat(r#"(module (memory (export "memory") 1) (func (export "main")))"#),
            json!(""),
            3,
            "",
        ),
        (
            "wat unknown import",
            wat(
                r#"(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
            ),
            json!(""),
            3,
            "",
        ),
        (
            "wat ENOSYS and returns",
            wat(
                r#"(module (import "wasi_snapshot_preview1" "path_open" (func $p (result i32))) (memory (export "memory") 1) (func (export "_start") (if (i32.ne (call $p) (i32.const 52)) (then unreachable))))"#,
            ),
            json!(""),
            0,
            "",
        ),
        ("magic only", b"\0asm".to_vec(), json!(""), 3, ""),
        ("empty code", Vec::new(), json!(""), 3, ""),
        ("bundle", good_bundle, json!({"a": 2, "b": 40}), 0, "sum=42"),
        ("bundle truncated", truncated, json!(""), 3, ""),
        ("bundle with ../", escaping, json!(""), 3, ""),
        ("bundle with a duplicate", duplicate, json!(""), 3, ""),
    ]
}

async fn wasm_jobs_end_as_their_programs_do(mode: &'static str) {
    let chain = TestChain::start().await;
    let options = NodeOptions {
        execution_mode: Some(mode),
        direct_run_deadline_ms: Some(2000),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    for (name, code, input, outcome, output) in cases() {
        let tx = upload_code(&chain, STRANGER_KEY, &code).await;
        let answer = run(&node, &tx, input).await;
        assert_eq!(
            answer.error_code,
            Some(outcome),
            "{mode} {name}: {}",
            node.logs()
        );
        if outcome == 0 {
            assert_eq!(
                String::from_utf8_lossy(&answer.body),
                output,
                "{mode} {name}"
            );
        }
    }
}

in_every_mode!(wasm_jobs_end_as_their_programs_do);
