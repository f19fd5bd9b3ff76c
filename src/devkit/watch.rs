//! `job watch ID`: prints each `JobResponded` of a job (executor, error code, total time,
//! output) and its final state, and exits once the job is settled: answered by every selected
//! executor (exit 0), slashed, or its answer window closed with answers missing (exit 4).
//!
//! Two ways to hear the chain: `--rpc` polls `eth_getLogs`; `--ws` subscribes to the job's logs
//! and to new heads (the window's end is judged by the latest block's time), then backfills
//! with `eth_getLogs` so nothing mined before the subscription is missed. Logs are deduplicated
//! by (transaction, log index), so a backfill after a reconnect prints nothing twice. A dropped
//! websocket (its streams end, or it leaves a ping unanswered: a half-dead socket announces
//! nothing) is said on stderr and reconnected after a growing pause; after `RECONNECTS` (5)
//! failed attempts in a row the watch fails (exit 1), naming the endpoint and the last reason.
//!
//! Receives [`WatchArgs`]; sends JSON-RPC reads only. Answers go to stdout, progress and
//! reconnects to stderr.

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use ethers::middleware::Middleware;
use ethers::providers::{Provider, ProviderError, StreamExt as _, Ws};
use ethers::types::{Address, BlockNumber, Filter, Log, H256, U256};

use super::args::WatchArgs;
use super::client::{self, jobs_abi, jobs_topic, ClientError, Created};
use super::progress::Progress;
use super::{exit, DevkitError};

/// Failed reconnects in a row before `--ws` gives up.
const RECONNECTS: u32 = 5;
/// The pause before the first reconnect; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between reconnects.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Bounds each websocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the progress line is refreshed while the websocket is quiet.
const TICK: Duration = Duration::from_millis(500);
/// How often a quiet websocket is asked for the block number: a connection that died without
/// a FIN or RST (a half-dead socket) only shows itself by not answering.
const PING_EVERY: Duration = Duration::from_secs(2);
/// How long a ping may take before the connection counts as dropped.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `job watch ID`.
pub async fn watch(args: &WatchArgs) -> Result<u8, DevkitError> {
    let jobs = client::address("--jobs", &args.jobs)?;
    let id = client::job_id(&args.id)?;
    match (&args.ws, &args.rpc) {
        (Some(url), _) => watch_ws(url, jobs, id).await,
        (None, Some(url)) => watch_http(url, jobs, id).await,
        (None, None) => Err(DevkitError::Usage("job watch needs --rpc or --ws".into())),
    }
}

/// Polls the job's logs over HTTP.
async fn watch_http(url: &str, jobs: Address, id: U256) -> Result<u8, DevkitError> {
    let reader = client::reader(url)?;
    let mut watcher = Watcher::new(&reader, jobs, id).await?;
    loop {
        let logs = client::filtered_logs(&reader, &watcher.filter()).await?;
        if let Some(status) = watcher.on_logs(&logs)? {
            return Ok(status);
        }
        if let Some(status) = watcher.on_head(block_time(&reader, BlockNumber::Latest).await?)? {
            return Ok(status);
        }
        watcher.waiting();
        tokio::time::sleep(client::POLL).await;
    }
}

/// How one websocket session ended.
enum Session {
    /// The job is settled; the exit status.
    Settled(u8),
    /// The connection or a subscription failed.
    Dropped {
        /// What failed.
        reason: String,
        /// Whether it had subscribed first (a live session resets the reconnect count).
        was_live: bool,
    },
}

