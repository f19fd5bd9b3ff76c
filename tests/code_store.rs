//! `CodeStore` against a real anvil with our `CodeContract` deployed: code uploaded with either
//! `saveCodeInCallData` form comes back byte for byte; each kind of unusable transaction gets
//! its verdict; an unreachable RPC is `Unavailable`, never a verdict; cached code needs no RPC.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use ethers::middleware::Middleware;
use ethers::providers::{Http, Provider};
use ethers::types::{Bytes, NameOrAddress, TransactionRequest};
use serde_json::json;
use serverless_executor::actors::code_store::CodeStore;
use serverless_executor::chain::code_tx::InvalidCodeTx;
use serverless_executor::chain::rpc::ChainRpc;
use serverless_executor::code::calldata::{SELECTOR_STRING, SELECTOR_STRING_BYTES};
use serverless_executor::domain::{Address, TxHash};
use serverless_executor::messages::code::{CodeError, FetchCode, FetchedCode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use url::Url;

use common::contracts::{client, contract, send};
use common::{address_of_key, free_port, TestChain, OWNER_KEY, STRANGER_KEY};

const CACHE_BYTES: usize = 1 << 20;

fn start_store(code_contract: &str, rpc_url: &str) -> Addr<CodeStore> {
    let url = Url::parse(rpc_url).unwrap();
    let rpc = ChainRpc::new(&url, Duration::from_secs(2)).unwrap();
    let code_contract = Address::parse_hex(code_contract).unwrap();
    CodeStore::new(rpc, code_contract, CACHE_BYTES).start()
}

async fn fetch(
    store: &Addr<CodeStore>,
    code_tx: TxHash,
    within: Duration,
) -> Result<Arc<[u8]>, CodeError> {
    fetch_flagged(store, code_tx, within)
        .await
        .map(|fetched| fetched.code)
}

/// The code with its `cached` flag (the job's `code_fetch_hit` / `code_fetch_miss` phase).
async fn fetch_flagged(
    store: &Addr<CodeStore>,
    code_tx: TxHash,
    within: Duration,
) -> Result<FetchedCode, CodeError> {
    let deadline = tokio::time::Instant::now() + within;
    store.send(FetchCode { code_tx, deadline }).await.unwrap()
}

/// Uploads `code` with `saveCodeInCallData(string)`, or with `(string,bytes)` when `metadata`
/// is given, through the contract ABI as a user's wallet would.
async fn upload(chain: &TestChain, code: &str, metadata: Option<&[u8]>) -> TxHash {
    let code_contract = contract(
        "CodeContract",
        &chain.deployment.code_contract,
        client(chain, OWNER_KEY),
    );
    let receipt = match metadata {
        None => {
            send(
                code_contract
                    .method_hash::<_, ()>(SELECTOR_STRING, (code.to_owned(),))
                    .unwrap(),
            )
            .await
        }
        Some(metadata) => {
            let args = (code.to_owned(), Bytes::from(metadata.to_vec()));
            send(
                code_contract
                    .method_hash::<_, ()>(SELECTOR_STRING_BYTES, args)
                    .unwrap(),
            )
            .await
        }
    };
    TxHash(receipt.unwrap().transaction_hash.0)
}

/// Sends a raw transaction with a fixed gas limit (so a reverting one is mined, not refused at
/// estimation) and returns its hash once mined.
async fn send_raw(chain: &TestChain, to: Option<&str>, data: Vec<u8>) -> TxHash {
    let mut request = TransactionRequest::new().data(data).gas(300_000);
    if let Some(to) = to {
        request = request.to(NameOrAddress::Address(to.parse().unwrap()));
    }
    let sender = client(chain, STRANGER_KEY);
    let pending = sender.send_transaction(request, None).await.unwrap();
    let receipt = pending.await.unwrap().expect("mined");
    TxHash(receipt.transaction_hash.0)
}

fn one_arg_calldata(code: &str) -> Vec<u8> {
    let mut data = SELECTOR_STRING.to_vec();
    data.extend(ethers::abi::encode(&[ethers::abi::Token::String(
        code.to_owned(),
    )]));
    data
}

#[actix::test]
async fn code_uploaded_in_either_form_comes_back_exactly() {
    let chain = TestChain::start().await;
    let store = start_store(&chain.deployment.code_contract, &chain.anvil.http_url());
    let big = "// padding\n".repeat(1000) + "export default {};";
    let cases = [
        (
            "export default { fetch() { return new Response('one') } };",
            None,
        ),
        (
            "export default { fetch() { return new Response('two') } };",
            Some(&b"meta"[..]),
        ),
        ("let keep = 1;\0\0", None),
        ("let keep = 2;\0\0", Some(&b""[..])),
        (big.as_str(), Some(&[0xab; 100][..])),
    ];
    for (code, metadata) in cases {
        let hash = upload(&chain, code, metadata).await;
        let fetched = fetch(&store, hash, Duration::from_secs(10)).await.unwrap();
        assert_eq!(&fetched[..], code.as_bytes(), "metadata {metadata:?}");
    }
}

#[actix::test]
async fn unusable_transactions_get_their_verdicts() {
    let chain = TestChain::start().await;
    let store = start_store(&chain.deployment.code_contract, &chain.anvil.http_url());
    let valid = one_arg_calldata("export default {};");
    let eoa = address_of_key(OWNER_KEY);
    let to_eoa = send_raw(&chain, Some(&eoa), valid).await;
    let mut garbage = SELECTOR_STRING.to_vec();
    garbage.extend([0xff; 32]); // offset 2^256 - 1: the contract's ABI decoder reverts
    let reverted = send_raw(&chain, Some(&chain.deployment.code_contract), garbage).await;
    let creation = send_raw(&chain, None, vec![0x00]).await; // init code STOP: empty contract
    let cases = [
        (
            "valid calldata sent to an EOA",
            to_eoa,
            InvalidCodeTx::WrongContract,
        ),
        (
            "reverted call to the code contract",
            reverted,
            InvalidCodeTx::Reverted,
        ),
        (
            "contract creation",
            creation,
            InvalidCodeTx::ContractCreation,
        ),
        ("unknown hash", TxHash([0x42; 32]), InvalidCodeTx::Missing),
    ];
    for (name, hash, verdict) in cases {
        let result = fetch(&store, hash, Duration::from_secs(10)).await;
        assert_eq!(
            result.unwrap_err(),
            CodeError::InvalidCodeTx(verdict),
            "{name}"
        );
    }
}

#[actix::test]
async fn a_pending_upload_is_pending_until_mined_and_never_cached_as_such() {
    let chain = TestChain::start().await;
    let store = start_store(&chain.deployment.code_contract, &chain.anvil.http_url());
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let _: serde_json::Value = provider.request("evm_setAutomine", [false]).await.unwrap();
    let code = "export default { pending: true };";
    let request = TransactionRequest::new()
        .to(NameOrAddress::Address(
            chain.deployment.code_contract.parse().unwrap(),
        ))
        .data(one_arg_calldata(code));
    let sender = client(&chain, OWNER_KEY);
    let pending = sender.send_transaction(request, None).await.unwrap();
    let hash = TxHash(pending.tx_hash().0);

    let result = fetch(&store, hash, Duration::from_secs(10)).await;
    assert_eq!(
        result.unwrap_err(),
        CodeError::InvalidCodeTx(InvalidCodeTx::Pending)
    );

    let no_params: [u8; 0] = [];
    let _: serde_json::Value = provider.request("evm_mine", no_params).await.unwrap();
    let fetched = fetch(&store, hash, Duration::from_secs(10)).await.unwrap();
    assert_eq!(&fetched[..], code.as_bytes());
}

/// Any address: with the RPC down the contract is never compared.
const SOME_CONTRACT: &str = "0xc0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[actix::test]
async fn an_unreachable_rpc_is_unavailable_at_the_deadline_not_a_verdict() {
    tokio::time::pause();
    let store = start_store(SOME_CONTRACT, &closed_port_url());
    let started = tokio::time::Instant::now();
    let result = fetch(&store, TxHash([0x42; 32]), Duration::from_millis(500)).await;
    assert_eq!(result.unwrap_err(), CodeError::Unavailable);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(550),
        "kept retrying until the deadline, then answered: {waited:?}"
    );
}

