//! A WebAssembly module one byte over the node's code cap (4 MiB, `MAX_ARG_BYTES`), uploaded
//! for real on anvil, through the direct route and as a chain job: the node's outcome is 2 (the
//! calldata's length word is over the decoder's bound), as README's outcome table says, and
//! nothing of it reaches workerd. One mode: the code is judged before any execution mode
//! matters.
//!
//! Anvil refuses HTTP bodies over about 2 MB, so the upload goes over its websocket, after the
//! block gas limit is raised for the calldata's ~42 M gas (EIP-7623's floor, 10 per zero byte).

#![allow(clippy::unwrap_used)]

mod common;

use common::contracts::{code_calldata, create_job};
use common::jobs::{outputs_of, registered_node, wait_for_outputs};
use common::*;
use ethers::middleware::{Middleware, SignerMiddleware};
use ethers::providers::{Provider, Ws};
use ethers::types::{Address, TransactionRequest};
use serde_json::json;
use serverless_executor::code::calldata::MAX_ARG_BYTES;

/// `wat` output plus a custom section of zeros, `len` bytes in all.
fn module_of_len(len: usize) -> Vec<u8> {
    let mut module =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
            .unwrap();
    // Section id 0, its size as a 5-byte LEB128, a one-byte name, then zeros.
    let mut size = len - module.len() - 6;
    module.push(0);
    for i in 0..5 {
        let more = if i < 4 { 0x80 } else { 0 };
        module.push((size & 0x7f) as u8 | more);
        size >>= 7;
    }
    module.extend([1, b'x']);
    module.resize(len, 0);
    module
}

/// Uploads `code` over the websocket; returns the mined transaction's hash.
async fn upload_over_ws(chain: &TestChain, code: &[u8]) -> String {
    let http = reqwest::Client::new();
    let raised = http
        .post(chain.anvil.http_url())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_setBlockGasLimit", "params": ["0x10000000"]}))
        .send()
        .await
        .unwrap();
    assert!(raised.status().is_success());
    let ws = Provider::<Ws>::connect(chain.anvil.ws_url()).await.unwrap();
    let client = SignerMiddleware::new(ws, wallet(STRANGER_KEY));
    let to: Address = chain.deployment.code_contract.parse().unwrap();
    let request = TransactionRequest::new()
        .to(to)
        .data(code_calldata(code))
        .gas(100_000_000u64);
    let pending = client.send_transaction(request, None).await.unwrap();
    let receipt = pending.await.unwrap().unwrap();
    assert_eq!(receipt.status, Some(1.into()), "the upload is mined");
    format!("{:?}", receipt.transaction_hash)
}

#[actix::test]
async fn a_module_over_the_code_cap_is_outcome_2_directly_and_on_chain() {
    let chain = TestChain::start().await;
    let node = registered_node(&chain, GAS_KEY).await;
    let module = module_of_len(MAX_ARG_BYTES + 1);
    assert!(module.starts_with(b"\0asm"));
    let tx = upload_over_ws(&chain, &module).await;

    let response = node
        .http
        .post(node.url("/api/serverless"))
        .json(&json!({"tx_hash": tx, "input": ""}))
        .send()
        .await
        .unwrap();
    let code = response
        .headers()
        .get("x-executor-error-code")
        .map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(code.as_deref(), Some("2"), "{}", node.logs());
    assert!(response.bytes().await.unwrap().is_empty());

    let job = create_job(&chain, STRANGER_KEY, &tx, b"", 5000).await;
    let all = wait_for_outputs(&chain, &[job], 1, &[&node]).await;
    let answers = outputs_of(&all, job);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].executor, node.enclave_address());
    assert_eq!(
        (answers[0].error_code, answers[0].output.as_slice()),
        (2, &b""[..]),
        "{}",
        node.logs()
    );
}