/// Subscribes to the job's logs over a websocket, reconnecting when it drops.
async fn watch_ws(url: &str, jobs: Address, id: U256) -> Result<u8, DevkitError> {
    let first = connect(url).await.map_err(|detail| ClientError::Rpc {
        what: "connecting the websocket",
        detail,
    })?;
    let mut watcher = Watcher::new(&first, jobs, id).await?;
    let mut provider = Some(first);
    let mut failed = 0;
    loop {
        let ended = match provider.take() {
            Some(provider) => session(&provider, &mut watcher).await?,
            None => match connect(url).await {
                Ok(provider) => session(&provider, &mut watcher).await?,
                Err(reason) => Session::Dropped {
                    reason,
                    was_live: false,
                },
            },
        };
        let (reason, was_live) = match ended {
            Session::Settled(status) => return Ok(status),
            Session::Dropped { reason, was_live } => (reason, was_live),
        };
        failed = if was_live { 1 } else { failed + 1 };
        if failed > RECONNECTS {
            return Err(ClientError::Rpc {
                what: "job watch --ws",
                detail: format!(
                    "the websocket {url} dropped and {RECONNECTS} reconnects failed (last: {reason})"
                ),
            }
            .into());
        }
        watcher.say(&format!(
            "the websocket {url} dropped ({reason}); reconnecting ({failed} of {RECONNECTS})"
        ))?;
        let pause = FIRST_PAUSE.saturating_mul(1 << (failed - 1).min(8));
        tokio::time::sleep(pause.min(MAX_PAUSE)).await;
    }
}

async fn connect(url: &str) -> Result<Provider<Ws>, String> {
    // No reconnects inside ethers: a drop ends the streams here, and the backfill after our
    // own reconnect is what keeps every log.
    let connecting = Provider::<Ws>::connect_with_reconnects(url, 0);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(provider)) => Ok(provider),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no handshake within {CONNECT_TIMEOUT:?}")),
    }
}

/// One connection: subscribe, backfill, then follow the streams until settled or dropped.
async fn session(provider: &Provider<Ws>, watcher: &mut Watcher) -> Result<Session, DevkitError> {
    let dropped = |was_live: bool| {
        move |error: &dyn std::fmt::Display| Session::Dropped {
            reason: error.to_string(),
            was_live,
        }
    };
    let filter = watcher.filter();
    // Subscribe first, then backfill: a log mined in between is in both, and printed once.
    let setup = async {
        let logs = provider.subscribe_logs(&filter).await?;
        let heads = provider.subscribe_blocks().await?;
        let past = provider.get_logs(&filter).await?;
        let latest = provider.get_block(BlockNumber::Latest).await?;
        Ok::<_, ProviderError>((logs, heads, past, latest.map(|block| block.timestamp)))
    };
    let (mut logs, mut heads, past, latest) =
        match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
            Ok(Ok(parts)) => parts,
            Ok(Err(error)) => return Ok(dropped(false)(&error)),
            Err(_) => {
                let silent = format!("no answer to the subscription within {CONNECT_TIMEOUT:?}");
                return Ok(dropped(false)(&silent));
            }
        };
    let settled = match watcher.on_logs(&past)? {
        Some(status) => Some(status),
        None => watcher.on_head(latest)?,
    };
    if let Some(status) = settled {
        return Ok(Session::Settled(status));
    }
    let mut ticks = tokio::time::interval(TICK);
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let settled = tokio::select! {
            log = logs.next() => match log {
                Some(log) => watcher.on_logs(&[log])?,
                None => return Ok(dropped(true)(&"the log subscription ended")),
            },
            head = heads.next() => match head {
                Some(block) => watcher.on_head(Some(block.timestamp))?,
                None => return Ok(dropped(true)(&"the head subscription ended")),
            },
            _ = ticks.tick() => {
                watcher.waiting();
                None
            }
            _ = pings.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, provider.get_block_number()).await {
                    Ok(Ok(_)) => None,
                    Ok(Err(error)) => return Ok(dropped(true)(&error)),
                    Err(_) => {
                        let silent = format!("no answer to eth_blockNumber within {PING_TIMEOUT:?}");
                        return Ok(dropped(true)(&silent));
                    }
                }
            }
        };
        if let Some(status) = settled {
            return Ok(Session::Settled(status));
        }
    }
}

/// A block's timestamp (seconds), if the endpoint has the block.
async fn block_time(
    client: &impl Middleware,
    block: BlockNumber,
) -> Result<Option<U256>, ClientError> {
    client
        .get_block(block)
        .await
        .map(|block| block.map(|block| block.timestamp))
        .map_err(|error| client::rpc("eth_getBlockByNumber")(&error))
}