#[actix::test]
async fn waiters_on_one_failing_fetch_each_keep_their_own_deadline() {
    tokio::time::pause();
    let store = start_store(SOME_CONTRACT, &closed_port_url());
    let started = tokio::time::Instant::now();
    let hash = TxHash([0x42; 32]);
    let early = async {
        let result = fetch(&store, hash, Duration::from_millis(200)).await;
        (result, started.elapsed())
    };
    let late = async {
        let result = fetch(&store, hash, Duration::from_millis(900)).await;
        (result, started.elapsed())
    };
    let ((early, early_at), (late, late_at)) = futures::join!(early, late);
    assert_eq!(early.unwrap_err(), CodeError::Unavailable);
    assert_eq!(late.unwrap_err(), CodeError::Unavailable);
    assert!(
        early_at < Duration::from_millis(600),
        "early gave up at {early_at:?}"
    );
    assert!(
        late_at >= Duration::from_millis(850),
        "the shared fetch ran on: {late_at:?}"
    );
}

/// Answers JSON-RPC over HTTP/1.1 like `answers` would, except that the first `failures`
/// requests get a rate-limit error reply. Counts requests in `seen`.
async fn flaky_rpc(answers: serde_json::Value, failures: usize, seen: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    actix::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (answers, seen) = (answers.clone(), seen.clone());
            actix::spawn(serve_connection(stream, answers, failures, seen));
        }
    });
    url
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    answers: serde_json::Value,
    failures: usize,
    seen: Arc<AtomicUsize>,
) {
    let mut stream = tokio::io::BufStream::new(stream);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let reply = if seen.fetch_add(1, Ordering::SeqCst) < failures {
            json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": "rate limited"}})
        } else {
            let method = request["method"].as_str().unwrap();
            json!({"jsonrpc": "2.0", "id": request["id"], "result": answers[method]})
        };
        let reply = reply.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(reply.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
    }
}

