//! Chain mode's eyes: one websocket subscription to `JobResponded` logs of `Jobs`, timestamped
//! on arrival, matched to the job ids the chain driver registers (an answer may arrive before
//! its job is registered: it is kept until then).
//!
//! Owns the subscription and the table of waiting jobs; receives [`Watch`] requests; sends one
//! [`Responded`] per registered job, or drops its sender if the subscription is lost.

use std::collections::HashMap;
use std::time::Duration;

use ethers::abi::{ParamType, Token};
use ethers::providers::{Middleware, Provider, Ws};
use ethers::types::{Address, Filter, Log, U256};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::warn;

use crate::contracts::{jobs_topic, rpc, ChainError};

/// How long an answer nobody registered is kept.
const KEEP_UNCLAIMED: Duration = Duration::from_secs(300);

/// Asks for the `JobResponded` of `job_id`.
#[derive(Debug)]
pub(crate) struct Watch {
    pub(crate) job_id: U256,
    pub(crate) reply: oneshot::Sender<Responded>,
}

/// A job's first `JobResponded`, as seen by the harness.
#[derive(Debug, Clone)]
pub(crate) struct Responded {
    /// When the log reached the harness.
    pub(crate) at: Instant,
    pub(crate) error_code: u8,
    pub(crate) output: Vec<u8>,
}

/// Subscribes, then serves [`Watch`] requests in a task until every sender is gone.
pub(crate) async fn start(
    ws_url: &url::Url,
    jobs: Address,
) -> Result<mpsc::UnboundedSender<Watch>, ChainError> {
    let provider = Provider::<Ws>::connect(ws_url.as_str())
        .await
        .map_err(|error| rpc("connecting the websocket", error))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::spawn(async move {
        let filter = Filter::new()
            .address(jobs)
            .topic0(jobs_topic("JobResponded"));
        match provider.subscribe_logs(&filter).await {
            Ok(stream) => {
                let _ = ready_tx.send(Ok(()));
                serve(stream, rx).await;
            }
            Err(error) => {
                let _ = ready_tx.send(Err(rpc("subscribing to JobResponded", error)));
            }
        }
    });
    ready_rx.await.map_err(|_| ChainError::WatcherGone)??;
    Ok(tx)
}

async fn serve(
    mut logs: impl futures::Stream<Item = Log> + Unpin,
    mut watches: mpsc::UnboundedReceiver<Watch>,
) {
    let mut table = Table::default();
    let mut sweep = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            log = logs.next() => match log {
                Some(log) => table.on_log(&log, Instant::now()),
                None => {
                    warn!("The JobResponded subscription ended; waiting jobs count as lost.");
                    return;
                }
            },
            watch = watches.recv() => match watch {
                Some(watch) => table.on_watch(watch),
                None => return,
            },
            _ = sweep.tick() => table.sweep(Instant::now()),
        }
    }
}

/// Jobs waiting for their answer, and answers waiting for their job.
#[derive(Debug, Default)]
struct Table {
    waiting: HashMap<U256, oneshot::Sender<Responded>>,
    unclaimed: HashMap<U256, Responded>,
}

impl Table {
    fn on_log(&mut self, log: &Log, at: Instant) {
        let Some((job_id, responded)) = decode(log, at) else {
            warn!(tx_hash = ?log.transaction_hash, "Undecodable JobResponded log ignored.");
            return;
        };
        match self.waiting.remove(&job_id) {
            Some(reply) => {
                let _ = reply.send(responded);
            }
            // Only the first answer of a job counts.
            None => {
                self.unclaimed.entry(job_id).or_insert(responded);
            }
        }
    }

    fn on_watch(&mut self, watch: Watch) {
        match self.unclaimed.remove(&watch.job_id) {
            Some(responded) => {
                let _ = watch.reply.send(responded);
            }
            None => {
                self.waiting.insert(watch.job_id, watch.reply);
            }
        }
    }

    /// Forgets jobs whose caller gave up and answers nobody claimed for long.
    fn sweep(&mut self, now: Instant) {
        self.waiting.retain(|_, reply| !reply.is_closed());
        self.unclaimed
            .retain(|_, responded| now.saturating_duration_since(responded.at) < KEEP_UNCLAIMED);
    }
}

/// `JobResponded(uint256 indexed jobId, address indexed executor, bytes output,
/// uint256 totalTime, uint8 errorCode, uint8 outputCount)`.
fn decode(log: &Log, at: Instant) -> Option<(U256, Responded)> {
    let job_id = U256::from_big_endian(log.topics.get(1)?.as_bytes());
    let kinds = [
        ParamType::Bytes,
        ParamType::Uint(256),
        ParamType::Uint(8),
        ParamType::Uint(8),
    ];
    let tokens = ethers::abi::decode(&kinds, &log.data).ok()?;
    let (Token::Bytes(output), Token::Uint(code)) = (tokens.first()?, tokens.get(2)?) else {
        return None;
    };
    let error_code = u8::try_from(code.low_u32()).ok()?;
    Some((
        job_id,
        Responded {
            at,
            error_code,
            output: output.clone(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::types::{Bytes, H256};

    fn log(job_id: u64, output: &[u8], code: u8) -> Log {
        let data = ethers::abi::encode(&[
            Token::Bytes(output.to_vec()),
            Token::Uint(25.into()),
            Token::Uint(code.into()),
            Token::Uint(1.into()),
        ]);
        Log {
            topics: vec![
                jobs_topic("JobResponded"),
                H256::from_low_u64_be(job_id),
                H256::zero(),
            ],
            data: Bytes::from(data),
            ..Log::default()
        }
    }

    #[tokio::test]
    async fn an_answer_reaches_its_job_whichever_comes_first() {
        let mut table = Table::default();
        let now = Instant::now();
        // Answer first, then the job registers.
        table.on_log(&log(7, b"ok:ping", 0), now);
        let (reply, early) = oneshot::channel();
        table.on_watch(Watch {
            job_id: 7.into(),
            reply,
        });
        assert_eq!(early.await.unwrap().output, b"ok:ping");
        // Job first, then the answer.
        let (reply, late) = oneshot::channel();
        table.on_watch(Watch {
            job_id: 8.into(),
            reply,
        });
        table.on_log(&log(8, b"", 4), now);
        assert_eq!(late.await.unwrap().error_code, 4);
        assert!(table.waiting.is_empty() && table.unclaimed.is_empty());
    }

    #[test]
    fn abandoned_watches_and_old_answers_are_swept() {
        let mut table = Table::default();
        let now = Instant::now();
        let (reply, gone) = oneshot::channel();
        drop(gone);
        table.on_watch(Watch {
            job_id: 1.into(),
            reply,
        });
        table.on_log(&log(2, b"", 0), now);
        table.sweep(now + KEEP_UNCLAIMED);
        assert!(table.waiting.is_empty() && table.unclaimed.is_empty());
        assert!(decode(&Log::default(), now).is_none());
    }
}
