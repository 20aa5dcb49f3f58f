//! The facts of one request, computed once in the first hook, before the
//! gateway can make any response of its own: who the client is, whether it
//! speaks HTTPS, its request id, which route it is in, the path the upstream
//! will get, and the CORS verdict. Every later hook and every gateway-made
//! response reads them, so an early 400/413/431 carries exactly what a
//! normal response on that connection carries.

use std::net::IpAddr;

use http::header::HeaderValue;
use pingora::http::RequestHeader;
use pingora::protocols::http::ServerSession;

use crate::edge::nonce;
use crate::edge::request_id::{self, X_REQUEST_ID};
use crate::policy::authority::{self, HostRefusal};
use crate::policy::cors::{CorsDecision, Grant, OwnOrigin, RejectReason};
use crate::policy::fetch_metadata::{FetchDecision, FetchMetadataMode, FetchRefusal};
use crate::policy::forwarded::ClientView;
use crate::policy::path::{self, PathRefusal};
use crate::policy::routes::DEFAULT_SITE;
use crate::policy::Policy;

/// What the upstream gets as the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// As the client sent it (already canonical).
    Unchanged,
    /// The canonical path plus the original query.
    Rewritten(Vec<u8>),
    /// Answered 400: the upstream could read the request as another one
    /// than the gateway would route.
    Refused(TargetRefusal),
}

impl Target {
    pub fn is_refused(&self) -> bool {
        matches!(self, Target::Refused(_))
    }
}

/// What the gateway does with a request, decided once from its facts: the
/// front door's fast path and the Pingora hooks both act on this, so a new
/// fact that changes the outcome changes it on both paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'f> {
    /// `400`: the upstream could read the target as another request.
    BadTarget(TargetRefusal),
    /// The violation-report endpoint: the gateway takes it itself.
    Report,
    /// `204`: a preflight from an allowed origin, answered here.
    Preflight(&'f Grant),
    /// `403`: a refused origin.
    CorsRefused(RejectReason),
    /// `403`: a cross-site request `[fetch_metadata]` refuses.
    FetchRefused(FetchRefusal),
    /// To the upstream (in CORS report mode, whatever enforce would do).
    Forward,
}

impl RequestFacts {
    pub fn verdict(&self) -> Verdict<'_> {
        if let Target::Refused(why) = self.target {
            return Verdict::BadTarget(why);
        }
        if self.report {
            return Verdict::Report;
        }
        match (&self.cors, self.fetch) {
            (CorsDecision::Preflight(grant), _) => Verdict::Preflight(grant),
            (CorsDecision::Rejected(reason), _) => Verdict::CorsRefused(*reason),
            (_, FetchDecision::Refused(why)) => Verdict::FetchRefused(why),
            _ => Verdict::Forward,
        }
    }
}

/// Why a request's target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRefusal {
    Path(PathRefusal),
    Host(HostRefusal),
    /// Neither a path (`/...`), an absolute URL, nor `*` with `OPTIONS`:
    /// `?/admin` would be routed as `/` and reach the upstream as
    /// `//admin`.
    Form,
}

