//! A table of fixed capacity of what was seen, by key: count, first and
//! last seen, and the distinct documents and client networks it was seen
//! from (each set bounded). Memory does not grow with distinct inputs.
//!
//! When the table is full, a new key takes the place of a weak entry, one
//! seen from fewer than [`WEAK_BELOW`] client networks; entries seen from
//! more are never evicted, so a flood of distinct values can't push out
//! what many clients saw. Each weak entry belongs to the network that
//! reported it first, and a network may hold a sixteenth of the table: past
//! that, its new keys replace its own weak entries, and any newcomer
//! replaces the weak entries of the network holding the most. So one or two
//! networks can neither fill the table nor keep evicting a source others
//! are just starting to report. A new key that finds no weak entry is
//! counted in `dropped`.

use std::collections::HashMap;

/// Client networks remembered per entry: `min_clients` is at most this.
pub const MAX_NETWORKS: usize = 16;
/// Documents remembered per entry (as hashes): "8 or more".
pub const MAX_DOCUMENTS: usize = 8;
/// Entries seen from fewer networks than this (the default `min_clients`)
/// are weak: they may be evicted, and count against their first network.
pub const WEAK_BELOW: usize = 3;

/// What is known of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub count: u64,
    /// Seconds since the Unix epoch.
    pub first_seen: u64,
    pub last_seen: u64,
    /// Distinct networks, at most [`MAX_NETWORKS`] (then "that many or
    /// more").
    pub networks: Vec<u128>,
    /// Hashes of distinct documents, at most [`MAX_DOCUMENTS`].
    pub documents: Vec<u64>,
}

impl Entry {
    fn seen(&mut self, network: u128, document: Option<u64>, now: u64) {
        self.count = self.count.saturating_add(1);
        self.first_seen = self.first_seen.min(now);
        self.last_seen = self.last_seen.max(now);
        add_bounded(&mut self.networks, network, MAX_NETWORKS);
        if let Some(d) = document {
            add_bounded(&mut self.documents, d, MAX_DOCUMENTS);
        }
    }

    fn new(now: u64) -> Entry {
        Entry {
            first_seen: now,
            last_seen: now,
            ..Entry::default()
        }
    }

    /// Fold another gateway's entry for the same key into this one.
    pub fn merge(&mut self, other: &Entry) {
        self.count = self.count.saturating_add(other.count);
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for n in &other.networks {
            add_bounded(&mut self.networks, *n, MAX_NETWORKS);
        }
        for d in &other.documents {
            add_bounded(&mut self.documents, *d, MAX_DOCUMENTS);
        }
    }
}

