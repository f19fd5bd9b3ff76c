//! Test harness: real anvil with our contracts deployed, the real node binary on free loopback
//! ports, owner-signed admin calls computed independently of the node (ethers' EIP-712
//! `TypedData`), and condition-based waiting. Every process is stopped by PID on drop.

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

/// Every listed test (an `async fn(mode: &'static str)`), once per execution mode: all modes
/// must give the same outputs and outcome codes. Use with `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! in_every_mode {
    ($($test:ident),* $(,)?) => {
        mod cold {
            $( #[tokio::test] async fn $test() { super::$test("cold").await } )*
        }
        mod prewarmed {
            $( #[tokio::test] async fn $test() { super::$test("prewarmed").await } )*
        }
        mod isolate {
            $( #[tokio::test] async fn $test() { super::$test("isolate").await } )*
        }
    };
}

pub mod balancer;
mod chain;
pub mod contracts;
pub mod faults;
pub mod http_relay;
pub mod jobs;
mod node;
pub mod proxy;
mod signing;

pub use chain::{Anvil, Deployment, TestChain};
pub use node::*;
pub use signing::*;

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// Anvil's development keys (public knowledge; local chain only).
pub const DEPLOYER_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const OWNER_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const GAS_KEY: &str = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
pub const STRANGER_KEY: &str = "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
/// A second gas key, for a second node on the same chain.
pub const SECOND_GAS_KEY: &str = "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
/// A third gas key, for a third node (anvil's account 5).
pub const THIRD_GAS_KEY: &str = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
pub const CHAIN_ID: u64 = 31337;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed by `scripts/setup.sh`; fails the test with what to run if missing.
pub fn tool(name: &str) -> PathBuf {
    let path = repo().join(".tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh first",
        path.display()
    );
    path
}

/// A loopback port free now and never handed out before by this test process.
///
/// Ports come from a counter below the kernel's ephemeral range (32768 and up), each checked
/// by binding it: `bind(0)` may give the same ephemeral port to two calls in a row once the
/// first is closed (a node then found its metrics port taken by its own HTTP listener), and an
/// ephemeral port can be taken by any outgoing connection before the process meant to listen
/// on it starts. Each test process starts at its own offset (by pid), so the test binaries of a
/// run, which may leave processes behind for a moment, rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const COUNT: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 211) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        poll_until(timeout, condition).await,
        "timed out waiting for {what}"
    );
}

/// As [`wait_until`], but returns whether `condition` held, so that the caller can fail with
/// its own message (e.g. the node's log).
pub async fn poll_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Kills and reaps a child process; used by every drop.
pub(crate) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a bench binary runs under `cargo bench` (which passes `--bench`) rather than
/// `cargo test --all-targets`, where a whole measurement (minutes, debug build) would only slow
/// the test suite.
pub fn under_cargo_bench() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// For the benches: the median of `mine[i] - theirs[i]` (NaN for none). For two series taken in
/// turn this cancels what the machine did to both, which moves each series' own median.
pub fn paired_median(mine: &[f64], theirs: &[f64]) -> f64 {
    let mut differences: Vec<f64> = mine.iter().zip(theirs).map(|(a, b)| a - b).collect();
    differences.sort_by(f64::total_cmp);
    differences
        .get(differences.len() / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
