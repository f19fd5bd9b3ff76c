//! Capped exponential backoff with jitter for reconnect attempts. Pure; no timers.

use std::time::Duration;

/// Delay before the n-th reconnect: zero for the first start, then doubling from `min` up to
/// `max`, each with ±25 % jitter so that many nodes do not hammer an RPC in step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// `min` must not exceed `max`; a larger `min` is clamped to `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min: min.min(max),
            max,
            attempt: 0,
        }
    }

    /// The delay to wait now; advances the attempt counter.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let attempt = self.attempt;
        self.attempt = self.attempt.saturating_add(1);
        if attempt == 0 {
            return Duration::ZERO;
        }
        let exponent = (attempt - 1).min(20);
        let base = self.min.saturating_mul(1 << exponent).min(self.max);
        base.mul_f64(0.75 + rand::random::<f64>() * 0.5)
            .min(self.max)
    }

    /// Attempts since the last success.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Called when the connection delivered something: the next failure starts over.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_delay_is_zero_then_grows_and_stays_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff.next_delay(), Duration::ZERO);
        let second = backoff.next_delay();
        assert!(second >= Duration::from_millis(75) && second <= Duration::from_millis(125));
        for _ in 0..40 {
            assert!(backoff.next_delay() <= Duration::from_secs(2));
        }
        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.next_delay(), Duration::ZERO);
    }
}
