//! Policy learning (issue 21): per route, in bounded tables, which CSP
//! sources browsers reported blocked and which origins CORS refused (or
//! would have, in report mode), each with its count, first and last seen,
//! distinct documents and distinct client networks; the noise counted by
//! class. `suggest` turns that into the smallest policy change that allows
//! what enough distinct networks saw; `persist` saves and merges it.
//!
//! Only report POSTs and refused CORS requests reach it: a proxied request
//! never does any work here.

pub mod directives;
pub mod persist;
pub mod sources;
pub mod suggest;
pub mod table;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::observe::reports::{ReportType, Violation};
use sources::{Noise, Reduced};
use table::Table;

/// CSP keys (directive, disposition, source) tracked per route.
pub const CSP_CAPACITY: usize = 256;
/// CORS origins tracked per route.
pub const CORS_CAPACITY: usize = 128;
/// Routes tracked: those of the config, plus any a state file brings, up to
/// this many.
pub const MAX_ROUTES: usize = 256;

/// Directives a report may name that take no source list: what is
/// reported under them is never learned as a source.
const NO_SOURCES: &[&str] = &[
    "block-all-mixed-content",
    "plugin-types",
    "report-to",
    "report-uri",
    "require-trusted-types-for",
    "sandbox",
    "trusted-types",
    "upgrade-insecure-requests",
    "webrtc",
    "other",
];

/// Whether a learned source may be suggested for this directive: a
/// directive of the closed set that takes sources.
pub fn takes_sources(directive: &str) -> bool {
    crate::observe::reports::DIRECTIVE_NAMES.contains(&directive)
        && !NO_SOURCES.contains(&directive)
}

/// Which CSP header a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Header {
    /// `Content-Security-Policy` (or a report that did not say).
    Enforce,
    /// `Content-Security-Policy-Report-Only`.
    ReportOnly,
}

impl Header {
    pub fn as_str(self) -> &'static str {
        match self {
            Header::Enforce => "enforce",
            Header::ReportOnly => "report",
        }
    }

    pub fn parse(s: &str) -> Option<Header> {
        match s {
            "enforce" => Some(Header::Enforce),
            "report" => Some(Header::ReportOnly),
            _ => None,
        }
    }
}

/// One route's tables.
#[derive(Debug, Clone)]
pub struct RouteLearning {
    /// Keyed `"<directive> <enforce|report> <source>"`.
    pub csp: Table,
    /// Keyed by the canonical origin.
    pub cors: Table,
    pub noise: [u64; Noise::ALL.len()],
}

impl Default for RouteLearning {
    fn default() -> RouteLearning {
        RouteLearning {
            csp: Table::new(CSP_CAPACITY),
            cors: Table::new(CORS_CAPACITY),
            noise: [0; Noise::ALL.len()],
        }
    }
}

/// A CSP table key's parts.
pub fn csp_key(directive: &str, header: Header, source: &str) -> String {
    format!("{directive} {} {source}", header.as_str())
}

/// The parts of a key [`csp_key`] made.
pub fn split_csp_key(key: &str) -> Option<(&str, Header, &str)> {
    let mut parts = key.splitn(3, ' ');
    let directive = parts.next()?;
    let header = Header::parse(parts.next()?)?;
    Some((directive, header, parts.next()?))
}

impl RouteLearning {
    pub fn note_noise(&mut self, noise: Noise) {
        let n = &mut self.noise[noise.index()];
        *n = n.saturating_add(1);
    }

    /// Learn from one violation report. `report_host`: the `Host` the
    /// report was sent to.
    pub fn learn_violation(
        &mut self,
        v: &Violation,
        report_host: Option<&[u8]>,
        network: u128,
        now: u64,
    ) {
        if v.kind != ReportType::CspViolation {
            return;
        }
        if !sources::document_on_host(v, report_host) {
            return self.note_noise(Noise::ForeignDocument);
        }
        let directive = v.directive.as_str();
        let source = match sources::reduce_blocked(&v.blocked) {
            Reduced::Noise(n) => return self.note_noise(n),
            Reduced::Source(_) if !takes_sources(directive) => {
                return self.note_noise(Noise::Unreadable)
            }
            Reduced::Source(s) => s,
        };
        let header = match v.disposition {
            crate::observe::reports::Disposition::Report => Header::ReportOnly,
            _ => Header::Enforce,
        };
        let document = fnv1a(v.document.as_str().as_bytes());
        self.csp.observe(
            &csp_key(directive, header, &source),
            network,
            Some(document),
            now,
        );
    }

    /// Learn from one CORS refusal: every `Origin` value the request sent.
    pub fn learn_refused_origin(&mut self, origins: &[&[u8]], network: u128, now: u64) {
        let [one] = origins else {
            return self.note_noise(Noise::OpaqueOrigin);
        };
        match sources::reduce_origin(one) {
            Ok(origin) => self.cors.observe(&origin, network, None, now),
            Err(noise) => self.note_noise(noise),
        }
    }
}