/// What one watch has seen, whichever way it hears the chain.
struct Watcher {
    jobs: Address,
    id: U256,
    created: Created,
    /// The job's answer window: its deadline plus the contract's buffer, in milliseconds.
    window_ms: U256,
    /// The job's block's time, seconds.
    start_time: Option<U256>,
    seen: HashSet<(H256, U256)>,
    answered: usize,
    progress: Progress,
}

impl Watcher {
    async fn new(client: &impl Middleware, jobs: Address, id: U256) -> Result<Self, DevkitError> {
        let created = super::job::job_created(client, jobs, id).await?;
        let abi = jobs_abi();
        let buffer: U256 =
            client::view(client, &abi, jobs, "EXECUTION_BUFFER_TIME", (), None).await?;
        let start_time = block_time(client, BlockNumber::Number(created.block.into())).await?;
        Ok(Self {
            jobs,
            id,
            window_ms: created.deadline + buffer * 1000,
            created,
            start_time,
            seen: HashSet::new(),
            answered: 0,
            progress: Progress::new(),
        })
    }

    /// The job's answers and slashes, from its own block on.
    fn filter(&self) -> Filter {
        let topics = vec![
            jobs_topic("JobResponded"),
            jobs_topic("SlashedOnExecutionTimeout"),
        ];
        Filter::new()
            .address(self.jobs)
            .topic0(topics)
            .topic1(H256::from(<[u8; 32]>::from(self.id)))
            .from_block(self.created.block)
    }

    /// Prints the answers among `logs` not seen before; the exit status once settled.
    fn on_logs(&mut self, logs: &[Log]) -> Result<Option<u8>, DevkitError> {
        let mut slashed = false;
        for log in logs {
            let key = (
                log.transaction_hash.unwrap_or_default(),
                log.log_index.unwrap_or_default(),
            );
            if !self.seen.insert(key) {
                continue;
            }
            if log.topics.first() == Some(&jobs_topic("JobResponded")) {
                self.print_answer(log)?;
            } else {
                slashed = true;
            }
        }
        let selected = self.created.selected.len();
        if self.answered >= selected {
            let line = format!(
                "settled: answered by all {} selected executors",
                self.answered
            );
            return self.settle(&line, exit::OK).map(Some);
        }
        if slashed {
            let missing = selected - self.answered;
            let line = format!("settled: slashed ({missing} executors did not answer)");
            return self.settle(&line, exit::CHECK_FAILED).map(Some);
        }
        Ok(None)
    }

    /// Judges the window against the latest block's time; the exit status once it closed.
    fn on_head(&mut self, latest: Option<U256>) -> Result<Option<u8>, DevkitError> {
        let (Some(start), Some(latest)) = (self.start_time, latest) else {
            return Ok(None);
        };
        if latest * 1000 <= start * 1000 + self.window_ms {
            return Ok(None);
        }
        let line = format!(
            "window closed: {} of {} answered; anyone may now call slashOnExecutionTimeout({})",
            self.answered,
            self.created.selected.len(),
            self.id
        );
        self.settle(&line, exit::CHECK_FAILED).map(Some)
    }

    fn print_answer(&mut self, log: &Log) -> Result<(), DevkitError> {
        let answer = client::decode_responded(log)?;
        self.progress.clear();
        self.answered += 1;
        writeln!(
            std::io::stdout(),
            "executor {:?} error_code {} total_time_ms {} output {}",
            answer.executor,
            answer.error_code,
            answer.total_time,
            String::from_utf8_lossy(&answer.output).escape_debug()
        )
        .map_err(DevkitError::Write)
    }

    fn settle(&mut self, line: &str, status: u8) -> Result<u8, DevkitError> {
        self.progress.clear();
        writeln!(std::io::stdout(), "{line}").map_err(DevkitError::Write)?;
        Ok(status)
    }

    /// A line on stderr (a reconnect), clear of the spinner.
    fn say(&mut self, line: &str) -> Result<(), DevkitError> {
        self.progress.clear();
        writeln!(std::io::stderr(), "{line}").map_err(DevkitError::Write)
    }

    fn waiting(&mut self) {
        self.progress.tick(&format!(
            "waiting for answers: {} of {}",
            self.answered,
            self.created.selected.len()
        ));
    }
}
