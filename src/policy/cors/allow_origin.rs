//! `Access-Control-Allow-Origin`'s question: which origins pass. Exact
//! origins by canonical text, wildcards by host suffix, and the localhost
//! rule; same-origin is `decision`'s.

use std::collections::{HashMap, HashSet};

use super::CorsPolicy;
use crate::policy::origin::{self, AllowedOrigin, Canonical, OriginError, Scheme};

/// Wildcard origins by host suffix, with their scheme and port.
pub(super) type Wildcards = HashMap<Box<str>, Vec<(Scheme, Option<u16>)>>;

/// The allowed origins as lookup tables: exact ones by canonical text,
/// wildcards by host suffix.
pub(super) fn origin_sets(allowed: &[AllowedOrigin]) -> (HashSet<Box<str>>, Wildcards) {
    let mut exact = HashSet::new();
    let mut wildcards: Wildcards = HashMap::new();
    for entry in allowed {
        match entry {
            AllowedOrigin::Exact(o) => {
                exact.insert(Box::from(o.as_str()));
            }
            AllowedOrigin::Wildcard(w) => wildcards
                .entry(w.suffix.clone())
                .or_default()
                .push((w.scheme, w.port)),
        }
    }
    (exact, wildcards)
}

impl CorsPolicy {
    pub(super) fn listed(&self, origin: &Canonical<'_>) -> bool {
        if self.exact.contains(origin.text.as_str()) {
            return true;
        }
        if self.wildcards.is_empty() || !origin.host_is_name {
            return false;
        }
        // Every proper suffix after a dot: a.b.example.com -> b.example.com,
        // example.com, com. The apex itself is never a candidate.
        let host = origin.host();
        host.match_indices('.').any(|(i, _)| {
            self.wildcards
                .get(&host[i + 1..])
                .is_some_and(|v| v.contains(&(origin.scheme, origin.port)))
        })
    }

    /// Is this origin allowed by the list (exact or wildcard) or the
    /// localhost rule? Same-origin is decided separately, by `evaluate`.
    pub fn origin_allowed(&self, raw: &[u8]) -> Result<bool, OriginError> {
        let origin = origin::canonical_parts(raw)?;
        Ok((origin.local && self.settings.allow_localhost) || self.listed(&origin))
    }
}
