//! Rate limiting for the "CORS blocked origin" warning: an attack from one
//! origin or from thousands yields a bounded number of lines, each saying how
//! many were suppressed before it. One token bucket for all origins keeps the
//! bookkeeping at a fixed size however many distinct origins arrive.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct BlockedLogLimiter {
    burst: u32,
    refill_every: Duration,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    last_refill: Instant,
    suppressed: u64,
}

/// Whether to write this line, and how many were dropped since the last one.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Log { suppressed_before: u64 },
    Suppress,
}

impl BlockedLogLimiter {
    /// `burst` lines at once, then `per_minute` lines a minute.
    pub fn new(burst: u32, per_minute: u32) -> BlockedLogLimiter {
        let per_minute = per_minute.max(1);
        BlockedLogLimiter {
            burst: burst.max(1),
            refill_every: Duration::from_secs(60) / per_minute,
            state: Mutex::new(Bucket {
                tokens: burst.max(1),
                last_refill: Instant::now(),
                suppressed: 0,
            }),
        }
    }

    pub fn admit(&self, now: Instant) -> Admit {
        let mut b = match self.state.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(b.last_refill);
        let earned = (elapsed.as_nanos() / self.refill_every.as_nanos().max(1)) as u64;
        if earned > 0 {
            b.tokens = (u64::from(b.tokens) + earned).min(u64::from(self.burst)) as u32;
            b.last_refill += self.refill_every * (earned.min(u64::from(u32::MAX)) as u32);
            if b.tokens == self.burst {
                b.last_refill = now;
            }
        }
        if b.tokens == 0 {
            b.suppressed += 1;
            return Admit::Suppress;
        }
        b.tokens -= 1;
        let suppressed_before = std::mem::take(&mut b.suppressed);
        Admit::Log { suppressed_before }
    }

    /// How many lines were suppressed since the last one written, reset to
    /// zero: for a summary written when no further line comes to say it.
    pub fn take_suppressed(&self) -> u64 {
        let mut b = match self.state.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut b.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line to write, after `suppressed_before` suppressed ones.
    fn logged(suppressed_before: u64) -> Admit {
        Admit::Log { suppressed_before }
    }

    /// A limiter of `burst` (60 a minute) that was asked to admit `lines`
    /// lines at once, at the instant it returns.
    fn after_a_flood(burst: u32, lines: usize) -> (BlockedLogLimiter, Instant) {
        let l = BlockedLogLimiter::new(burst, 60);
        let t = Instant::now();
        for _ in 0..lines {
            l.admit(t);
        }
        (l, t)
    }

    #[test]
    fn a_flood_yields_burst_lines_then_silence() {
        let l = BlockedLogLimiter::new(5, 60);
        let t = Instant::now();
        let logged = (0..10_000)
            .filter(|_| matches!(l.admit(t), Admit::Log { .. }))
            .count();
        assert_eq!(logged, 5);
    }

    #[test]
    fn the_next_line_reports_what_was_suppressed() {
        let l = BlockedLogLimiter::new(1, 60);
        let t = Instant::now();
        assert_eq!(l.admit(t), logged(0));
        for _ in 0..41 {
            assert_eq!(l.admit(t), Admit::Suppress);
        }
        assert_eq!(l.admit(t + Duration::from_secs(1)), logged(41));
    }

    #[test]
    fn suppressed_lines_can_be_taken_once() {
        let (l, t) = after_a_flood(1, 4);
        assert_eq!(l.take_suppressed(), 3);
        assert_eq!(l.take_suppressed(), 0);
        assert_eq!(l.admit(t + Duration::from_secs(1)), logged(0));
    }

    #[test]
    fn tokens_refill_over_time_up_to_burst() {
        let (l, t) = after_a_flood(3, 3);
        let later = t + Duration::from_secs(3600);
        let logged = (0..100)
            .filter(|_| matches!(l.admit(later), Admit::Log { .. }))
            .count();
        assert_eq!(logged, 3);
    }
}
