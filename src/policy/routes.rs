//! The router: which route (site) a request belongs to, from the host the
//! client asked for and its canonical path. Precedence: an exact host over a
//! wildcard host (the longer suffix first) over a route without hosts; then
//! the longest path prefix, on segment boundaries. Selection is a few hash
//! lookups per request, whatever the number of routes, and never allocates
//! for a path without `;`, escaped slashes, capitals or trailing dots.
//!
//! The route boundary must hold however the upstream reads the path: a path
//! whose route would change under another server's reading (see
//! `path::readings`) is refused rather than routed on one guess.

use std::collections::HashMap;
use std::fmt;

use crate::policy::path::{readings, CanonicalPath, PathRefusal};

/// The site requests go to when no route matches: the top-level policy.
pub const DEFAULT_SITE: usize = 0;

/// A `hosts` entry, validated and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(Box<str>),
    /// `*.example.com`: one or more labels before the suffix, never the
    /// suffix itself. Holds `example.com`.
    Wildcard(Box<str>),
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
        }
    }
}

/// What a route does with `%2F` and `%5C` (a slash inside a segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// 400: upstreams disagree on whether they separate segments.
    #[default]
    Reject,
    /// Forwarded as sent, for APIs that put `%2F` inside a segment. Still
    /// refused when decoding them would take the path to another route.
    Keep,
}

impl EscapedSlashes {
    pub fn as_str(self) -> &'static str {
        match self {
            EscapedSlashes::Reject => "reject",
            EscapedSlashes::Keep => "keep",
        }
    }
}

/// What a route matches. `hosts` empty means any host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub hosts: Vec<HostPattern>,
    /// Canonical, starting with `/`, never ending with `/` unless it is `/`.
    pub path_prefix: Box<str>,
    pub escaped_slashes: EscapedSlashes,
}

/// Two routes that would take the same requests with the same precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Site indexes, the earlier route first.
    pub first: usize,
    pub second: usize,
    /// The host pattern they share (`None`: both have no hosts) and prefix.
    pub host: Option<HostPattern>,
    pub path_prefix: Box<str>,
    /// The prefixes differ only in letter case or trailing dots, which
    /// case-insensitive upstreams ignore.
    pub folded: bool,
}

#[derive(Debug, Default)]
struct Prefixes {
    by_prefix: HashMap<Box<str>, usize>,
    /// No prefix is longer: path positions beyond it need no lookup.
    longest: usize,
}

impl Prefixes {
    fn insert(&mut self, prefix: &str, site: usize) -> Result<(), usize> {
        if let Some(existing) = self.by_prefix.get(prefix) {
            return Err(*existing);
        }
        self.by_prefix.insert(prefix.into(), site);
        self.longest = self.longest.max(prefix.len());
        Ok(())
    }

    fn get(&self, candidate: &[u8]) -> Option<usize> {
        let text = std::str::from_utf8(candidate).ok()?;
        self.by_prefix.get(text).copied()
    }

    /// The site of the longest prefix that `path` starts with on a segment
    /// boundary: `/v1` takes `/v1`, `/v1/` and `/v1/x`, never `/v1x`.
    fn lookup(&self, path: &[u8]) -> Option<usize> {
        if self.by_prefix.is_empty() {
            return None;
        }
        if path.len() <= self.longest {
            if let Some(site) = self.get(path) {
                return Some(site);
            }
        }
        let last = path.len().min(self.longest + 1);
        for i in (1..last).rev() {
            if path[i] == b'/' {
                if let Some(site) = self.get(&path[..i]) {
                    return Some(site);
                }
            }
        }
        self.get(b"/")
    }
}

/// Prefix tables per host pattern.
#[derive(Debug, Default)]
struct Tables {
    exact: HashMap<Box<str>, Prefixes>,
    wildcard: HashMap<Box<str>, Prefixes>,
    any_host: Prefixes,
}

