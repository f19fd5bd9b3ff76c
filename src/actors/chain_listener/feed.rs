//! The connection task behind `ChainListener`: connects the websocket, reads our registration
//! state, subscribes to our `Executors` logs, backfills from the checkpoint with `eth_getLogs`
//! and then forwards live logs, all into one bounded channel.
//!
//! Owns the websocket provider for its lifetime. Ends (closing the channel) on any error or when
//! the subscription ends; the actor then restarts it with backoff. Subscribing before the
//! backfill means no log can fall between the two; duplicates are removed by the actor.

use std::time::Duration;

use ethers::providers::{Middleware, Provider, StreamExt, Ws};
use ethers::types::Log;
use futures::channel::mpsc;
use futures::SinkExt;
use url::Url;

use crate::chain::events::executor_filter;
use crate::chain::jobs_events::{job_created_filter, job_responded_filter};
use crate::chain::rpc::{ChainRpc, ExecutorRecord};
use crate::domain::Address;
use crate::domain::ExecutionEnv;

/// Largest block range asked of `eth_getLogs` at once.
const BACKFILL_RANGE: u64 = 2_000;

/// What the feed tells the actor, in order.
#[derive(Debug)]
pub(crate) enum FeedItem {
    /// Our registration as the contract states it at `block`.
    State {
        /// `None`: not registered.
        record: Option<ExecutorRecord>,
        /// The block the state was read at; backfill starts after it on a first start.
        block: u64,
    },
    /// A log from the backfill or the subscription.
    Log(Box<Log>),
    /// Backfill reached `block`; live logs follow.
    Synced {
        /// The head at backfill time.
        block: u64,
    },
}

/// Why the feed ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    /// The websocket could not be opened in time.
    #[error("websocket connect failed")]
    Connect(#[source] Option<ethers::providers::ProviderError>),
    /// A subscription or RPC call failed.
    #[error("chain RPC failed")]
    Rpc(#[from] crate::chain::rpc::RpcError),
    /// The subscription request failed.
    #[error("log subscription failed")]
    Subscribe(#[source] ethers::providers::ProviderError),
    /// The actor is gone.
    #[error("listener stopped")]
    Closed,
    /// The subscription stream ended (socket closed).
    #[error("log subscription ended")]
    Ended,
}

/// Where to connect and what to watch.
#[derive(Debug, Clone)]
pub(crate) struct FeedSettings {
    pub(crate) ws_url: Url,
    pub(crate) executors: Address,
    pub(crate) jobs: Address,
    pub(crate) enclave: Address,
    pub(crate) connect_timeout: Duration,
}

/// Runs one connection until it fails. `checkpoint` is the first block to backfill from.
pub(crate) async fn run_feed(
    settings: FeedSettings,
    rpc: ChainRpc,
    checkpoint: Option<u64>,
    mut out: mpsc::Sender<FeedItem>,
) -> Result<(), FeedError> {
    let connect = Provider::<Ws>::connect_with_reconnects(settings.ws_url.as_str(), 0);
    let provider = tokio::time::timeout(settings.connect_timeout, connect)
        .await
        .map_err(|_| FeedError::Connect(None))?
        .map_err(|error| FeedError::Connect(Some(error)))?;
    let filters = [
        executor_filter(settings.executors, settings.enclave),
        job_created_filter(settings.jobs, ExecutionEnv::JAVASCRIPT),
        job_responded_filter(settings.jobs),
    ];
    let mut streams = Vec::with_capacity(filters.len());
    for filter in &filters {
        streams.push(
            provider
                .subscribe_logs(filter)
                .await
                .map_err(FeedError::Subscribe)?,
        );
    }
    let mut live = futures::stream::select_all(streams);

    let head = rpc.block_number().await?;
    let record = rpc
        .executor_record(settings.executors, settings.enclave)
        .await?;
    send(
        &mut out,
        FeedItem::State {
            record,
            block: head,
        },
    )
    .await?;
    let mut from = checkpoint.unwrap_or(head.saturating_add(1));
    while from <= head {
        let to = head.min(from.saturating_add(BACKFILL_RANGE - 1));
        let mut logs = Vec::new();
        for filter in &filters {
            logs.extend(rpc.logs(filter, from, to).await?);
        }
        // One stream in chain order, whichever filter a log came from.
        logs.sort_by_key(|log| (log.block_number, log.log_index));
        for log in logs {
            send(&mut out, FeedItem::Log(Box::new(log))).await?;
        }
        from = to.saturating_add(1);
    }
    send(&mut out, FeedItem::Synced { block: head }).await?;

    while let Some(log) = live.next().await {
        send(&mut out, FeedItem::Log(Box::new(log))).await?;
    }
    Err(FeedError::Ended)
}

async fn send(out: &mut mpsc::Sender<FeedItem>, item: FeedItem) -> Result<(), FeedError> {
    out.send(item).await.map_err(|_| FeedError::Closed)
}
