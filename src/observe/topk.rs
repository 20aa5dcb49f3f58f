//! The most frequent keys of an unbounded stream in fixed memory: the
//! space-saving algorithm (Metwally, Agrawal, El Abbadi, 2005). At most
//! `capacity` keys are tracked; a new key takes the place of the least
//! counted one and inherits its count as a possible overestimate (`error`).
//! Any key seen more than `total / capacity` times is guaranteed to be
//! tracked, so with a capacity well above the number shown, the top of the
//! list is exact in practice and never wrong by more than `error`.
//!
//! Keys come from clients (origins, blocked URLs): callers cap their length,
//! and the table never grows past `capacity` whatever arrives.

use std::collections::HashMap;

/// Longest key kept, in bytes; longer keys are cut (on a char boundary).
pub const MAX_KEY: usize = 128;

#[derive(Debug)]
pub struct SpaceSaving {
    capacity: usize,
    index: HashMap<Box<str>, usize>,
    slots: Vec<Slot>,
    total: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    key: Box<str>,
    count: u64,
    error: u64,
}

/// One entry of [`SpaceSaving::top`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counted {
    pub key: String,
    /// An upper bound of the true count.
    pub count: u64,
    /// How much of `count` may be inherited from evicted keys: the true
    /// count is at least `count - error`.
    pub error: u64,
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> SpaceSaving {
        let capacity = capacity.max(1);
        SpaceSaving {
            capacity,
            index: HashMap::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            total: 0,
        }
    }

    pub fn add(&mut self, key: &str) {
        let key = cut(key);
        self.total += 1;
        if let Some(&i) = self.index.get(key) {
            self.slots[i].count += 1;
            return;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(key.into(), self.slots.len());
            self.slots.push(Slot {
                key: key.into(),
                count: 1,
                error: 0,
            });
            return;
        }
        // Replace the least counted key. A linear scan: the table is small
        // and this runs only for keys not already tracked.
        let (i, min) = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.count))
            .min_by_key(|&(_, c)| c)
            .unwrap_or((0, 0));
        let old = std::mem::replace(
            &mut self.slots[i],
            Slot {
                key: key.into(),
                count: min + 1,
                error: min,
            },
        );
        self.index.remove(&old.key);
        self.index.insert(key.into(), i);
    }

    /// The `k` most counted keys, highest first (ties by key).
    pub fn top(&self, k: usize) -> Vec<Counted> {
        let mut all: Vec<&Slot> = self.slots.iter().collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.into_iter()
            .take(k)
            .map(|s| Counted {
                key: s.key.to_string(),
                count: s.count,
                error: s.error,
            })
            .collect()
    }

    /// How many keys are tracked (never more than the capacity).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Everything ever added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes held by the keys (twice: the index and the slots), for tests
    /// and the README's figure.
    pub fn key_bytes(&self) -> usize {
        self.slots.iter().map(|s| 2 * s.key.len()).sum()
    }
}

fn cut(key: &str) -> &str {
    if key.len() <= MAX_KEY {
        return key;
    }
    let mut end = MAX_KEY;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_while_everything_fits() {
        let mut s = SpaceSaving::new(10);
        for k in ["a", "b", "a", "c", "a", "b"] {
            s.add(k);
        }
        let top = s.top(2);
        assert_eq!(
            top,
            [
                Counted {
                    key: "a".into(),
                    count: 3,
                    error: 0
                },
                Counted {
                    key: "b".into(),
                    count: 2,
                    error: 0
                },
            ]
        );
        assert_eq!(s.total(), 6);
    }

    #[test]
    fn heavy_hitters_survive_a_million_distinct_keys_in_fixed_memory() {
        let mut s = SpaceSaving::new(200);
        for i in 0..1_000_000u32 {
            s.add(&format!("https://noise-{i}.example"));
            if i % 10 == 0 {
                s.add("https://heavy.example");
            }
            if i % 50 == 0 {
                s.add("https://second.example");
            }
        }
        assert_eq!(s.len(), 200);
        assert!(s.index.len() == 200);
        let top = s.top(2);
        assert_eq!(top[0].key, "https://heavy.example");
        assert_eq!(top[1].key, "https://second.example");
        // The guarantee: true count (100,000) within [count - error, count].
        assert!(top[0].count - top[0].error <= 100_000 && top[0].count >= 100_000);
        assert!(s.key_bytes() <= 2 * 200 * MAX_KEY);
    }

    #[test]
    fn long_keys_are_cut_on_a_char_boundary() {
        let mut s = SpaceSaving::new(2);
        let long = "é".repeat(200);
        s.add(&long);
        s.add(&long);
        let top = s.top(1);
        assert!(top[0].key.len() <= MAX_KEY);
        assert_eq!(top[0].count, 2);
    }
}
