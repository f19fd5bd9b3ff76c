//! `ChainListener` watches `Executors` for this enclave's registration (telling `NodeSetup` and
//! `JobScheduler`) and `Jobs` for `JobCreated` in our environment and `JobResponded` (telling
//! `JobScheduler`).
//!
//! Receives: `FeedItem`s from its own connection task (`feed::run_feed`). Sends:
//! [`ExecutorRegistered`], [`ExecutorDeregistered`] to `NodeSetup`, [`ServingChanged`],
//! [`ChainJobCreated`], [`ChainJobResponded`] and [`ChainReorged`] to `JobScheduler`. Owns the
//! [`Checkpoint`] (first unhandled block and recent block hashes, saved atomically so a restart
//! resumes where it stopped), a de-duplication window and the reconnect backoff.
//!
//! Reorgs: every head and log hash is compared with the remembered one; a mismatch (or a log
//! marked `removed`) reconnects at once, and the new connection finds the fork, tells the
//! scheduler and reads the replaced blocks again. Supervised: when the connection ends the
//! actor stops, the supervisor restarts it, and it reconnects after a capped, jittered backoff.
//! It starts with the node, not with any HTTP call. A process start re-reads the last
//! [`RESTART_LOOKBACK_BLOCKS`] below the checkpoint: the scheduler's book of jobs lives in
//! memory only, so jobs seen before a crash (their outputs lost with the process, their timeout
//! reports not sent yet) are delivered again; what is done already is recognised from the
//! `JobResponded` logs read with them. Its [`ListenerStatus`] tells `GET /ready/chain` whether it is
//! connected; it counts heads, reconnects, reorgs and the checkpoint into the shared
//! `ChainMetrics`.

mod feed;
mod lifecycle;
mod status;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::{ActorContext, AsyncContext, Context, Recipient, StreamHandler};
use futures::channel::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::chain::checkpoint::{Checkpoint, CheckpointStore};
use crate::chain::events::{decode_executor_log, log_position, ExecutorLog, LogPosition};
use crate::chain::jobs_events::{decode_jobs_log, JobsLog};
use crate::chain::rpc::ChainRpc;
use crate::config::ChainConfig;
use crate::domain::Address;
use crate::messages::chain::{ExecutorDeregistered, ExecutorRegistered};
use crate::messages::jobs::{
    ChainJobCreated, ChainJobResponded, ChainReorged, LogBlock, ServingChanged,
};
use crate::metrics::chain::ReconnectCause;
use crate::metrics::Metrics;
use feed::{run_feed, FeedItem, FeedSettings, Head, Resume};
pub use status::ListenerStatus;

/// Logs remembered for de-duplication (the overlap between backfill and live logs).
const DEDUPE_WINDOW: usize = 4096;
const FEED_CAPACITY: usize = 64;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// How often a changed checkpoint is written (it is also written at once after a backfill
/// or a reorg). A crash loses at most this much progress, which is read again on restart.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Blocks below the saved checkpoint re-read when the process starts, so that jobs seen before
/// a crash are known again (see the module doc).
pub const RESTART_LOOKBACK_BLOCKS: u64 = 1024;

/// Where `ChainListener` delivers what it sees.
#[derive(Debug, Clone)]
pub struct ChainSink {
    /// Told when we are (found to be) registered.
    pub registered: Recipient<ExecutorRegistered>,
    /// Told when we are (found to be) not registered.
    pub deregistered: Recipient<ExecutorDeregistered>,
    /// Told whether the node is registered and so may take chain jobs.
    pub serving: Recipient<ServingChanged>,
    /// Told of every `JobCreated` for our environment.
    pub jobs: Recipient<ChainJobCreated>,
    /// Told of every `JobResponded`.
    pub responded: Recipient<ChainJobResponded>,
    /// Told when blocks it was given logs from were replaced.
    pub reorged: Recipient<ChainReorged>,
    /// Set while connected and synced.
    pub status: ListenerStatus,
}

