//! How many jobs each workerd process may serve: the mode's quota, staggered over the pool's
//! first processes. Used by the runner's starter and by the benchmarks' floor, so both replace
//! their processes alike. Owns nothing.

/// How many jobs each process may serve.
#[derive(Debug, Clone, Copy)]
pub struct JobQuotas {
    /// The mode's quota (`isolate_jobs_per_process`, or 1).
    pub per_process: u32,
    /// The pool's size: its first this many processes get staggered quotas.
    pub first_generation: usize,
}

impl JobQuotas {
    /// The quota of the `number`th process started (from 1). The pool's first processes start
    /// together and take jobs in turn, so with one quota they would all be replaced at the same
    /// moment, again and again: a burst of starts that takes both cores, seen as periodic latency
    /// spikes at half load (README, "Pool shape"). The `k`th of the first `n` gets `k/n` of the
    /// quota, which spreads their replacements evenly; each replacement then takes its
    /// predecessor's place in the rotation with the whole quota. Never above it.
    pub fn of(self, number: u64) -> u32 {
        let first = self.first_generation as u64;
        if self.per_process <= 1 || number == 0 || number >= first {
            return self.per_process;
        }
        let share = u64::from(self.per_process) * number / first;
        u32::try_from(share).unwrap_or(self.per_process).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::JobQuotas;

    #[test]
    fn the_first_generation_is_staggered_and_no_quota_exceeds_the_modes() {
        let quotas = JobQuotas {
            per_process: 100,
            first_generation: 5,
        };
        let first: Vec<u32> = (1..=5).map(|number| quotas.of(number)).collect();
        assert_eq!(first, [20, 40, 60, 80, 100]);
        assert_eq!(quotas.of(6), 100);
        assert_eq!(quotas.of(1_000), 100);
    }

    #[test]
    fn a_one_job_mode_and_tiny_quotas_stay_at_least_one() {
        let one = JobQuotas {
            per_process: 1,
            first_generation: 8,
        };
        assert!((1..=10).all(|number| one.of(number) == 1));
        let tiny = JobQuotas {
            per_process: 2,
            first_generation: 8,
        };
        assert_eq!(tiny.of(1), 1);
        assert_eq!(tiny.of(4), 1);
        assert_eq!(tiny.of(8), 2);
    }
}