fn add_bounded<T: PartialEq + Copy>(set: &mut Vec<T>, value: T, max: usize) {
    if set.len() < max && !set.contains(&value) {
        set.push(value);
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    capacity: usize,
    index: HashMap<Box<str>, usize>,
    keys: Vec<Box<str>>,
    entries: Vec<Entry>,
    /// Weak entries by the network that reported them first.
    weak_by_network: HashMap<u128, usize>,
    /// New keys that found the table full of entries seen from several
    /// networks.
    pub dropped: u64,
}

impl Entry {
    fn is_weak(&self) -> bool {
        self.networks.len() < WEAK_BELOW
    }

    /// The network that reported it first.
    fn first_network(&self) -> Option<u128> {
        self.networks.first().copied()
    }
}

impl Table {
    pub fn new(capacity: usize) -> Table {
        Table {
            capacity: capacity.max(1),
            index: HashMap::new(),
            keys: Vec::new(),
            entries: Vec::new(),
            weak_by_network: HashMap::new(),
            dropped: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Weak entries one network may hold.
    fn quota(&self) -> usize {
        (self.capacity / 16).max(1)
    }

    /// Count one sighting of `key`.
    pub fn observe(&mut self, key: &str, network: u128, document: Option<u64>, now: u64) {
        if let Some(slot) = self.slot_for(key, network, now) {
            self.forget_weak(slot);
            self.entries[slot].seen(network, document, now);
            self.note_weak(slot);
        }
    }

    /// Fold in another table's entry (a state file, another gateway).
    pub fn merge(&mut self, key: &str, entry: &Entry) {
        let network = entry.first_network().unwrap_or_default();
        if let Some(slot) = self.slot_for(key, network, entry.first_seen) {
            self.forget_weak(slot);
            let fresh = self.entries[slot].count == 0;
            if fresh {
                self.entries[slot] = entry.clone();
            } else {
                self.entries[slot].merge(entry);
            }
            self.note_weak(slot);
        }
    }

    fn note_weak(&mut self, slot: usize) {
        let e = &self.entries[slot];
        if let (true, Some(n)) = (e.is_weak(), e.first_network()) {
            *self.weak_by_network.entry(n).or_default() += 1;
        }
    }

    fn forget_weak(&mut self, slot: usize) {
        let e = &self.entries[slot];
        if let (true, Some(n)) = (e.is_weak(), e.first_network()) {
            if let Some(held) = self.weak_by_network.get_mut(&n) {
                *held -= 1;
                if *held == 0 {
                    self.weak_by_network.remove(&n);
                }
            }
        }
    }

    /// The slot of `key`, made if need be; `None` when it was dropped.
    fn slot_for(&mut self, key: &str, network: u128, now: u64) -> Option<usize> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        if self.entries.len() < self.capacity {
            self.index.insert(key.into(), self.entries.len());
            self.keys.push(key.into());
            self.entries.push(Entry::new(now));
            return Some(self.entries.len() - 1);
        }
        let Some(victim) = self.victim(network) else {
            self.dropped = self.dropped.saturating_add(1);
            return None;
        };
        self.forget_weak(victim);
        let old = std::mem::replace(&mut self.keys[victim], key.into());
        self.index.remove(&old);
        self.index.insert(key.into(), victim);
        self.entries[victim] = Entry::new(now);
        Some(victim)
    }

    /// The weak entry a new key from `network` replaces: its own when it is
    /// over its quota, else one of the network holding the most when that
    /// one is over, else the weakest of all (fewest networks, least counted,
    /// longest unseen).
    fn victim(&self, network: u128) -> Option<usize> {
        let quota = self.quota();
        let held = |n: u128| self.weak_by_network.get(&n).copied().unwrap_or(0);
        let crowding = if held(network) >= quota {
            Some(network)
        } else {
            self.weak_by_network
                .iter()
                .max_by_key(|(_, held)| **held)
                .filter(|(_, held)| **held > quota)
                .map(|(n, _)| *n)
        };
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_weak())
            .filter(|(_, e)| crowding.is_none_or(|n| e.first_network() == Some(n)))
            .min_by_key(|(_, e)| (e.networks.len(), e.count, e.last_seen))
            .map(|(i, _)| i)
    }

    /// Every key with its entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.keys.iter().map(|k| &**k).zip(self.entries.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_networks_and_documents_up_to_a_bound() {
        let mut t = Table::new(4);
        for n in 0..40u128 {
            t.observe("k", n % 20, Some((n % 10) as u64), 100 + n as u64);
        }
        let (_, e) = t.iter().next().unwrap();
        assert_eq!(e.count, 40);
        assert_eq!((e.first_seen, e.last_seen), (100, 139));
        assert_eq!(e.networks.len(), MAX_NETWORKS);
        assert_eq!(e.documents.len(), MAX_DOCUMENTS);
    }

    #[test]
    fn a_flood_from_one_network_never_evicts_what_many_networks_saw() {
        let mut t = Table::new(8);
        for n in 0..3 {
            t.observe("https://cdn.example", n, None, 1);
        }
        for i in 0..100_000 {
            t.observe(&format!("https://flood-{i}.example"), 99, None, 2);
        }
        assert_eq!(t.len(), 8);
        let kept: Vec<&str> = t.iter().map(|(k, _)| k).collect();
        assert!(kept.contains(&"https://cdn.example"));
        assert_eq!(t.index.len(), 8);
    }

    #[test]
    fn a_full_table_of_entries_from_many_networks_drops_new_keys() {
        let mut t = Table::new(2);
        for k in ["a", "b"] {
            for n in 1..=3 {
                t.observe(k, n, None, 1);
            }
        }
        t.observe("c", 4, None, 1);
        assert_eq!(t.dropped, 1);
        assert_eq!(t.len(), 2);
    }

    /// One network fills the table first, then keeps sending new junk
    /// between the reports of a new source from five other networks.
    #[test]
    fn one_network_can_not_keep_a_new_source_out() {
        let mut t = Table::new(256);
        let attacker = 99;
        for i in 0..256 {
            for _ in 0..3 {
                t.observe(&format!("junk-{i}"), attacker, None, 1);
            }
        }
        for n in 1..=5 {
            t.observe("https://new-cdn.example", n, None, 2);
            t.observe(&format!("junk-late-{n}"), attacker, None, 2);
        }
        let cdn = t.iter().find(|(k, _)| *k == "https://new-cdn.example");
        assert_eq!(cdn.map(|(_, e)| e.networks.len()), Some(5));
    }

    /// Two networks report the same 256 keys: the table must not freeze.
    #[test]
    fn two_networks_can_not_freeze_the_table() {
        let mut t = Table::new(256);
        for i in 0..256 {
            for n in [98, 99] {
                t.observe(&format!("junk-{i}"), n, None, 1);
            }
        }
        for n in 1..=3 {
            t.observe("https://new-cdn.example", n, None, 2);
        }
        assert_eq!(t.dropped, 0);
        let cdn = t.iter().find(|(k, _)| *k == "https://new-cdn.example");
        assert_eq!(cdn.map(|(_, e)| e.networks.len()), Some(3));
    }

    #[test]
    fn a_network_under_its_quota_takes_the_weakest_entry() {
        let mut t = Table::new(16);
        for i in 0..16u128 {
            t.observe(&format!("k{i}"), i, None, 1);
        }
        t.observe("k0", 100, None, 1);
        t.observe("new", 50, None, 2);
        assert!(t.iter().any(|(k, _)| k == "new"));
        assert!(
            t.iter().any(|(k, _)| k == "k0"),
            "k0 was seen from two networks"
        );
    }

    #[test]
    fn merging_unions_networks_and_widens_the_time_range() {
        let mut a = Table::new(4);
        a.observe("k", 1, Some(1), 10);
        let mut b = Table::new(4);
        b.observe("k", 2, Some(1), 5);
        b.observe("k", 1, Some(2), 20);
        for (k, e) in b.iter() {
            a.merge(k, e);
        }
        let (_, e) = a.iter().next().unwrap();
        assert_eq!(e.count, 3);
        assert_eq!((e.first_seen, e.last_seen), (5, 20));
        assert_eq!(e.networks, [1, 2]);
        assert_eq!(e.documents, [1, 2]);
    }
}