/// The chain watcher.
#[derive(Debug)]
pub struct ChainListener {
    settings: FeedSettings,
    rpc: ChainRpc,
    sink: ChainSink,
    store: CheckpointStore,
    checkpoint: Checkpoint,
    /// False until a first backfill established (or a saved file provided) a checkpoint.
    has_checkpoint: bool,
    dirty: bool,
    seen: HashSet<LogPosition>,
    seen_order: VecDeque<LogPosition>,
    backoff: Backoff,
    restarted: bool,
    reconnect_now: bool,
    feed: Option<JoinHandle<()>>,
}

impl ChainListener {
    /// A listener for `enclave` on the configured contracts, resuming from the saved
    /// checkpoint if there is one.
    pub fn new(
        chain: &ChainConfig,
        rpc: ChainRpc,
        enclave: Address,
        sink: ChainSink,
        metrics: Arc<Metrics>,
    ) -> Self {
        let store = CheckpointStore::new(&chain.state_dir);
        let saved = match store.load() {
            Ok(saved) => saved,
            Err(error) => {
                error!(%error, "Chain checkpoint unreadable; starting from the chain head.");
                None
            }
        };
        let saved = saved.map(|mut saved| {
            let checkpoint = saved.next_block;
            saved.next_block = checkpoint.saturating_sub(RESTART_LOOKBACK_BLOCKS);
            info!(
                checkpoint,
                from = saved.next_block,
                "Resuming from the saved chain checkpoint; recent blocks are read again."
            );
            saved
        });
        Self {
            settings: FeedSettings {
                ws_url: chain.ws_rpc_url.clone(),
                executors: chain.executors,
                jobs: chain.jobs,
                enclave,
                connect_timeout: chain.rpc_timeout,
                head_timeout: chain.head_timeout,
                metrics,
            },
            rpc,
            sink,
            store,
            has_checkpoint: saved.is_some(),
            checkpoint: saved.unwrap_or_default(),
            dirty: false,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            backoff: Backoff::new(MIN_BACKOFF, chain.reconnect_max_backoff),
            restarted: false,
            reconnect_now: false,
            feed: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        let settings = self.settings.clone();
        let rpc = self.rpc.clone();
        let resume = Resume {
            next_block: self.has_checkpoint.then_some(self.checkpoint.next_block),
            hashes: self
                .checkpoint
                .hashes
                .iter()
                .map(|(number, hash)| (*number, *hash))
                .collect(),
        };
        self.feed = Some(tokio::spawn(async move {
            if let Err(error) = run_feed(settings, rpc, resume, sender).await {
                warn!(error = %error, source = ?std::error::Error::source(&error), "Chain connection ended.");
            }
        }));
        ctx.add_stream(receiver);
    }

    /// A hash we remembered changed: drop this connection and let the next one find the fork.
    fn suspect_reorg(&mut self, block: u64, ctx: &mut Context<Self>) {
        warn!(
            block,
            "Block hash changed: chain reorganisation; re-reading from the fork."
        );
        self.reconnect_now = true;
        self.settings.metrics.chain.reconnect(ReconnectCause::Reorg);
        ctx.stop();
    }

    fn on_head(&mut self, head: Head, ctx: &mut Context<Self>) {
        if let Some(block) = self
            .checkpoint
            .observe_head(head.number, head.hash, head.parent)
        {
            return self.suspect_reorg(block, ctx);
        }
        self.settings.metrics.chain.head(head.number);
        // Logs of a block arrive with it; a newer head means the blocks below are complete.
        self.checkpoint.advance_to(head.number);
        self.dirty = true;
    }

    fn on_log(
        &mut self,
        log: &ethers::types::Log,
        timestamp: Option<u64>,
        ctx: &mut Context<Self>,
    ) {
        let Ok(position) = log_position(log) else {
            return;
        };
        let Some(hash) = log.block_hash.map(|hash| hash.0) else {
            return;
        };
        if log.removed == Some(true) {
            return self.suspect_reorg(position.block_number, ctx);
        }
        if let Some(block) = self.checkpoint.observe(position.block_number, hash) {
            return self.suspect_reorg(block, ctx);
        }
        if !self.remember(position) {
            return;
        }
        let block = LogBlock {
            number: position.block_number,
            hash,
            timestamp,
        };
        if log.address.0 == self.settings.jobs.0 {
            return self.on_jobs_log(log, block);
        }
        match decode_executor_log(log, self.settings.enclave) {
            Ok(ExecutorLog::Registered {
                owner,
                job_capacity,
                env,
            }) => self.announce(
                Some(ExecutorRegistered {
                    owner,
                    job_capacity,
                    env,
                    block_number: Some(position.block_number),
                }),
                Some(position.block_number),
            ),
            Ok(ExecutorLog::Deregistered) => self.announce(None, Some(position.block_number)),
            Err(error) => {
                debug!(error = %error, block = position.block_number, "Ignored an undecodable log.")
            }
        }
    }

    /// Tells `NodeSetup` and the scheduler whether we are registered (`Some`) or not, as a log
    /// at `block_number` or the contract's state (`None`) says.
    fn announce(&self, registration: Option<ExecutorRegistered>, block_number: Option<u64>) {
        self.sink.serving.do_send(ServingChanged {
            serving: registration.is_some(),
        });
        match registration {
            Some(registered) => self.sink.registered.do_send(registered),
            None => self
                .sink
                .deregistered
                .do_send(ExecutorDeregistered { block_number }),
        }
    }

    fn on_jobs_log(&mut self, log: &ethers::types::Log, block: LogBlock) {
        match decode_jobs_log(log) {
            Ok(JobsLog::Created(job)) => self.sink.jobs.do_send(ChainJobCreated {
                job,
                block,
                seen: tokio::time::Instant::now(),
            }),
            Ok(JobsLog::Responded(responded)) => self.sink.responded.do_send(ChainJobResponded {
                job_id: responded.job_id,
                executor: responded.executor,
                output_count: responded.output_count,
                block_number: block.number,
            }),
            Err(error) => {
                debug!(error = %error, block = block.number, "Ignored an undecodable log.")
            }
        }
    }

    fn on_reorg(&mut self, fork: u64) {
        warn!(
            fork,
            "Blocks from the fork on were replaced; their jobs are re-read."
        );
        self.settings.metrics.chain.reorg();
        self.checkpoint.rewind_to(fork);
        self.seen.retain(|position| position.block_number < fork);
        self.seen_order
            .retain(|position| position.block_number < fork);
        self.sink.reorged.do_send(ChainReorged { fork });
        self.save();
    }

    /// Records a log position; false if it was already handled.
    fn remember(&mut self, position: LogPosition) -> bool {
        if !self.seen.insert(position) {
            return false;
        }
        self.seen_order.push_back(position);
        if self.seen_order.len() > DEDUPE_WINDOW {
            if let Some(oldest) = self.seen_order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        true
    }

    fn save(&mut self) {
        if !self.has_checkpoint {
            return;
        }
        match self.store.save(&self.checkpoint) {
            Ok(()) => {
                self.dirty = false;
                let done = self.checkpoint.next_block.saturating_sub(1);
                self.settings.metrics.chain.checkpoint(done);
            }
            Err(error) => warn!(%error, "Chain checkpoint not saved; will retry."),
        }
    }
}

impl StreamHandler<FeedItem> for ChainListener {
    fn handle(&mut self, item: FeedItem, ctx: &mut Context<Self>) {
        match item {
            FeedItem::State { record, block } => {
                debug!(
                    block,
                    registered = record.is_some(),
                    "Registration state read."
                );
                let registration = record.map(|record| ExecutorRegistered {
                    owner: record.owner,
                    job_capacity: record.job_capacity,
                    env: record.env,
                    block_number: None,
                });
                self.announce(registration, None);
            }
            FeedItem::Reorg { fork } => self.on_reorg(fork),
            FeedItem::Head(head) => self.on_head(head, ctx),
            FeedItem::Log { log, timestamp } => self.on_log(&log, timestamp, ctx),
            FeedItem::Synced { block } => {
                // Every log up to `block` is handled; a reconnect re-reads from after it.
                self.has_checkpoint = true;
                self.checkpoint.advance_to(block.saturating_add(1));
                self.save();
                self.backoff.reset();
                self.sink.status.set_connected(true);
                info!(block, enclave = %self.settings.enclave, "Chain listener synced.");
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