impl TargetRefusal {
    /// For log lines: `reason=...`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetRefusal::Path(p) => p.as_str(),
            TargetRefusal::Host(h) => h.as_str(),
            TargetRefusal::Form => "target_form",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestFacts {
    /// The TCP peer (a proxy or the client itself).
    pub peer: Option<IpAddr>,
    /// The peer is a trusted proxy: its X-Forwarded-* are believed.
    pub peer_trusted: bool,
    /// Our listener is TLS.
    pub tls: bool,
    /// The client's connection is HTTPS (TLS here, or a trusted proxy says so).
    pub https: bool,
    /// The real client: the peer, or from a trusted proxy's X-Forwarded-For.
    pub client_ip: Option<IpAddr>,
    pub request_id: HeaderValue,
    /// Index into `Policy::sites`.
    pub site: usize,
    pub target: Target,
    pub cors: CorsDecision,
    /// The route's `[fetch_metadata]` verdict (CORS answers preflights and
    /// refused origins first).
    pub fetch: FetchDecision,
    /// This response's CSP nonce, when the route's headers use one.
    pub nonce: Option<HeaderValue>,
    /// The request is for the violation-report endpoint: the gateway's own,
    /// outside CORS, never forwarded.
    pub report: bool,
}

impl RequestFacts {
    /// Before the first hook has run (Pingora failed earlier).
    pub fn unknown() -> RequestFacts {
        RequestFacts {
            peer: None,
            peer_trusted: false,
            tls: false,
            https: false,
            client_ip: None,
            request_id: HeaderValue::from_static("-"),
            site: DEFAULT_SITE,
            target: Target::Unchanged,
            cors: CorsDecision::NotCors,
            fetch: FetchDecision::Allowed,
            nonce: None,
            report: false,
        }
    }

    /// For a request whose head could not be parsed: what the connection
    /// alone tells (peer, TLS), the default route, a fresh request id.
    pub fn early(peer: Option<IpAddr>, tls: bool) -> RequestFacts {
        RequestFacts {
            peer,
            tls,
            https: tls,
            client_ip: peer,
            request_id: request_id::generate(),
            ..RequestFacts::unknown()
        }
    }

    pub fn compute(
        policy: &Policy,
        peer: Option<IpAddr>,
        tls: bool,
        req: &RequestHeader,
    ) -> RequestFacts {
        let (path, query) = split_target(req);
        let mut facts = Self::from_head(
            policy,
            peer,
            tls,
            &Head {
                method: &req.method,
                path,
                query,
                origin_form: !is_absolute_form(req),
                headers: &req.headers,
                authority: req.uri.authority().map(|a| a.as_str()),
            },
        );
        if !target_form_is_known(req) {
            facts.target = Target::Refused(TargetRefusal::Form);
            facts.site = DEFAULT_SITE;
        }
        facts
    }

    /// The same from the parts of a head, however it was parsed.
    pub fn from_head(
        policy: &Policy,
        peer: Option<IpAddr>,
        tls: bool,
        head: &Head<'_>,
    ) -> RequestFacts {
        let view = ClientView::new(
            &policy.trusted_proxies,
            peer,
            tls,
            head.headers,
            head.authority,
        );
        let (site, target, report) = match route(policy, &view, head) {
            Ok(routed) => routed,
            Err(refusal) => (DEFAULT_SITE, Target::Refused(refusal), false),
        };
        let own = OwnOrigin {
            scheme: view.scheme,
            host: view.host,
        };
        let cors = if report {
            // Browsers send reports from any page, without credentials.
            CorsDecision::NotCors
        } else {
            policy.sites[site]
                .cors
                .evaluate(head.method, head.headers, own)
        };
        let fetch = fetch_metadata(policy, site, head, &target, &cors, report);
        let nonce = policy.sites[site].headers.nonce().map(|_| nonce::mint());
        RequestFacts {
            peer: view.peer,
            peer_trusted: view.peer_trusted,
            tls,
            https: view.is_https(),
            client_ip: view.client_ip(&policy.trusted_proxies, head.headers),
            request_id: request_id::keep_or_generate(head.headers.get(X_REQUEST_ID)),
            site,
            target,
            cors,
            fetch,
            nonce,
            report,
        }
    }
}

/// The route's Fetch Metadata verdict. Not judged: a refused target (400
/// anyway), the report endpoint (browsers post reports from any page), and
/// what CORS answers itself (preflights, refused origins).
fn fetch_metadata(
    policy: &Policy,
    site: usize,
    head: &Head<'_>,
    target: &Target,
    cors: &CorsDecision,
    report: bool,
) -> FetchDecision {
    let rule = &policy.sites[site].fetch_metadata;
    if rule.mode == FetchMetadataMode::Off
        || report
        || matches!(cors, CorsDecision::Preflight(_) | CorsDecision::Rejected(_))
    {
        return FetchDecision::Allowed;
    }
    let path = match target {
        Target::Unchanged => head.path,
        Target::Rewritten(t) => &t[..t.len() - head.query.len()],
        Target::Refused(_) => return FetchDecision::Allowed,
    };
    let cors_allowed = matches!(
        cors,
        CorsDecision::Allowed(_) | CorsDecision::Observed(None)
    );
    rule.evaluate(head.method, head.headers, path, cors_allowed)
}

/// The route, the target the upstream gets and whether it is a violation
/// report; or why the target is refused. The host is checked first: a
/// malformed one would be cut differently by the router and the upstream.
fn route(
    policy: &Policy,
    view: &ClientView<'_>,
    head: &Head<'_>,
) -> Result<(usize, Target, bool), TargetRefusal> {
    authority::check(view.host, head.authority, head.headers).map_err(TargetRefusal::Host)?;
    let canonical = path::canonicalize(head.path).map_err(TargetRefusal::Path)?;
    let report = policy.reports.takes(canonical.as_bytes());
    let site = policy
        .router
        .route(view.host, &canonical)
        .map_err(TargetRefusal::Path)?;
    let target = if canonical.is_unchanged() && head.origin_form {
        Target::Unchanged
    } else {
        let mut t = canonical.into_bytes().into_owned();
        t.extend_from_slice(head.query);
        Target::Rewritten(t)
    };
    Ok((site, target, report))
}

/// The request as it was sent, for log lines.
pub struct Seen<'a> {
    pub method: &'a str,
    /// The request target as sent.
    pub target: &'a [u8],
    pub headers: &'a http::HeaderMap,
}

