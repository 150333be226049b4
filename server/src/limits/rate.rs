//! How fast one owner may start jobs: a token bucket per owner (the `governor` crate's
//! GCRA), refilled at the configured jobs per minute and as deep as one minute's worth.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::owner::Owner;

#[derive(Clone, Debug)]
pub struct CreationRate {
    limiter: Arc<DefaultKeyedRateLimiter<Owner>>,
    per_minute: u32,
}

impl CreationRate {
    pub fn per_minute(jobs: u32) -> Self {
        let jobs = NonZeroU32::new(jobs).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(jobs))),
            per_minute: jobs.get(),
        }
    }

    /// Takes one job from `owner`'s bucket, or says how long until there is one.
    pub fn check(&self, owner: &Owner) -> Result<(), RateExceeded> {
        self.limiter
            .check_key(owner)
            .map_err(|not_until| RateExceeded {
                per_minute: self.per_minute,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// Forgets owners whose buckets are full again, so the map does not grow forever.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("you may start {per_minute} jobs a minute; try again in {} s", retry_after_secs(*.retry_after))]
pub struct RateExceeded {
    pub per_minute: u32,
    pub retry_after: Duration,
}

impl RateExceeded {
    /// Whole seconds to wait, at least one (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.retry_after)
    }
}

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_owner_has_its_own_bucket() {
        let rate = CreationRate::per_minute(3);
        let (alice, bob) = (Owner::new("alice"), Owner::new("bob"));
        for _ in 0..3 {
            rate.check(&alice).unwrap();
        }
        let refused = rate.check(&alice).unwrap_err();
        assert!(
            (1..=20).contains(&refused.retry_after_secs()),
            "{refused:?}"
        );
        rate.check(&bob).unwrap();
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
