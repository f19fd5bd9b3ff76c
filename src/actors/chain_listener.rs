//! `ChainListener` watches `Executors` for this enclave's registration (telling `NodeSetup`) and
//! `Jobs` for `JobCreated` in our environment (telling `JobScheduler`).
//!
//! Receives: `FeedItem`s from its own connection task (`feed::run_feed`). Sends:
//! [`ExecutorRegistered`], [`ExecutorDeregistered`] to `NodeSetup`, [`ChainJobCreated`] to
//! `JobScheduler`. Owns the checkpoint (the
//! highest block it has logs from), a de-duplication window and the reconnect backoff.
//! Supervised: when the connection ends the actor stops, the supervisor restarts it, and it
//! reconnects after a capped, jittered backoff, backfilling from the checkpoint. It starts with
//! the node, not with any HTTP call.

mod feed;

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Recipient, StreamHandler, Supervised};
use futures::channel::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::chain::events::{decode_executor_log, log_position, ExecutorLog, LogPosition};
use crate::chain::jobs_events::{decode_jobs_log, JobsLog};
use crate::chain::rpc::ChainRpc;
use crate::config::ChainConfig;
use crate::domain::Address;
use crate::messages::chain::{ExecutorDeregistered, ExecutorRegistered};
use crate::messages::jobs::{ChainJobCreated, ChainJobResponded};
use feed::{run_feed, FeedItem, FeedSettings};

/// Logs remembered for de-duplication (the overlap between backfill and live logs).
const DEDUPE_WINDOW: usize = 4096;
const FEED_CAPACITY: usize = 64;
const MIN_BACKOFF: Duration = Duration::from_millis(250);

/// Where `ChainListener` delivers what it sees.
#[derive(Debug, Clone)]
pub struct ChainSink {
    /// Told when we are (found to be) registered.
    pub registered: Recipient<ExecutorRegistered>,
    /// Told when we are (found to be) not registered.
    pub deregistered: Recipient<ExecutorDeregistered>,
    /// Told of every `JobCreated` for our environment.
    pub jobs: Recipient<ChainJobCreated>,
    /// Told of every `JobResponded`.
    pub responded: Recipient<ChainJobResponded>,
}

/// The registration watcher.
#[derive(Debug)]
pub struct ChainListener {
    settings: FeedSettings,
    rpc: ChainRpc,
    sink: ChainSink,
    checkpoint: Option<u64>,
    seen: HashSet<LogPosition>,
    seen_order: VecDeque<LogPosition>,
    backoff: Backoff,
    restarted: bool,
    feed: Option<JoinHandle<()>>,
}

impl ChainListener {
    /// A listener for `enclave`'s registration on the configured `Executors`.
    pub fn new(chain: &ChainConfig, rpc: ChainRpc, enclave: Address, sink: ChainSink) -> Self {
        Self {
            settings: FeedSettings {
                ws_url: chain.ws_rpc_url.clone(),
                executors: chain.executors,
                jobs: chain.jobs,
                enclave,
                connect_timeout: chain.rpc_timeout,
            },
            rpc,
            sink,
            checkpoint: None,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            backoff: Backoff::new(MIN_BACKOFF, chain.reconnect_max_backoff),
            restarted: false,
            feed: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        let settings = self.settings.clone();
        let rpc = self.rpc.clone();
        let checkpoint = self.checkpoint;
        self.feed = Some(tokio::spawn(async move {
            if let Err(error) = run_feed(settings, rpc, checkpoint, sender).await {
                warn!(error = %error, source = ?std::error::Error::source(&error), "Chain connection ended.");
            }
        }));
        ctx.add_stream(receiver);
    }

    fn on_log(&mut self, log: &ethers::types::Log) {
        let Ok(position) = log_position(log) else {
            return;
        };
        if !self.remember(position) {
            return;
        }
        self.checkpoint = Some(self.checkpoint.unwrap_or(0).max(position.block_number));
        if log.address.0 == self.settings.jobs.0 {
            return self.on_jobs_log(log, position.block_number);
        }
        match decode_executor_log(log, self.settings.enclave) {
            Ok(ExecutorLog::Registered {
                owner,
                job_capacity,
                env,
            }) => {
                self.sink.registered.do_send(ExecutorRegistered {
                    owner,
                    job_capacity,
                    env,
                    block_number: Some(position.block_number),
                });
            }
            Ok(ExecutorLog::Deregistered) => self.sink.deregistered.do_send(ExecutorDeregistered {
                block_number: Some(position.block_number),
            }),
            Err(error) => {
                debug!(error = %error, block = position.block_number, "Ignored an undecodable log.")
            }
        }
    }

    fn on_jobs_log(&mut self, log: &ethers::types::Log, block: u64) {
        match decode_jobs_log(log) {
            Ok(JobsLog::Created(job)) => self.sink.jobs.do_send(ChainJobCreated { job }),
            Ok(JobsLog::Responded(responded)) => self.sink.responded.do_send(ChainJobResponded {
                job_id: responded.job_id,
                output_count: responded.output_count,
            }),
            Err(error) => debug!(error = %error, block, "Ignored an undecodable log."),
        }
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
}

impl Actor for ChainListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The first connection is immediate; a restart waits according to the backoff.
        let delay = if self.restarted {
            self.backoff.next_delay()
        } else {
            Duration::ZERO
        };
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
    }
}

impl Supervised for ChainListener {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarted = true;
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
        warn!(
            attempt = self.backoff.attempt(),
            "Chain listener restarting."
        );
    }
}

impl StreamHandler<FeedItem> for ChainListener {
    fn handle(&mut self, item: FeedItem, _: &mut Context<Self>) {
        match item {
            FeedItem::State { record, block } => {
                // A state read means the connection works; backfill resumes after it next time.
                self.checkpoint.get_or_insert(block.saturating_add(1));
                match record {
                    Some(record) => self.sink.registered.do_send(ExecutorRegistered {
                        owner: record.owner,
                        job_capacity: record.job_capacity,
                        env: record.env,
                        block_number: None,
                    }),
                    None => self
                        .sink
                        .deregistered
                        .do_send(ExecutorDeregistered { block_number: None }),
                }
            }
            FeedItem::Log(log) => self.on_log(&log),
            FeedItem::Synced { block } => {
                // Every log up to `block` is handled; a reconnect re-reads from that block on.
                self.checkpoint = Some(self.checkpoint.unwrap_or(0).max(block));
                self.backoff.reset();
                info!(block, enclave = %self.settings.enclave, "Chain listener synced.");
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