/// What the connection alone tells, read once per request: the TCP peer and
/// whether our listener speaks TLS on it.
pub fn connection_of(session: &ServerSession) -> (Option<IpAddr>, bool) {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    let tls = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .is_some();
    (peer, tls)
}

/// What the facts are computed from: the parts of a request head.
pub struct Head<'a> {
    pub method: &'a http::Method,
    /// The path, without the query.
    pub path: &'a [u8],
    /// The query with its `?`, or empty.
    pub query: &'a [u8],
    /// The target was a path (not absolute-form or `*`).
    pub origin_form: bool,
    pub headers: &'a http::HeaderMap,
    /// The target's authority (HTTP/2 `:authority`).
    pub authority: Option<&'a str>,
}

/// RFC 9112 3.2: origin-form (`/path`), absolute-form (`http://host/path`)
/// or asterisk-form (`*`, for `OPTIONS` only). Authority-form is CONNECT's,
/// which never gets this far.
fn target_form_is_known(req: &RequestHeader) -> bool {
    let raw = req.raw_path();
    if raw.starts_with(b"/") {
        return true;
    }
    if raw == b"*" {
        return req.method == http::Method::OPTIONS;
    }
    // Pingora checks an absolute-form target's authority against `Host`;
    // its path is canonicalised like any other.
    let scheme = |prefix: &[u8]| {
        raw.len() > prefix.len() && raw[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    scheme(b"http://") || scheme(b"https://")
}

fn is_absolute_form(req: &RequestHeader) -> bool {
    !req.raw_path().starts_with(b"/")
}

/// The path (what routing and normalisation look at) and the query with its
/// `?` (passed on untouched).
fn split_target(req: &RequestHeader) -> (&[u8], &[u8]) {
    let raw = req.raw_path();
    if raw.starts_with(b"/") {
        match raw.iter().position(|&b| b == b'?') {
            Some(q) => (&raw[..q], &raw[q..]),
            None => (raw, &[]),
        }
    } else {
        // Absolute-form (`GET http://host/p?q`) or `*`: the URI holds the
        // path component.
        let path = req.uri.path().as_bytes();
        let query = req
            .uri
            .path_and_query()
            .map_or(&b""[..], |pq| &pq.as_str().as_bytes()[path.len()..]);
        (path, query)
    }
}