impl Tables {
    /// Adds `m` under `prefix` (its own, or folded), reporting every host
    /// it shares with an earlier route.
    fn insert(
        &mut self,
        site: usize,
        m: &RouteMatch,
        prefix: &str,
        folded: bool,
        conflicts: &mut Vec<Conflict>,
    ) {
        let mut add = |table: &mut Prefixes, host: Option<&HostPattern>| {
            if let Err(first) = table.insert(prefix, site) {
                conflicts.push(Conflict {
                    first,
                    second: site,
                    host: host.cloned(),
                    path_prefix: m.path_prefix.clone(),
                    folded,
                });
            }
        };
        if m.hosts.is_empty() {
            add(&mut self.any_host, None);
        }
        for host in &m.hosts {
            let table = match host {
                HostPattern::Exact(h) => self.exact.entry(h.clone()).or_default(),
                HostPattern::Wildcard(s) => self.wildcard.entry(s.clone()).or_default(),
            };
            add(table, Some(host));
        }
    }

    fn select(&self, host: Option<&str>, path: &[u8]) -> usize {
        if let Some(host) = host {
            if let Some(site) = self.exact.get(host).and_then(|p| p.lookup(path)) {
                return site;
            }
            if !self.wildcard.is_empty() {
                for (i, _) in host.match_indices('.') {
                    let suffix = &host[i + 1..];
                    if let Some(site) = self.wildcard.get(suffix).and_then(|p| p.lookup(path)) {
                        return site;
                    }
                }
            }
        }
        self.any_host.lookup(path).unwrap_or(DEFAULT_SITE)
    }
}

#[derive(Debug, Default)]
pub struct Router {
    tables: Tables,
    /// The same routes with folded prefixes (`readings::fold`).
    folded: Tables,
    /// Some route has a prefix other than `/`: only then can a reading of
    /// the path change its route.
    has_paths: bool,
    /// Some prefix changes when folded: every path is then read folded too.
    prefixes_fold: bool,
    /// By site: the route takes escaped slashes.
    keeps_escaped_slashes: Vec<bool>,
    /// Every route, for `--check`: (site, match), in precedence order.
    table: Vec<(usize, RouteMatch)>,
}

/// Longest host name we look up; longer ones match no host pattern.
const MAX_HOST: usize = 255;