/// A stable 64-bit hash (FNV-1a), the same in every gateway, so document
/// sets from several state files merge.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every route's tables, shared by the gateway's threads and kept across
/// reloads (by route name).
#[derive(Debug, Default)]
pub struct Learning {
    routes: Mutex<BTreeMap<Box<str>, RouteLearning>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Learning {
    /// Run `f` on `route`'s tables (made if there is room for one more).
    pub fn with_route(&self, route: &str, f: impl FnOnce(&mut RouteLearning)) {
        let mut routes = lock(&self.routes);
        if let Some(r) = routes.get_mut(route) {
            return f(r);
        }
        if routes.len() < MAX_ROUTES {
            f(routes.entry(route.into()).or_default());
        }
    }

    pub fn record_violation(
        &self,
        route: &str,
        v: &Violation,
        report_host: Option<&[u8]>,
        client: Option<IpAddr>,
    ) {
        let network = sources::network_of(client);
        let now = unix_now();
        self.with_route(route, |r| r.learn_violation(v, report_host, network, now));
    }

    pub fn record_refused_origin(&self, route: &str, origins: &[&[u8]], client: Option<IpAddr>) {
        let network = sources::network_of(client);
        let now = unix_now();
        self.with_route(route, |r| r.learn_refused_origin(origins, network, now));
    }

    /// A copy of every route's tables.
    pub fn snapshot(&self) -> BTreeMap<String, RouteLearning> {
        lock(&self.routes)
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Fold in what a state file or another gateway learned.
    pub fn merge(&self, other: &BTreeMap<String, RouteLearning>) {
        for (name, theirs) in other {
            self.with_route(name, |mine| mine.merge(theirs));
        }
    }
}

impl RouteLearning {
    pub fn merge(&mut self, other: &RouteLearning) {
        for (k, e) in other.csp.iter() {
            self.csp.merge(k, e);
        }
        for (k, e) in other.cors.iter() {
            self.cors.merge(k, e);
        }
        self.csp.dropped = self.csp.dropped.saturating_add(other.csp.dropped);
        self.cors.dropped = self.cors.dropped.saturating_add(other.cors.dropped);
        for (mine, theirs) in self.noise.iter_mut().zip(other.noise) {
            *mine = mine.saturating_add(theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::reports::{blocked, document_of, Directive, Disposition};

    fn report(directive: &str, blocked_uri: &str, doc: &str) -> Violation {
        Violation {
            kind: ReportType::CspViolation,
            directive: Directive::parse(directive),
            disposition: Disposition::Report,
            blocked: blocked(blocked_uri),
            document: document_of(doc),
        }
    }

    #[test]
    fn reports_are_learned_as_sources_and_noise_is_counted() {
        let mut r = RouteLearning::default();
        let host = Some(&b"app.example:8080"[..]);
        for (directive, uri, doc) in [
            (
                "script-src-elem",
                "https://cdn.example/a.js?x=1",
                "https://app.example/p",
            ),
            (
                "script-src-elem",
                "https://cdn.example:443/b.js",
                "https://app.example/q",
            ),
            (
                "script-src-elem",
                "chrome-extension://abc/x.js",
                "https://app.example/p",
            ),
            (
                "script-src-elem",
                "https://cdn.example/a.js",
                "https://evil.example/p",
            ),
            ("img-src", "about:blank", "https://app.example/p"),
            (
                "trusted-types",
                "https://cdn.example/",
                "https://app.example/p",
            ),
        ] {
            r.learn_violation(&report(directive, uri, doc), host, 1, 10);
        }
        let keys: Vec<(&str, u64, usize)> = r
            .csp
            .iter()
            .map(|(k, e)| (k, e.count, e.documents.len()))
            .collect();
        assert_eq!(keys, [("script-src-elem report https://cdn.example", 2, 2)]);
        assert_eq!(r.noise[Noise::Extension.index()], 1);
        assert_eq!(r.noise[Noise::ForeignDocument.index()], 1);
        assert_eq!(r.noise[Noise::About.index()], 1);
        assert_eq!(r.noise[Noise::Unreadable.index()], 1);
    }

    #[test]
    fn refused_origins_are_learned_canonical_and_opaque_ones_are_noise() {
        let mut r = RouteLearning::default();
        r.learn_refused_origin(&[b"https://Partner.example:443"], 1, 1);
        r.learn_refused_origin(&[b"null"], 1, 1);
        r.learn_refused_origin(&[b"https://a.example", b"https://b.example"], 1, 1);
        let keys: Vec<&str> = r.cors.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["https://partner.example"]);
        assert_eq!(r.noise[Noise::OpaqueOrigin.index()], 2);
    }

    #[test]
    fn routes_are_bounded() {
        let l = Learning::default();
        for i in 0..(MAX_ROUTES + 10) {
            l.with_route(&format!("r{i}"), |r| r.note_noise(Noise::About));
        }
        assert_eq!(l.snapshot().len(), MAX_ROUTES);
    }
}
