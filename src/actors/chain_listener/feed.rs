//! The connection task behind `ChainListener`: connects the websocket, subscribes to new heads
//! and to our logs, reads our registration state, checks the remembered block hashes against
//! the chain (a reorg while we were away), backfills from the checkpoint with `eth_getLogs` and
//! then forwards live heads and logs, all into one bounded channel.
//!
//! Owns the websocket provider for its lifetime. Ends (closing the channel) on any error, when a
//! subscription ends, or when the watchdog finds the socket dead: no new head for
//! `head_timeout` and a request over the same socket gets no answer, or the chain moved on
//! without telling us. The actor then reconnects. Subscribing before the backfill means no log
//! can fall between the two; duplicates are removed by the actor.

use std::collections::HashMap;
use std::time::Duration;

use ethers::providers::{Middleware, Provider, StreamExt, Ws};
use ethers::types::Log;
use futures::channel::mpsc;
use futures::SinkExt;
use tokio::time::Instant;
use url::Url;

use crate::chain::events::executor_filter;
use crate::chain::jobs_events::{job_created_filter, job_responded_filter, JOB_CREATED_TOPIC};
use crate::chain::rpc::{ChainRpc, ExecutorRecord, RpcError};
use crate::domain::Address;
use crate::domain::ExecutionEnv;
use crate::metrics::chain::ReconnectCause;

/// Largest block range asked of `eth_getLogs` at once; halved while the endpoint refuses.
const BACKFILL_RANGE: u64 = 2_000;
/// Block timestamps remembered for attaching to job logs.
const TIMESTAMP_CACHE: usize = 256;

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
    /// Remembered blocks from `fork` on are no longer on the chain; their logs will be read
    /// again by the backfill that follows.
    Reorg {
        /// The lowest replaced block.
        fork: u64,
    },
    /// A block header from the subscription.
    Head(Head),
    /// A log from the backfill or the subscription, with its block's timestamp when known.
    Log {
        /// The log.
        log: Box<Log>,
        /// Unix seconds of the log's block (fetched for `JobCreated` logs only).
        timestamp: Option<u64>,
    },
    /// Backfill reached `block`; live items follow.
    Synced {
        /// The head at backfill time.
        block: u64,
    },
}

/// The part of a header the listener needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) number: u64,
    pub(crate) hash: [u8; 32],
    pub(crate) parent: [u8; 32],
}

