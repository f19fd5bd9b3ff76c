//! `CodeStore` turns a code-upload transaction hash into the code it uploaded.
//!
//! Receives: [`FetchCode`]. Sends: `eth_getTransactionByHash` and `eth_getTransactionReceipt`
//! through [`ChainRpc`] (see `chain::code_tx`). Owns the byte-bounded LRU [`CodeCache`] and the
//! table of fetches in flight.
//!
//! Invariants:
//! - a cached hash costs no RPC at all;
//! - only successful decodes are cached: verdicts are answered but never remembered;
//! - a transaction that is missing or not mined yet is looked for again until the deadline
//!   (an RPC may serve the transaction before its block, or a moment before it knows it); only
//!   then is it outcome 1;
//! - transient RPC failures are retried with capped, jittered exponential backoff until the
//!   latest deadline of the requests waiting for that hash, and end as
//!   [`CodeError::Unavailable`], never as a job outcome;
//! - fetches never block the actor: each runs as a spawned actor future, so other hashes and
//!   cache hits proceed meanwhile, and concurrent requests for one hash share one fetch.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseFuture, WrapFuture};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::Backoff;
use crate::chain::code_tx::InvalidCodeTx;
use crate::chain::rpc::ChainRpc;
use crate::code::cache::CodeCache;
use crate::code::calldata::decode_code_calldata;
use crate::domain::{Address, TxHash};
use crate::messages::code::{CodeError, FetchCode, FetchedCode};

/// First retry delay ceiling after a transient failure.
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Retry delays stop growing here.
const MAX_RETRY: Duration = Duration::from_secs(2);

type CodeResult = Result<Arc<[u8]>, CodeError>;

/// The code fetcher and cache.
#[derive(Debug)]
pub struct CodeStore {
    rpc: ChainRpc,
    code_contract: Address,
    cache: CodeCache,
    in_flight: HashMap<TxHash, InFlight>,
}

/// Requests waiting on one fetch.
#[derive(Debug)]
struct InFlight {
    waiters: Vec<oneshot::Sender<CodeResult>>,
    /// The latest deadline among the waiters; the fetch retries until then.
    deadline: watch::Sender<Instant>,
    /// What the chain last said while the fetch keeps looking (missing, pending): the answer of
    /// a waiter whose own deadline comes first.
    last_said: watch::Receiver<Option<InvalidCodeTx>>,
}

impl CodeStore {
    /// A store reading transactions through `rpc`, accepting only calls to `code_contract`,
    /// caching at most `cache_bytes` of code (config `code_cache_bytes`).
    pub fn new(rpc: ChainRpc, code_contract: Address, cache_bytes: usize) -> Self {
        Self {
            rpc,
            code_contract,
            cache: CodeCache::new(cache_bytes),
            in_flight: HashMap::new(),
        }
    }

    /// Starts a fetch of `hash` that runs until it has an answer or `deadline` passes.
    fn spawn_fetch(
        &self,
        hash: TxHash,
        deadline: watch::Receiver<Instant>,
        last_said: watch::Sender<Option<InvalidCodeTx>>,
        ctx: &mut Context<Self>,
    ) {
        let fetch = fetch_until(
            self.rpc.clone(),
            hash,
            self.code_contract,
            deadline,
            last_said,
        );
        ctx.spawn(
            fetch
                .into_actor(self)
                .map(move |result, act, _| act.finish(hash, result)),
        );
    }

    /// Caches a successful fetch and answers everyone waiting for it.
    fn finish(&mut self, hash: TxHash, result: CodeResult) {
        if let Ok(code) = &result {
            let cached = self.cache.insert(hash, code.clone());
            debug!(code_tx = %hash, bytes = code.len(), cached, "Code fetched.");
        }
        let waiters = self.in_flight.remove(&hash).map(|entry| entry.waiters);
        for waiter in waiters.into_iter().flatten() {
            // A waiter whose own deadline passed has gone away; nothing to tell it.
            let _ = waiter.send(result.clone());
        }
    }
}

impl Actor for CodeStore {
    type Context = Context<Self>;
}

impl Handler<FetchCode> for CodeStore {
    type Result = ResponseFuture<Result<FetchedCode, CodeError>>;

    fn handle(&mut self, msg: FetchCode, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(code) = self.cache.get(&msg.code_tx) {
            let cached = FetchedCode { code, cached: true };
            return Box::pin(std::future::ready(Ok(cached)));
        }
        let (waiter, answer) = oneshot::channel();
        let last_said = match self.in_flight.entry(msg.code_tx) {
            Entry::Occupied(mut entry) => {
                let entry = entry.get_mut();
                entry.waiters.push(waiter);
                entry
                    .deadline
                    .send_modify(|latest| *latest = (*latest).max(msg.deadline));
                entry.last_said.clone()
            }
            Entry::Vacant(slot) => {
                let (deadline, watched) = watch::channel(msg.deadline);
                let (said, last_said) = watch::channel(None);
                slot.insert(InFlight {
                    waiters: vec![waiter],
                    deadline,
                    last_said: last_said.clone(),
                });
                self.spawn_fetch(msg.code_tx, watched, said, ctx);
                last_said
            }
        };
        Box::pin(async move {
            let fetched = |code| FetchedCode {
                code,
                cached: false,
            };
            match tokio::time::timeout_at(msg.deadline, answer).await {
                Ok(Ok(result)) => result.map(fetched),
                // Our deadline passed while the fetch goes on (for a later waiter): what the
                // chain last said is the verdict; nothing heard is no verdict.
                Err(_) => Err((*last_said.borrow()).map_or(CodeError::Unavailable, Into::into)),
                // The actor stopped before answering.
                Ok(Err(_)) => Err(CodeError::Unavailable),
            }
        })
    }
}

/// Fetches and decodes `hash`, retrying transient failures until the (possibly extended)
/// deadline. Definitive verdicts (reverted, a creation, another contract) and decoding errors end
/// the fetch at once; a transaction not found or not mined yet is looked for again until the
/// deadline, and only then is it a verdict (it may be mined, or the RPC's view catch up, a
/// moment later).
async fn fetch_until(
    rpc: ChainRpc,
    hash: TxHash,
    code_contract: Address,
    deadline: watch::Receiver<Instant>,
    last_said: watch::Sender<Option<InvalidCodeTx>>,
) -> CodeResult {
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let until = *deadline.borrow();
        if Instant::now() >= until {
            return Err((*last_said.borrow()).map_or(CodeError::Unavailable, Into::into));
        }
        match tokio::time::timeout_at(until, rpc.code_tx_input(hash, code_contract)).await {
            Ok(Ok(Ok(input))) => return Ok(decode_code_calldata(&input)?.into()),
            Ok(Ok(Err(verdict))) if verdict.may_change() => {
                debug!(code_tx = %hash, %verdict, "Code transaction not usable yet; looking again.");
                last_said.send_replace(Some(verdict));
            }
            Ok(Ok(Err(verdict))) => return Err(verdict.into()),
            Ok(Err(error)) => {
                debug!(code_tx = %hash, attempt = backoff.attempt(), ?error, "Code fetch failed; retrying.");
                last_said.send_replace(None);
            }
            // The deadline passed mid-call; the loop ends unless a new waiter extended it.
            Err(_) => continue,
        }
        let wake = Instant::now() + backoff.next_delay();
        tokio::time::sleep_until(wake.min(*deadline.borrow())).await;
    }
}