#[actix::test]
async fn json_rpc_error_replies_are_retried_not_read_as_a_missing_tx() {
    let chain = TestChain::start().await;
    let code = "export default { flaky: true };";
    let hash = upload(&chain, code, None).await;
    let provider = Provider::<Http>::try_from(chain.anvil.http_url()).unwrap();
    let mut answers = json!({});
    for method in ["eth_getTransactionByHash", "eth_getTransactionReceipt"] {
        let answer: serde_json::Value = provider.request(method, [hash.to_string()]).await.unwrap();
        answers[method] = answer;
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let url = flaky_rpc(answers, 5, seen.clone()).await;
    let store = start_store(&chain.deployment.code_contract, &url);
    let fetched = fetch(&store, hash, Duration::from_secs(10)).await.unwrap();
    assert_eq!(&fetched[..], code.as_bytes());
    assert!(
        seen.load(Ordering::SeqCst) >= 7,
        "retried past the error replies"
    );
}

#[actix::test]
async fn rpc_error_replies_until_the_deadline_are_unavailable_not_missing() {
    let seen = Arc::new(AtomicUsize::new(0));
    let url = flaky_rpc(json!({}), usize::MAX, seen.clone()).await;
    let store = start_store(SOME_CONTRACT, &url);
    let result = fetch(&store, TxHash([0x42; 32]), Duration::from_secs(1)).await;
    assert_eq!(result.unwrap_err(), CodeError::Unavailable);
    assert!(
        seen.load(Ordering::SeqCst) >= 4,
        "retried until the deadline"
    );
}

#[actix::test]
async fn cached_code_is_served_without_the_rpc() {
    let chain = TestChain::start().await;
    let store = start_store(&chain.deployment.code_contract, &chain.anvil.http_url());
    let code = "export default { cached: true };\0";
    let hash = upload(&chain, code, None).await;
    let first = fetch_flagged(&store, hash, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!first.cached, "the first fetch reads the chain");

    drop(chain); // stops anvil
    let second = fetch_flagged(&store, hash, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(second.cached, "served from the cache");
    let (first, second) = (first.code, second.code);
    assert!(Arc::ptr_eq(&first, &second), "the cached allocation itself");
    assert_eq!(&second[..], code.as_bytes());
    let uncached = fetch(&store, TxHash([0x42; 32]), Duration::from_millis(300)).await;
    assert_eq!(
        uncached.unwrap_err(),
        CodeError::Unavailable,
        "the RPC really is gone"
    );
}

#[actix::test]
async fn concurrent_requests_for_one_hash_share_one_fetch() {
    let chain = TestChain::start().await;
    let store = start_store(&chain.deployment.code_contract, &chain.anvil.http_url());
    let hash = upload(&chain, "export default { shared: true };", Some(b"m")).await;
    let requests = (0..8).map(|_| fetch(&store, hash, Duration::from_secs(10)));
    let results = futures::future::join_all(requests).await;
    let first = results[0].as_ref().unwrap();
    for result in &results {
        // One decode for all: every answer is the same allocation.
        assert!(Arc::ptr_eq(first, result.as_ref().unwrap()));
    }
}
