//! The per-process client's connection handling, against a loopback HTTP/1.1 server that
//! counts the connections it accepts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `ok` to every request on every connection, keeping connections open; returns the
/// URL and the count of accepted connections.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buffer = [0u8; 1024];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..read]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, accepted)
}

async fn get(client: &reqwest::Client, url: &str) {
    let response = client.get(url).send().await.expect("request");
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"ok");
}

#[tokio::test]
async fn a_process_client_reuses_its_one_connection_and_shares_it_with_no_other() {
    let (url, accepted) = counting_server().await;
    let first = super::process_client().expect("client");
    for _ in 0..3 {
        get(&first, &url).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for one process"
    );
    // Another process's client (a later process on a reused port) never gets that connection.
    let second = super::process_client().expect("client");
    get(&second, &url).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_connection_idle_past_the_keep_limit_is_not_reused() {
    let (url, accepted) = counting_server().await;
    let client = super::process_client().expect("client");
    get(&client, &url).await;
    tokio::time::advance(super::KEEP_IDLE * 2).await;
    get(&client, &url).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
