//! How slowly a request body may arrive (`[server] request_body_timeout_secs`
//! and `request_body_min_rate`), after Apache's mod_reqtimeout
//! `body=20,MinRate=500`: no byte for `timeout` cuts the request, and once
//! the first `timeout` is over the body must average `min_rate` bytes a
//! second (each byte buys `1 / min_rate` seconds more). Pure: the hooks ask
//! it how long the next read may wait.

use std::time::Duration;

/// The body pace settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    /// The longest wait for the next body byte (and for the first).
    pub timeout: Duration,
    /// Bytes a second after the first `timeout`; 0: no minimum.
    pub min_rate: u64,
}

impl Default for BodyPace {
    fn default() -> BodyPace {
        BodyPace {
            timeout: Duration::from_secs(20),
            min_rate: 500,
        }
    }
}

/// Which limit a wait, or a cut, comes from: a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No byte for `timeout`.
    Idle,
    /// Below `min_rate` on average.
    MinRate,
}

impl Limit {
    pub const ALL: [Limit; 2] = [Limit::Idle, Limit::MinRate];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Idle => "idle",
            Limit::MinRate => "min_rate",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the next read may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Wait at most this long, cut by `Limit` if nothing comes.
    Wait(Duration, Limit),
    /// Already too slow: cut now.
    TooSlow,
}

impl BodyPace {
    /// After `received` body bytes, `elapsed` since the body could start.
    pub fn next(&self, received: u64, elapsed: Duration) -> Pace {
        let Some(earned) = self.earned(received) else {
            return Pace::Wait(self.timeout, Limit::Idle);
        };
        let deadline = self.timeout.saturating_add(earned);
        let left = deadline.saturating_sub(elapsed);
        if left.is_zero() {
            return Pace::TooSlow;
        }
        // Before the first byte, running out of time is plain idleness.
        let limit = if left < self.timeout && received > 0 {
            Limit::MinRate
        } else {
            Limit::Idle
        };
        Pace::Wait(left.min(self.timeout), limit)
    }

    /// The time `received` bytes buy at `min_rate`; `None`: no minimum.
    fn earned(&self, received: u64) -> Option<Duration> {
        (self.min_rate > 0).then(|| {
            Duration::from_secs(received / self.min_rate)
                + Duration::from_nanos((received % self.min_rate) * 1_000_000_000 / self.min_rate)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: BodyPace = BodyPace {
        timeout: Duration::from_secs(20),
        min_rate: 500,
    };

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_first_byte_may_take_the_whole_timeout() {
        assert_eq!(
            PACE.next(0, Duration::ZERO),
            Pace::Wait(secs(20.0), Limit::Idle)
        );
        assert_eq!(PACE.next(0, secs(5.0)), Pace::Wait(secs(15.0), Limit::Idle));
        assert_eq!(PACE.next(0, secs(20.0)), Pace::TooSlow);
    }

    #[test]
    fn each_byte_buys_time_at_the_minimum_rate() {
        // 5000 bytes buy 10 s: the deadline is 30 s.
        assert_eq!(
            PACE.next(5000, secs(10.0)),
            Pace::Wait(secs(20.0), Limit::Idle)
        );
        assert_eq!(
            PACE.next(5000, secs(25.0)),
            Pace::Wait(secs(5.0), Limit::MinRate)
        );
        assert_eq!(PACE.next(5000, secs(30.0)), Pace::TooSlow);
        assert_eq!(
            PACE.next(250, secs(20.4)),
            Pace::Wait(secs(0.1), Limit::MinRate)
        );
    }

    #[test]
    fn a_trickle_of_a_byte_every_five_seconds_is_cut_soon_after_the_timeout() {
        let mut received = 0;
        let mut at = 0.0;
        loop {
            match PACE.next(received, secs(at)) {
                Pace::TooSlow => break,
                Pace::Wait(wait, _) => assert!(wait >= secs(5.0) || at > 19.0, "{at}"),
            }
            received += 1;
            at += 5.0;
        }
        assert!(at <= 25.0, "cut at {at} s");
    }

    #[test]
    fn without_a_minimum_rate_only_idleness_counts() {
        let pace = BodyPace {
            min_rate: 0,
            ..PACE
        };
        assert_eq!(
            pace.next(1, secs(3600.0)),
            Pace::Wait(secs(20.0), Limit::Idle)
        );
    }
}
