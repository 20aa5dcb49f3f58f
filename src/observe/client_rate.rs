//! A rate limit per client in a table of fixed size: one token bucket per
//! client address, so one client's flood spends its own bucket and leaves
//! the others' (and the process-wide cap) alone, while memory stays the
//! same however many distinct clients arrive.
//!
//! The table is set-associative: a client's address, hashed with a key
//! chosen at random per process, picks a set of [`WAYS`] slots; a new client
//! takes a free slot of its set or the one used longest ago. A client can
//! therefore only lose its bucket to [`WAYS`] others landing in the same set
//! of [`SETS`], which it cannot choose, and a bucket lost is a full one
//! again: the limit errs towards admitting, and the global cap stays the
//! backstop.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

pub const SETS: usize = 1024;
pub const WAYS: usize = 4;

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Slot {
    client: u128,
    /// Tokens in millitokens, so a slow rate refills smoothly.
    milli: u64,
    refilled: Instant,
    used: Instant,
}

#[derive(Debug)]
pub struct ClientRates {
    hasher: RandomState,
    sets: Box<[Mutex<[Option<Slot>; WAYS]>]>,
}

impl Default for ClientRates {
    fn default() -> ClientRates {
        ClientRates {
            hasher: RandomState::new(),
            sets: (0..SETS).map(|_| Mutex::new([None; WAYS])).collect(),
        }
    }
}

/// The key a client is limited by: an IPv4 address, or the /64 of an IPv6
/// one (one host usually holds a whole /64, so its addresses are one
/// client). `None` (no address known) is one shared client.
fn client_key(client: Option<IpAddr>) -> u128 {
    match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => u128::from(u32::from(v4)) | (1 << 64),
        Some(IpAddr::V6(v6)) => u128::from(v6) & !u128::from(u64::MAX) | 2,
        None => 0,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl ClientRates {
    /// Take one token from `client`'s bucket of `per_minute` a minute (a
    /// burst of `per_minute`, refilled evenly). False: over its limit.
    pub fn admit(&self, client: Option<IpAddr>, per_minute: u32, now: Instant) -> bool {
        let key = client_key(client);
        let index = (self.hasher.hash_one(key) % SETS as u64) as usize;
        let mut set = lock(&self.sets[index]);
        let full = u64::from(per_minute.max(1)) * 1000;
        let slot = match set.iter().position(|s| s.is_some_and(|s| s.client == key)) {
            Some(way) => &mut set[way],
            None => {
                // A free way, else the one used longest ago.
                let way = set
                    .iter()
                    .position(Option::is_none)
                    .or_else(|| (0..WAYS).min_by_key(|&w| set[w].map(|s| s.used)))
                    .unwrap_or(0);
                set[way] = Some(Slot {
                    client: key,
                    milli: full,
                    refilled: now,
                    used: now,
                });
                &mut set[way]
            }
        };
        let Some(s) = slot.as_mut() else {
            return true;
        };
        refill(s, full, now);
        s.used = now;
        if s.milli < 1000 {
            return false;
        }
        s.milli -= 1000;
        true
    }
}

/// `full / 60 s` millitokens per second since the last refill, capped at a
/// full bucket (also when the rate was lowered by a reload).
fn refill(s: &mut Slot, full: u64, now: Instant) {
    let elapsed = now.saturating_duration_since(s.refilled);
    let earned = elapsed.as_millis().saturating_mul(u128::from(full)) / 60_000;
    let earned = u64::try_from(earned).unwrap_or(u64::MAX);
    if earned > 0 {
        s.milli = s.milli.saturating_add(earned).min(full);
        s.refilled = now;
    }
    s.milli = s.milli.min(full);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn v4(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(n)))
    }

    #[test]
    fn one_clients_flood_leaves_the_others_alone() {
        let r = ClientRates::default();
        let t = Instant::now();
        let a = (0..700).filter(|_| r.admit(v4(1), 60, t)).count();
        assert_eq!(a, 60);
        assert!(r.admit(v4(2), 60, t));
        assert!(!r.admit(v4(1), 60, t));
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let r = ClientRates::default();
        let t = Instant::now();
        assert_eq!((0..10).filter(|_| r.admit(v4(1), 3, t)).count(), 3);
        // One token every 20 s.
        assert!(!r.admit(v4(1), 3, t + Duration::from_secs(19)));
        assert!(r.admit(v4(1), 3, t + Duration::from_secs(20)));
        assert!(!r.admit(v4(1), 3, t + Duration::from_secs(21)));
        // Never more than a full bucket.
        let later = t + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| r.admit(v4(1), 3, later)).count(), 3);
    }

    #[test]
    fn an_ipv6_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let r = ClientRates::default();
        let t = Instant::now();
        let in_64 = |n: u16| Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, n)));
        assert_eq!((0..10).filter(|n| r.admit(in_64(*n), 5, t)).count(), 5);
        let mapped = Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()));
        assert_eq!((0..3).filter(|_| r.admit(mapped, 2, t)).count(), 2);
        assert!(!r.admit(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))), 2, t));
    }

    #[test]
    fn the_table_keeps_its_size_and_a_busy_client_its_bucket() {
        let r = ClientRates::default();
        let t = Instant::now();
        for n in 0..200_000u32 {
            assert!(r.admit(v4(n), 1, t));
        }
        assert_eq!(r.sets.len(), SETS);
        // A client that keeps sending stays in its set: the others evicted
        // are the ones used longest ago.
        let flooder = v4(u32::MAX);
        let mut admitted = 0;
        for n in 0..20_000u32 {
            let at = t + Duration::from_micros(u64::from(n) * 2);
            admitted += usize::from(r.admit(flooder, 10, at));
            r.admit(v4(n), 1, at + Duration::from_micros(1));
        }
        assert!(admitted < 50, "{admitted}");
    }
}
