//! A table of fixed capacity of what was seen, by key: count, first and
//! last seen, and the distinct documents and client networks it was seen
//! from (each set bounded). Memory does not grow with distinct inputs.
//!
//! When the table is full, a new key takes the place of an entry seen from
//! a single client network (the least counted, then the longest unseen);
//! entries seen from two networks or more are never evicted, so a flood of
//! distinct values from one network can't push out what many clients saw.
//! A new key that finds no such entry is counted in `dropped`.

use std::collections::HashMap;

/// Client networks remembered per entry: `min_clients` is at most this.
pub const MAX_NETWORKS: usize = 16;
/// Documents remembered per entry (as hashes): "8 or more".
pub const MAX_DOCUMENTS: usize = 8;

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
    /// New keys that found the table full of entries seen from several
    /// networks.
    pub dropped: u64,
}

impl Table {
    pub fn new(capacity: usize) -> Table {
        Table {
            capacity: capacity.max(1),
            index: HashMap::new(),
            keys: Vec::new(),
            entries: Vec::new(),
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

    /// Count one sighting of `key`.
    pub fn observe(&mut self, key: &str, network: u128, document: Option<u64>, now: u64) {
        if let Some(slot) = self.slot_for(key, now) {
            self.entries[slot].seen(network, document, now);
        }
    }

    /// Fold in another table's entry (a state file, another gateway).
    pub fn merge(&mut self, key: &str, entry: &Entry) {
        if let Some(slot) = self.slot_for(key, entry.first_seen) {
            let fresh = self.entries[slot].count == 0;
            if fresh {
                self.entries[slot] = entry.clone();
            } else {
                self.entries[slot].merge(entry);
            }
        }
    }

    /// The slot of `key`, made if need be; `None` when it was dropped.
    fn slot_for(&mut self, key: &str, now: u64) -> Option<usize> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        if self.entries.len() < self.capacity {
            self.index.insert(key.into(), self.entries.len());
            self.keys.push(key.into());
            self.entries.push(Entry::new(now));
            return Some(self.entries.len() - 1);
        }
        let Some(victim) = self.victim() else {
            self.dropped = self.dropped.saturating_add(1);
            return None;
        };
        let old = std::mem::replace(&mut self.keys[victim], key.into());
        self.index.remove(&old);
        self.index.insert(key.into(), victim);
        self.entries[victim] = Entry::new(now);
        Some(victim)
    }

    /// The entry a new key may replace: seen from one network at most, the
    /// least counted, then the longest unseen.
    fn victim(&self) -> Option<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.networks.len() <= 1)
            .min_by_key(|(_, e)| (e.count, e.last_seen))
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
    fn a_full_table_of_shared_entries_drops_new_keys() {
        let mut t = Table::new(2);
        for k in ["a", "b"] {
            t.observe(k, 1, None, 1);
            t.observe(k, 2, None, 1);
        }
        t.observe("c", 3, None, 1);
        assert_eq!(t.dropped, 1);
        assert_eq!(t.len(), 2);
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
