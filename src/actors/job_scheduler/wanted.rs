//! Whether a chain job's output is still wanted, shared by three parties: the book of jobs
//! (which learns it from chain events), the job's run (checked before workerd starts) and the
//! output's sender (which holds a sent output until the answer window closes, since a reorg can
//! remove the block that included it while the job itself stays).
//!
//! Written by the scheduler's handlers only; read by the pipeline and `chain_job`.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// One job's state as its run and its output sender see it.
#[derive(Debug, Default)]
pub(super) struct Wanted {
    /// Our output is on chain (seen in a `JobResponded` log still canonical).
    answered: AtomicBool,
    /// The job's own block was replaced, or its record replaced: a re-created job is a new job.
    orphaned: AtomicBool,
    /// Signalled after a reorg that may have removed our included output. A signal with
    /// nobody waiting is kept (one permit), so one given between inclusion and the wait is
    /// not lost; a spurious one costs a simulation that the contract refuses as a duplicate.
    resend: Notify,
}

impl Wanted {
    /// Nothing left to do for now: ours is on chain, or the job is gone.
    pub(super) fn cancelled(&self) -> bool {
        self.answered.load(Ordering::Relaxed) || self.orphaned()
    }

    /// The job's block is gone: never send for it again.
    pub(super) fn orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Relaxed)
    }

    pub(super) fn set_answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    pub(super) fn set_orphaned(&self) {
        self.orphaned.store(true, Ordering::Relaxed);
    }

    /// A reorg removed (or may have removed) our output: it is wanted again.
    pub(super) fn answer_removed(&self) {
        self.answered.store(false, Ordering::Relaxed);
        self.resend.notify_one();
    }

    /// Resolves once [`answer_removed`](Self::answer_removed) was called (now or before).
    pub(super) async fn removed(&self) {
        self.resend.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn answered_or_orphaned_cancels_and_a_removed_answer_is_wanted_again() {
        let wanted = Wanted::default();
        assert!(!wanted.cancelled());
        wanted.set_answered();
        assert!(wanted.cancelled() && !wanted.orphaned());
        wanted.answer_removed();
        assert!(!wanted.cancelled());
        wanted.set_orphaned();
        assert!(wanted.cancelled() && wanted.orphaned());
    }

    #[tokio::test]
    async fn a_removal_signalled_before_the_wait_is_not_lost() {
        let wanted = Wanted::default();
        wanted.answer_removed();
        tokio::time::timeout(Duration::from_secs(1), wanted.removed())
            .await
            .expect("the stored signal wakes the waiter");
    }
}