impl Router {
    /// Build from `(site, match)` pairs in config order. Every pair of routes
    /// that would share host and prefix is reported, and so is every pair
    /// whose prefixes a case-insensitive upstream reads as one.
    pub fn new(routes: &[(usize, RouteMatch)]) -> Result<Router, Vec<Conflict>> {
        let mut router = Router::default();
        let mut conflicts = Vec::new();
        for (site, m) in routes {
            router
                .tables
                .insert(*site, m, &m.path_prefix, false, &mut conflicts);
        }
        if conflicts.is_empty() {
            for (site, m) in routes {
                let folded = readings::fold(m.path_prefix.as_bytes());
                let folded = String::from_utf8_lossy(&folded);
                router.prefixes_fold |= *folded != *m.path_prefix;
                router
                    .folded
                    .insert(*site, m, &folded, true, &mut conflicts);
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        router.has_paths = routes.iter().any(|(_, m)| &*m.path_prefix != "/");
        let sites = routes.iter().map(|(s, _)| s + 1).max().unwrap_or(1);
        router.keeps_escaped_slashes = vec![false; sites];
        for (site, m) in routes {
            router.keeps_escaped_slashes[*site] = m.escaped_slashes == EscapedSlashes::Keep;
        }
        let mut table = routes.to_vec();
        table.sort_by_key(|(site, m)| {
            (precedence(m), std::cmp::Reverse(m.path_prefix.len()), *site)
        });
        router.table = table;
        Ok(router)
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Routes in the order a request is matched against them.
    pub fn table(&self) -> &[(usize, RouteMatch)] {
        &self.table
    }

    /// The site for a path as spelled. `host` is what the client asked for
    /// (port and case as sent); `path` is canonical, without the query.
    pub fn select(&self, host: Option<&[u8]>, path: &[u8]) -> usize {
        if self.table.is_empty() {
            return DEFAULT_SITE;
        }
        let mut buf = [0u8; MAX_HOST];
        let host = host.and_then(|h| host_key(h, &mut buf));
        self.tables.select(host, path)
    }

    /// The site for a request, or why its path is refused: an escaped
    /// slash on a route that does not take them, or a path that another
    /// server's reading would put on another route (or above the root).
    pub fn route(
        &self,
        host: Option<&[u8]>,
        path: &CanonicalPath<'_>,
    ) -> Result<usize, PathRefusal> {
        let mut buf = [0u8; MAX_HOST];
        let host = host.and_then(|h| host_key(h, &mut buf));
        let site = if self.table.is_empty() {
            DEFAULT_SITE
        } else {
            self.tables.select(host, path.as_bytes())
        };
        if path.has_escaped_slash()
            && !self
                .keeps_escaped_slashes
                .get(site)
                .copied()
                .unwrap_or(false)
        {
            return Err(PathRefusal::EscapedSlash);
        }
        if !self.has_paths {
            return Ok(site);
        }
        if !self.same_when_folded(host, path.as_bytes(), site) {
            return Err(PathRefusal::Ambiguous);
        }
        for reading in readings::alternatives(path.as_bytes()) {
            let reading = reading.map_err(|_| PathRefusal::Ambiguous)?;
            if self.tables.select(host, &reading) != site
                || !self.same_when_folded(host, &reading, site)
            {
                return Err(PathRefusal::Ambiguous);
            }
        }
        Ok(site)
    }

    /// A case-insensitive server reads `path` as a path on `site` too.
    fn same_when_folded(&self, host: Option<&str>, path: &[u8], site: usize) -> bool {
        if !self.prefixes_fold && !readings::needs_folding(path) {
            return true;
        }
        self.folded.select(host, &readings::fold(path)) == site
    }
}

/// Sort key of a route's most specific host: exact, then wildcards with the
/// longest suffix first, then no hosts.
fn precedence(m: &RouteMatch) -> (u8, std::cmp::Reverse<usize>) {
    m.hosts
        .iter()
        .map(|h| match h {
            HostPattern::Exact(_) => (0, std::cmp::Reverse(0)),
            HostPattern::Wildcard(s) => (1, std::cmp::Reverse(s.len())),
        })
        .min()
        .unwrap_or((2, std::cmp::Reverse(0)))
}

/// The host as a lookup key: port dropped, one trailing dot dropped,
/// lower-cased into `buf`. `None` when it is too long or not UTF-8.
fn host_key<'b>(raw: &[u8], buf: &'b mut [u8; MAX_HOST]) -> Option<&'b str> {
    let host = if raw.first() == Some(&b'[') {
        let close = raw.iter().position(|&b| b == b']')?;
        &raw[..=close]
    } else {
        match raw.iter().rposition(|&b| b == b':') {
            Some(i) => &raw[..i],
            None => raw,
        }
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() || host.len() > MAX_HOST {
        return None;
    }
    let out = &mut buf[..host.len()];
    for (o, b) in out.iter_mut().zip(host) {
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(hosts: &[&str], prefix: &str) -> RouteMatch {
        RouteMatch {
            hosts: hosts
                .iter()
                .map(|h| match h.strip_prefix("*.") {
                    Some(s) => HostPattern::Wildcard(s.into()),
                    None => HostPattern::Exact((*h).into()),
                })
                .collect(),
            path_prefix: prefix.into(),
            escaped_slashes: EscapedSlashes::Reject,
        }
    }

    fn router(routes: &[(&[&str], &str)]) -> Router {
        let specs: Vec<(usize, RouteMatch)> = routes
            .iter()
            .enumerate()
            .map(|(i, (h, p))| (i + 1, m(h, p)))
            .collect();
        Router::new(&specs).unwrap()
    }

    fn pick(r: &Router, host: &str, path: &str) -> usize {
        r.select(Some(host.as_bytes()), path.as_bytes())
    }

    #[test]
    fn no_routes_means_the_default_site() {
        let r = router(&[]);
        assert_eq!(pick(&r, "a.example.com", "/x"), DEFAULT_SITE);
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let r = router(&[(&[], "/v1")]);
        for yes in ["/v1", "/v1/", "/v1/x", "/v1/x/y"] {
            assert_eq!(pick(&r, "h", yes), 1, "{yes}");
        }
        for no in ["/v1x", "/v", "/", "/v2/v1", "/V1"] {
            assert_eq!(pick(&r, "h", no), DEFAULT_SITE, "{no}");
        }
    }

    #[test]
    fn the_longest_prefix_wins() {
        let r = router(&[(&[], "/"), (&[], "/api"), (&[], "/api/v2")]);
        assert_eq!(pick(&r, "h", "/x"), 1);
        assert_eq!(pick(&r, "h", "/api/v1"), 2);
        assert_eq!(pick(&r, "h", "/api/v2/users"), 3);
        assert_eq!(pick(&r, "h", "/api/v22"), 2);
    }

    #[test]
    fn exact_host_beats_wildcard_beats_any() {
        let r = router(&[
            (&[], "/"),
            (&["*.example.com"], "/"),
            (&["api.example.com"], "/"),
            (&["*.eu.example.com"], "/"),
        ]);
        assert_eq!(pick(&r, "api.example.com", "/"), 3);
        assert_eq!(pick(&r, "API.Example.com:8443", "/"), 3);
        assert_eq!(pick(&r, "api.example.com.", "/"), 3);
        assert_eq!(pick(&r, "app.example.com", "/"), 2);
        assert_eq!(pick(&r, "a.b.example.com", "/"), 2);
        assert_eq!(pick(&r, "x.eu.example.com", "/"), 4);
        assert_eq!(pick(&r, "example.com", "/"), 1);
        assert_eq!(pick(&r, "evil-example.com", "/"), 1);
        assert_eq!(pick(&r, "example.com.evil.net", "/"), 1);
        assert_eq!(r.select(None, b"/"), 1);
    }

    #[test]
    fn host_precedence_comes_before_prefix_length() {
        let r = router(&[(&[], "/api/v1"), (&["api.example.com"], "/")]);
        assert_eq!(pick(&r, "api.example.com", "/api/v1/x"), 2);
        assert_eq!(pick(&r, "other.example.com", "/api/v1/x"), 1);
        // A host route whose prefix does not match falls through.
        let r = router(&[(&[], "/"), (&["api.example.com"], "/v1")]);
        assert_eq!(pick(&r, "api.example.com", "/v2"), 1);
    }

    #[test]
    fn equal_precedence_is_a_conflict_naming_both() {
        let specs = vec![
            (1, m(&["a.example.com"], "/v1")),
            (2, m(&["b.example.com"], "/v1")),
            (3, m(&["b.example.com", "a.example.com"], "/v1")),
            (4, m(&[], "/")),
            (5, m(&[], "/")),
        ];
        let conflicts = Router::new(&specs).unwrap_err();
        let pairs: Vec<(usize, usize)> = conflicts.iter().map(|c| (c.first, c.second)).collect();
        assert_eq!(pairs, [(2, 3), (1, 3), (4, 5)]);
    }

    #[test]
    fn the_table_is_in_precedence_order() {
        let r = router(&[
            (&[], "/"),
            (&["*.example.com"], "/"),
            (&["a.example.com"], "/"),
            (&[], "/api"),
        ]);
        let order: Vec<usize> = r.table().iter().map(|(s, _)| *s).collect();
        assert_eq!(order, [3, 2, 4, 1]);
    }
}
