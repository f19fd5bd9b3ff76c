//! The bounded label values of the node's metrics, each encoded in Prometheus's snake_case
//! (`source="direct"`, `cause="window_closed"`), never a job id, a hash or free text.
//!
//! Pure types; receives and sends nothing.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// Declares a label enum whose variants encode as the given strings.
macro_rules! label_values {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order (dashboards and tests list them).
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The label value as exported.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values! {
    /// Where a job came from.
    Source {
        /// `POST /api/serverless`.
        Direct => "direct",
        /// `JobCreated` on chain.
        Chain => "chain",
    }
}

label_values! {
    /// Why a job has no outcome (nothing signed).
    Unsigned {
        /// The code transaction could not be read from the chain in time.
        CodeUnavailable => "code_unavailable",
        /// No slot freed within the job's waiting bound.
        NoSlot => "no_slot",
        /// A chain job's answer window closed before it could start or finish.
        WindowClosed => "window_closed",
        /// Our own fault, twice (start, launcher, loader, a crash we may have caused).
        Infrastructure => "infrastructure",
    }
}

label_values! {
    /// Why a job was refused before it was admitted (nothing ran, nothing signed).
    Refusal {
        /// Every direct slot and the direct queue were taken (503).
        Busy => "busy",
        /// The direct route is disabled (`direct_run_enabled = false`, 404).
        Disabled => "disabled",
        /// The request body was over `direct_run_body_limit_bytes` (413).
        BodyTooLarge => "body_too_large",
        /// Selected for a chain job while not registered on `Executors`.
        NotRegistered => "not_registered",
        /// Selected, but the answer window had closed before the job could start.
        TooLate => "too_late",
        /// The bounded book of tracked chain jobs was full.
        BookFull => "book_full",
    }
}

label_values! {
    /// What went wrong in one faulted run: the node's fault, never the user's (each faulted
    /// run counts once; the job itself is retried once, then counted unsigned).
    Fault {
        /// The job's files, the process or its descriptors could not be set up.
        Spawn => "spawn",
        /// The sandbox launcher could not confine itself.
        Launcher => "launcher",
        /// workerd never served, or did not answer its warm-up request.
        NotServing => "not_serving",
        /// No cgroup or loopback listener was free for a process.
        NoResource => "no_resource",
        /// The runner actor was gone.
        RunnerStopped => "runner_stopped",
        /// workerd died by a signal we did not send (retried once; a second is the user's).
        Crashed => "crashed",
        /// Our loader answered wrongly (a broken protocol between the node and its loader).
        Loader => "loader",
    }
}

label_values! {
    /// A phase of a job, timed on its own: where the node's time goes.
    Phase {
        /// From the request's (or event's) arrival to its admission by the scheduler.
        AdmissionWait => "admission_wait",
        /// The code came from the cache.
        CodeFetchHit => "code_fetch_hit",
        /// The code was read from the chain (an RPC round or more).
        CodeFetchMiss => "code_fetch_miss",
        /// Waiting for an execution slot.
        SlotWait => "slot_wait",
        /// Taking an idle warm process.
        ProcessWarm => "process_warm_hit",
        /// Starting a process on the job's path (`cold`, or a warm pool that ran dry).
        ProcessStart => "process_cold_start",
        /// The user's code, from hand-over to its end.
        UserExecution => "user_execution",
        /// Classifying the end and handing the process back (or ending it).
        Settle => "classification",
        /// Signing the outcome with the enclave key (receipt or chain output).
        Signing => "signing",
        /// From acceptance to the outcome (signing excluded).
        EndToEnd => "end_to_end",
        /// A chain job's signed output handed to `TxSender` → its transaction in the pool
        /// (prepared, and sent in nonce order behind the others).
        Submission => "submission",
        /// That transaction in the pool → seen included (a check 100 ms after a send, then
        /// every second): with `Submission`, submission → inclusion.
        Inclusion => "inclusion",
    }
}

label_values! {
    /// Why a workerd process was ended.
    Retired {
        /// It served its quota of jobs (one in `cold` and `prewarmed`).
        JobQuota => "job_quota",
        /// Its job ended in a way that does not let it serve another (timeout, crash, memory).
        NotReusable => "not_reusable",
        /// Enough idle processes were already kept.
        PoolFull => "pool_full",
        /// An OOM in a reused process: the job is run again in a fresh one.
        OomReused => "oom_reused",
        /// The pool was shut down with the node.
        Shutdown => "shutdown",
    }
}

impl Refusal {
    /// The one source each refusal can happen to.
    pub const fn source(self) -> Source {
        match self {
            Self::Busy | Self::Disabled | Self::BodyTooLarge => Source::Direct,
            Self::NotRegistered | Self::TooLate | Self::BookFull => Source::Chain,
        }
    }
}

label_values! {
    /// Why the chain listener's connection ended (it reconnects after each).
    ReconnectCause {
        /// The websocket could not be opened in time.
        Connect => "connect",
        /// A JSON-RPC call of the connection (backfill, state, timestamps) failed.
        Rpc => "rpc",
        /// The subscription request failed.
        Subscribe => "subscribe",
        /// The socket closed (a subscription stream ended).
        Ended => "ended",
        /// No new head for `head_timeout` and the socket did not answer.
        Stalled => "stalled",
        /// The chain moved on but the subscription told us nothing.
        MissedHeads => "missed_heads",
        /// A remembered block hash changed: dropped on purpose to re-read from the fork.
        Reorg => "reorg",
    }
}

label_values! {
    /// Why one of our transactions did not do what it was sent for.
    TxFailure {
        /// Mined with status 0.
        Reverted => "reverted",
        /// Would now revert: replaced by a zero-value self-transfer.
        Cancelled => "cancelled",
        /// Another transaction of the gas account took its nonce.
        NonceTaken => "nonce_taken",
        /// Its job's block was replaced by a reorg: withdrawn.
        Orphaned => "orphaned",
        /// The node refused it (fees, funds, nonce) or the RPC failed while sending.
        SendFailed => "send_failed",
    }
}
