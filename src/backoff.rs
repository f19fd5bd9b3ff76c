//! When to try again after a transient failure (an RPC call, a lost websocket). Pure; the
//! caller sleeps, and clamps to its own deadline.
//!
//! Capped exponential backoff with full jitter: the n-th delay is uniform in
//! `[0, min(max, first * 2^n)]`, so nodes that lost the same RPC endpoint do not retry in step.
//! The one backoff of the node: the code store, the gas-key nonce query and the chain listener
//! all use it.

use std::time::Duration;

/// The retry schedule of one fetch.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start at `first` and double up to `max` (a `first` above `max` is clamped).
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first: first.min(max),
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt; advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(rand::random::<f64>())
    }

    /// Failed attempts so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A success: the next failure starts the schedule over.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The largest delay the next call may return.
    fn ceiling(&self) -> Duration {
        let exponent = self.attempt.min(30);
        self.first.saturating_mul(1 << exponent).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_first_and_stay_under_the_cap() {
        let first = Duration::from_millis(20);
        let max = Duration::from_millis(500);
        let mut backoff = Backoff::new(first, max);
        let ceilings = [20, 40, 80, 160, 320, 500, 500];
        for ceiling in ceilings {
            assert_eq!(backoff.ceiling(), Duration::from_millis(ceiling));
            assert!(backoff.next_delay() <= Duration::from_millis(ceiling));
        }
        for _ in 0..100 {
            assert!(backoff.next_delay() <= max);
        }
        assert_eq!(backoff.attempt(), 107);
    }

    #[test]
    fn first_is_clamped_to_max() {
        let backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(), Duration::from_secs(1));
    }
}
