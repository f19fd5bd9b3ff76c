//! The one thread every workerd process is started from: writing a process's files and forking
//! its launcher stay off the actors' thread, which carries the answers of jobs in flight.
//!
//! Owns a thread that lives as long as the node's process and runs the work sent to it, one
//! piece at a time, inside the caller's tokio runtime (so the child and its pipes belong to the
//! caller's runtime, as if spawned there). Receives closures from [`on_fork_thread`]; sends
//! each result back on a oneshot channel.
//!
//! Why one long-lived thread and not tokio's blocking pool: the launcher asks for a parent-death
//! signal, and the kernel sends it when the *thread* that forked it ends. Blocking threads retire
//! after a few idle seconds, which killed idle warm processes; this thread never retires.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A piece of work for the thread.
type Work = Box<dyn FnOnce() + Send>;

/// The fork thread could not run the work: it could not be started, or the work panicked.
#[derive(Debug, thiserror::Error)]
#[error("the workerd fork thread could not run the start: {0}")]
pub struct ForkThreadError(&'static str);

/// Runs `work` on the fork thread, inside the current tokio runtime, and returns what it
/// returned. Must be called from within a tokio runtime.
pub async fn on_fork_thread<T, F>(work: F) -> Result<T, ForkThreadError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let runtime = Handle::current();
    let (answer, answered) = oneshot::channel();
    let wrapped: Work = Box::new(move || {
        // A panic must not end the thread: every process it forked would get its parent-death
        // signal. The caller sees the dropped channel instead.
        let ran = std::panic::catch_unwind(AssertUnwindSafe(move || {
            let _inside = runtime.enter();
            work()
        }));
        if let Ok(result) = ran {
            let _ = answer.send(result);
        }
    });
    sender()?
        .send(wrapped)
        .map_err(|_| ForkThreadError("the thread is gone"))?;
    answered
        .await
        .map_err(|_| ForkThreadError("the start panicked"))
}

/// The thread's queue, starting the thread on first use (and again on the next start if the
/// system refused a thread then). The sender lives in a static, so the thread never sees its
/// queue close and never ends.
fn sender() -> Result<&'static Sender<Work>, ForkThreadError> {
    static QUEUE: OnceLock<Sender<Work>> = OnceLock::new();
    if let Some(sender) = QUEUE.get() {
        return Ok(sender);
    }
    let (sender, receiver) = mpsc::channel::<Work>();
    std::thread::Builder::new()
        .name("workerd-fork".into())
        .spawn(move || {
            while let Ok(work) = receiver.recv() {
                work();
            }
        })
        .map_err(|error| {
            tracing::error!(%error, "cannot start the workerd fork thread");
            ForkThreadError("the system refused a thread")
        })?;
    // Two first starts at once: the one that loses drops its sender, and its thread, which has
    // forked nothing, ends.
    let _ = QUEUE.set(sender);
    QUEUE.get().ok_or(ForkThreadError("its queue is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_one_named_thread_that_outlives_a_panic() {
        let first = on_fork_thread(|| std::thread::current().id())
            .await
            .expect("first work");
        let panicked = on_fork_thread(|| -> u8 { panic!("a start went wrong") }).await;
        assert!(panicked.is_err(), "a panic is an error for its caller");
        let (second, name) = on_fork_thread(|| {
            let thread = std::thread::current();
            (thread.id(), thread.name().map(str::to_owned))
        })
        .await
        .expect("work after the panic");
        assert_eq!(first, second, "the same thread after the panic");
        assert_eq!(name.as_deref(), Some("workerd-fork"));
        assert_ne!(first, std::thread::current().id());
    }

    #[tokio::test]
    async fn work_runs_inside_the_callers_runtime() {
        let inside = on_fork_thread(|| Handle::try_current().is_ok())
            .await
            .expect("work");
        assert!(
            inside,
            "tokio objects made there belong to the caller's runtime"
        );
    }
}