/// Why the feed ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    /// The websocket could not be opened in time.
    #[error("websocket connect failed")]
    Connect(#[source] Option<ethers::providers::ProviderError>),
    /// A JSON-RPC call failed.
    #[error("chain RPC failed")]
    Rpc(#[from] RpcError),
    /// The subscription request failed.
    #[error("log subscription failed")]
    Subscribe(#[source] ethers::providers::ProviderError),
    /// The actor is gone.
    #[error("listener stopped")]
    Closed,
    /// A subscription stream ended (socket closed).
    #[error("subscription ended")]
    Ended,
    /// No new head for too long and the socket did not answer a request.
    #[error("websocket silent for {0:?} and not answering")]
    Stalled(Duration),
    /// The chain moved on but the subscription told us nothing.
    #[error("subscription missed new blocks")]
    MissedHeads,
}

impl FeedError {
    /// The reconnect cause for the metrics; `None` when the listener itself stopped.
    pub(crate) fn cause(&self) -> Option<ReconnectCause> {
        Some(match self {
            Self::Connect(_) => ReconnectCause::Connect,
            Self::Rpc(_) => ReconnectCause::Rpc,
            Self::Subscribe(_) => ReconnectCause::Subscribe,
            Self::Closed => return None,
            Self::Ended => ReconnectCause::Ended,
            Self::Stalled(_) => ReconnectCause::Stalled,
            Self::MissedHeads => ReconnectCause::MissedHeads,
        })
    }
}

/// Where to connect and what to watch.
#[derive(Debug, Clone)]
pub(crate) struct FeedSettings {
    pub(crate) ws_url: Url,
    pub(crate) executors: Address,
    pub(crate) jobs: Address,
    pub(crate) enclave: Address,
    pub(crate) connect_timeout: Duration,
    pub(crate) head_timeout: Duration,
    /// Counts backfill ranges (and, in the listener, heads and reconnects).
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// Where the previous connection stopped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resume {
    /// First block whose logs may be unhandled; `None` on a first start (start at the head).
    pub(crate) next_block: Option<u64>,
    /// Remembered block hashes, checked against the chain before the backfill.
    pub(crate) hashes: Vec<(u64, [u8; 32])>,
}

/// Runs one connection until it fails, counting why it ended.
pub(crate) async fn run_feed(
    settings: FeedSettings,
    rpc: ChainRpc,
    resume: Resume,
    out: mpsc::Sender<FeedItem>,
) -> Result<(), FeedError> {
    let metrics = std::sync::Arc::clone(&settings.metrics);
    let ended = run_connection(settings, rpc, resume, out).await;
    if let Some(cause) = ended.as_ref().err().and_then(FeedError::cause) {
        metrics.chain.reconnect(cause);
    }
    ended
}

async fn run_connection(
    settings: FeedSettings,
    rpc: ChainRpc,
    resume: Resume,
    out: mpsc::Sender<FeedItem>,
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
    let heads = provider
        .subscribe_blocks()
        .await
        .map_err(FeedError::Subscribe)?;
    let mut streams = Vec::with_capacity(filters.len());
    for filter in &filters {
        streams.push(
            provider
                .subscribe_logs(filter)
                .await
                .map_err(FeedError::Subscribe)?,
        );
    }
    let live = futures::stream::select_all(streams);

    let mut feed = Feed {
        settings,
        rpc,
        out,
        timestamps: HashMap::new(),
    };
    let head = feed.rpc.block_number().await?;
    let record = feed
        .rpc
        .executor_record(feed.settings.executors, feed.settings.enclave)
        .await?;
    feed.send(FeedItem::State {
        record,
        block: head,
    })
    .await?;
    let fork = feed.find_fork(&resume.hashes).await?;
    if let Some(fork) = fork {
        feed.send(FeedItem::Reorg { fork }).await?;
    }
    let from = match (resume.next_block, fork) {
        (Some(next), Some(fork)) => next.min(fork),
        (Some(next), None) => next,
        (None, _) => head.saturating_add(1),
    };
    feed.backfill(&filters, from, head).await?;
    feed.send(FeedItem::Synced { block: head }).await?;
    feed.follow(&provider, heads, live, head).await
}

/// One connection's state.
struct Feed {
    settings: FeedSettings,
    rpc: ChainRpc,
    out: mpsc::Sender<FeedItem>,
    timestamps: HashMap<[u8; 32], u64>,
}

impl Feed {
    async fn send(&mut self, item: FeedItem) -> Result<(), FeedError> {
        self.out.send(item).await.map_err(|_| FeedError::Closed)
    }

    /// The lowest remembered block whose hash the chain no longer has, checking from the top
    /// down and stopping at the first that still matches (usually the very first).
    async fn find_fork(&self, hashes: &[(u64, [u8; 32])]) -> Result<Option<u64>, FeedError> {
        let mut fork = None;
        for (number, hash) in hashes.iter().rev() {
            if self.rpc.block_hash(*number).await? == Some(*hash) {
                break;
            }
            fork = Some(*number);
        }
        Ok(fork)
    }

    /// Sends every log in `from..=to`, in chain order, in ranges the endpoint accepts.
    async fn backfill(
        &mut self,
        filters: &[ethers::types::Filter],
        mut from: u64,
        to: u64,
    ) -> Result<(), FeedError> {
        let mut range = BACKFILL_RANGE;
        while from <= to {
            let end = to.min(from.saturating_add(range - 1));
            let mut logs = Vec::new();
            let mut refused = None;
            for filter in filters {
                match self.rpc.logs(filter, from, end).await {
                    Ok(found) => logs.extend(found),
                    Err(error) => {
                        refused = Some(error);
                        break;
                    }
                }
            }
            if let Some(error) = refused {
                // "Too many results" and its many spellings: try a smaller range, down to one
                // block; a single block that still fails is a real failure.
                if range == 1 {
                    return Err(error.into());
                }
                range = (range / 2).max(1);
                continue;
            }
            self.settings.metrics.chain.backfill_range();
            // One stream in chain order, whichever filter a log came from.
            logs.sort_by_key(|log| (log.block_number, log.log_index));
            for log in logs {
                self.forward_log(log).await?;
            }
            from = end.saturating_add(1);
        }
        Ok(())
    }

    /// Forwards a log; a `JobCreated` carries its block's timestamp (the job's execution
    /// start). No other log needs one, so no other log costs a block fetch.
    async fn forward_log(&mut self, log: Log) -> Result<(), FeedError> {
        let job_created = log.address.0 == self.settings.jobs.0
            && log.topics.first().map(|topic| topic.0) == Some(JOB_CREATED_TOPIC);
        let timestamp = match (job_created, log.block_hash) {
            (true, Some(hash)) => self.timestamp(hash.0).await?,
            _ => None,
        };
        self.send(FeedItem::Log {
            log: Box::new(log),
            timestamp,
        })
        .await
    }

    async fn timestamp(&mut self, hash: [u8; 32]) -> Result<Option<u64>, FeedError> {
        if let Some(timestamp) = self.timestamps.get(&hash) {
            return Ok(Some(*timestamp));
        }
        let timestamp = self.rpc.block_timestamp(hash).await?;
        if let Some(timestamp) = timestamp {
            self.remember_timestamp(hash, timestamp);
        }
        Ok(timestamp)
    }

    fn remember_timestamp(&mut self, hash: [u8; 32], timestamp: u64) {
        if self.timestamps.len() >= TIMESTAMP_CACHE {
            self.timestamps.clear();
        }
        self.timestamps.insert(hash, timestamp);
    }

    /// Forwards live heads and logs until the connection fails or goes silent.
    async fn follow(
        &mut self,
        provider: &Provider<Ws>,
        mut heads: impl futures::Stream<Item = ethers::types::Block<ethers::types::H256>> + Unpin,
        mut live: impl futures::Stream<Item = Log> + Unpin,
        mut last_number: u64,
    ) -> Result<(), FeedError> {
        let head_timeout = self.settings.head_timeout;
        let mut last_head = Instant::now();
        loop {
            tokio::select! {
                head = heads.next() => {
                    let head = head.ok_or(FeedError::Ended)?;
                    last_head = Instant::now();
                    let (Some(number), Some(hash)) = (head.number, head.hash) else { continue };
                    last_number = last_number.max(number.as_u64());
                    self.remember_timestamp(hash.0, head.timestamp.min(u64::MAX.into()).as_u64());
                    self.send(FeedItem::Head(Head {
                        number: number.as_u64(),
                        hash: hash.0,
                        parent: head.parent_hash.0,
                    }))
                    .await?;
                }
                log = live.next() => self.forward_log(log.ok_or(FeedError::Ended)?).await?,
                () = tokio::time::sleep_until(last_head + head_timeout) => {
                    // Silence: an idle chain, or a dead socket. Ask over the same socket.
                    let probe = tokio::time::timeout(self.settings.connect_timeout, provider.get_block_number());
                    match probe.await {
                        Ok(Ok(number)) if number.as_u64() <= last_number => last_head = Instant::now(),
                        Ok(Ok(_)) => return Err(FeedError::MissedHeads),
                        _ => return Err(FeedError::Stalled(head_timeout)),
                    }
                }
            }
        }
    }
}
