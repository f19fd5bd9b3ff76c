//! An HTTP JSON-RPC relay between the node and anvil, for fault tests: a minimal HTTP/1.1
//! server on a free loopback port that forwards each request to anvil, or, while a fault is
//! set, fails it the way a sick RPC provider does:
//! - [`RpcFault::Down`]: the connection is closed without an answer (a transport error);
//! - [`RpcFault::Slow`]: every call is held for the given time before it is forwarded (set it
//!   above the node's `rpc_timeout_ms`: the node gives up on each call, while the request may
//!   still reach anvil afterwards, as with a real overloaded provider);
//! - [`RpcFault::Errors`]: calls are answered alternately with HTTP 503 and with a JSON-RPC
//!   `-32603` internal error.
//!
//! Loopback only; its tasks stop when it is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the relay treats calls from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFault {
    /// Forward everything.
    None,
    /// Close every connection without answering.
    Down,
    /// Hold every call this long, then forward it.
    Slow(Duration),
    /// Answer 503 and JSON-RPC errors, alternately.
    Errors,
}

/// A relay on a free `127.0.0.1` port in front of an HTTP JSON-RPC endpoint.
#[derive(Debug)]
pub struct HttpRelay {
    port: u16,
    fault: watch::Sender<RpcFault>,
    /// Calls failed, held or refused because of a fault.
    faulted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl HttpRelay {
    pub async fn start(upstream_url: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let (fault, watched) = watch::channel(RpcFault::None);
        let faulted = Arc::new(AtomicUsize::new(0));
        let upstream = Upstream {
            url: upstream_url,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            fault: watched,
            faulted: Arc::clone(&faulted),
            replies: Arc::new(AtomicUsize::new(0)),
        };
        let task = tokio::spawn(accept_loop(listener, upstream));
        Self {
            port,
            fault,
            faulted,
            task,
        }
    }

    /// The HTTP RPC URL to give the node instead of anvil's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to every call from now on (calls already held by `Slow` stay held).
    pub fn set(&self, fault: RpcFault) {
        self.fault.send_replace(fault);
    }

    /// Calls that a fault failed or held so far: a test can check its fault was hit.
    pub fn faulted_calls(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }
}

impl Drop for HttpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every connection needs.
#[derive(Debug, Clone)]
struct Upstream {
    url: String,
    client: reqwest::Client,
    fault: watch::Receiver<RpcFault>,
    faulted: Arc<AtomicUsize>,
    /// Alternates the two kinds of error reply.
    replies: Arc<AtomicUsize>,
}

async fn accept_loop(listener: TcpListener, upstream: Upstream) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        connections.spawn(serve(client, upstream.clone()));
        while connections.try_join_next().is_some() {}
    }
}

/// Serves one keep-alive connection, request by request, until it closes or a fault drops it.
async fn serve(stream: TcpStream, upstream: Upstream) {
    let mut stream = BufReader::new(stream);
    while let Some(body) = read_request(&mut stream).await {
        let fault = *upstream.fault.borrow();
        if fault != RpcFault::None {
            upstream.faulted.fetch_add(1, Ordering::SeqCst);
        }
        let (status, reply) = match fault {
            RpcFault::Down => return,
            RpcFault::Errors => error_reply(&upstream, &body),
            RpcFault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                forward(&upstream, body).await
            }
            RpcFault::None => forward(&upstream, body).await,
        };
        let head =
            format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            if status == 200 { "OK" } else { "Service Unavailable" },
            reply.len()
        );
        let stream = stream.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&reply).await.is_err()
        {
            return;
        }
    }
}

/// Reads one request's body (by `content-length`); `None` when the connection ends.
async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn forward(upstream: &Upstream, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = upstream
        .client
        .post(&upstream.url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            (
                status,
                response
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default(),
            )
        }
        Err(_) => (503, Vec::new()),
    }
}

/// A 503 or a JSON-RPC internal error (with the request's id), alternately.
fn error_reply(upstream: &Upstream, body: &[u8]) -> (u16, Vec<u8>) {
    if upstream
        .replies
        .fetch_add(1, Ordering::SeqCst)
        .is_multiple_of(2)
    {
        return (503, b"upstream unavailable".to_vec());
    }
    let error = |request: &Value| {
        json!({
            "jsonrpc": "2.0",
            "id": request.get("id").cloned().unwrap_or(Value::Null),
            "error": {"code": -32603, "message": "relay: internal error"}
        })
    };
    let reply = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => Value::Array(batch.iter().map(error).collect()),
        Ok(request) => error(&request),
        Err(_) => error(&Value::Null),
    };
    (200, reply.to_string().into_bytes())
}
