//! CORS at the edge: decide what a request is, then render the headers.
//!
//! The gateway owns CORS entirely: whatever `Access-Control-*` the upstream
//! sends is dropped and ours are set once. Every header value is built when
//! the policy is built; per request we only clone `HeaderValue`s. In report
//! mode the gateway stays out of CORS and only records what it would refuse.

use std::collections::{HashMap, HashSet};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use pingora::http::ResponseHeader;

use crate::policy::header_edit::{self, Name};
use crate::policy::origin::{self, AllowedOrigin, Canonical, OriginError, Scheme};
use crate::policy::vary;

const VARY_ACTUAL: &[&str] = &["Origin"];
const VARY_PREFLIGHT: &[&str] = &[
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
];

pub const DEFAULT_METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];
pub const DEFAULT_ALLOWED_HEADERS: &[&str] = &[
    "Content-Type",
    "Authorization",
    "x-admin-api-key",
    "x-user-id",
    "x-request-id",
];

const ALLOW_ORIGIN: Name = Name::from_static("access-control-allow-origin");
const ALLOW_CREDENTIALS: Name = Name::from_static("access-control-allow-credentials");
const CONTENT_TYPE: Name = Name::from_static("content-type");
const CONTENT_LENGTH: Name = Name::from_static("content-length");
const CACHE_CONTROL: Name = Name::from_static("cache-control");

/// The fixed body of our 403: no detail an attacker could use.
pub const REJECTED_BODY: &[u8] = b"Forbidden: origin not allowed\n";

/// Whether the gateway enforces CORS or only reports what it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsMode {
    Enforce,
    /// Forward everything, leave the upstream's `Access-Control-*` alone,
    /// record what enforce mode would have refused.
    Report,
}

impl CorsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CorsMode::Enforce => "enforce",
            CorsMode::Report => "report",
        }
    }
}

/// What the user configured, already validated.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allowed_origins: Vec<AllowedOrigin>,
    pub allow_localhost: bool,
    /// `Access-Control-Allow-Origin: *` for everyone; never with credentials.
    pub allow_any_origin: bool,
    pub allow_credentials: bool,
    pub allowed_methods: Vec<Method>,
    /// Validated header names, kept in the user's spelling: browsers compare
    /// them case-insensitively, people reading responses don't.
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u64,
    pub mode: CorsMode,
}

impl Default for CorsSettings {
    /// Production's defaults with no origins listed.
    fn default() -> CorsSettings {
        CorsSettings {
            allowed_origins: Vec::new(),
            allow_localhost: false,
            allow_any_origin: false,
            allow_credentials: true,
            allowed_methods: DEFAULT_METHODS
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect(),
            allowed_headers: DEFAULT_ALLOWED_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            expose_headers: Vec::new(),
            max_age_secs: 600,
            mode: CorsMode::Enforce,
        }
    }
}

#[derive(Debug)]
pub struct CorsPolicy {
    settings: CorsSettings,
    /// Canonical origin text; lookups cost the same for 1 or 10,000 entries.
    exact: HashSet<Box<str>>,
    /// Wildcard patterns by host suffix: a request origin is looked up once
    /// per label of its host, whatever the number of patterns.
    wildcards: Wildcards,
    preflight: Vec<(Name, HeaderValue)>,
    /// Sent on allowed actual responses besides the origin.
    actual: Vec<(Name, HeaderValue)>,
    vary_actual: HeaderValue,
    vary_preflight: HeaderValue,
}

/// Why a CORS request was refused. A small closed set, so it is safe as a
/// log field and as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    NotAllowed,
    NullOrigin,
    Malformed,
    MultipleOrigins,
}

impl RejectReason {
    pub const ALL: [RejectReason; 4] = [
        RejectReason::NotAllowed,
        RejectReason::NullOrigin,
        RejectReason::Malformed,
        RejectReason::MultipleOrigins,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotAllowed => "not_allowed",
            RejectReason::NullOrigin => "null_origin",
            RejectReason::Malformed => "malformed",
            RejectReason::MultipleOrigins => "multiple_origins",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an allowed CORS request gets back: the `Access-Control-Allow-Origin`
/// value (the request's own `Origin`, byte for byte, or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub allow_origin: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsDecision {
    /// No `Origin`: forward, add nothing CORS-specific.
    NotCors,
    /// An allowed preflight: answer it here with 204.
    Preflight(Grant),
    /// An allowed actual request (listed, local in development, same-origin,
    /// or any origin on a public route).
    Allowed(Grant),
    Rejected(RejectReason),
    /// Report mode: forwarded untouched; what enforce mode would have refused.
    Observed(Option<RejectReason>),
}

impl CorsDecision {
    /// A closed set: the `cors=` field of the access log.
    pub fn as_str(&self) -> &'static str {
        match self {
            CorsDecision::NotCors => "none",
            CorsDecision::Preflight(_) => "preflight",
            CorsDecision::Allowed(_) => "allowed",
            CorsDecision::Rejected(r) => r.as_str(),
            CorsDecision::Observed(None) => "report",
            CorsDecision::Observed(Some(_)) => "would_block",
        }
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, CorsDecision::Allowed(_) | CorsDecision::Preflight(_))
    }
}

/// The request's own origin as the client saw it, for the same-origin rule.
#[derive(Debug, Clone, Copy)]
pub struct OwnOrigin<'a> {
    pub scheme: Scheme,
    /// The `Host` the client used (or a trusted proxy's `X-Forwarded-Host`).
    pub host: Option<&'a [u8]>,
}

/// Wildcard origins by host suffix, with their scheme and port.
type Wildcards = HashMap<Box<str>, Vec<(Scheme, Option<u16>)>>;

/// The allowed origins as lookup tables: exact ones by canonical text,
/// wildcards by host suffix.
fn origin_sets(allowed: &[AllowedOrigin]) -> (HashSet<Box<str>>, Wildcards) {
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

/// A list header value from validated tokens.
fn join(items: Vec<&str>) -> HeaderValue {
    HeaderValue::from_str(&items.join(", ")).expect("validated header tokens")
}

/// What a preflight answer carries besides the origin and `Vary`.
fn preflight_headers(settings: &CorsSettings, credentials: bool) -> Vec<(Name, HeaderValue)> {
    let mut preflight = Vec::new();
    if credentials {
        preflight.push((ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
    }
    preflight.push((
        Name::from_static("access-control-allow-methods"),
        join(
            settings
                .allowed_methods
                .iter()
                .map(Method::as_str)
                .collect(),
        ),
    ));
    if !settings.allowed_headers.is_empty() {
        preflight.push((
            Name::from_static("access-control-allow-headers"),
            join(
                settings
                    .allowed_headers
                    .iter()
                    .map(String::as_str)
                    .collect(),
            ),
        ));
    }
    preflight.push((
        Name::from_static("access-control-max-age"),
        HeaderValue::from(settings.max_age_secs),
    ));
    preflight
}

/// What an allowed actual response carries besides the origin and `Vary`.
fn actual_headers(settings: &CorsSettings, credentials: bool) -> Vec<(Name, HeaderValue)> {
    let mut actual = Vec::new();
    if credentials {
        actual.push((ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
    }
    if !settings.expose_headers.is_empty() {
        actual.push((
            Name::from_static("access-control-expose-headers"),
            join(settings.expose_headers.iter().map(String::as_str).collect()),
        ));
    }
    actual
}

impl CorsPolicy {
    pub fn new(settings: CorsSettings) -> CorsPolicy {
        let (exact, wildcards) = origin_sets(&settings.allowed_origins);
        let credentials = settings.allow_credentials && !settings.allow_any_origin;
        CorsPolicy {
            exact,
            wildcards,
            preflight: preflight_headers(&settings, credentials),
            actual: actual_headers(&settings, credentials),
            vary_actual: join(VARY_ACTUAL.to_vec()),
            vary_preflight: join(VARY_PREFLIGHT.to_vec()),
            settings,
        }
    }

    pub fn settings(&self) -> &CorsSettings {
        &self.settings
    }

    pub fn mode(&self) -> CorsMode {
        self.settings.mode
    }

    /// Whether credentials are sent (never together with `*`).
    pub fn sends_credentials(&self) -> bool {
        self.settings.allow_credentials && !self.settings.allow_any_origin
    }

    fn listed(&self, origin: &Canonical<'_>) -> bool {
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

    /// Whether one `Origin` value passes, and if not, why.
    fn judge(&self, raw: &[u8], own: OwnOrigin<'_>) -> Result<(), RejectReason> {
        let any = self.settings.allow_any_origin;
        let origin = match origin::canonical_parts(raw) {
            Ok(o) => o,
            // A sandboxed frame may fetch a public resource too.
            Err(OriginError::Null) if any => return Ok(()),
            Err(OriginError::Null) => return Err(RejectReason::NullOrigin),
            Err(_) => return Err(RejectReason::Malformed),
        };
        let allowed = any
            || (origin.local && self.settings.allow_localhost)
            || self.listed(&origin)
            || own
                .host
                .is_some_and(|host| origin::is_same_origin(&origin, own.scheme, host));
        if allowed {
            Ok(())
        } else {
            Err(RejectReason::NotAllowed)
        }
    }

    /// Classify a request. Pure: no session, no I/O.
    pub fn evaluate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        own: OwnOrigin<'_>,
    ) -> CorsDecision {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let Some(raw) = origins.next() else {
            return CorsDecision::NotCors;
        };
        let verdict = if origins.next().is_some() {
            Err(RejectReason::MultipleOrigins)
        } else {
            self.judge(raw.as_bytes(), own)
        };
        match (self.settings.mode, verdict) {
            (CorsMode::Report, v) => CorsDecision::Observed(v.err()),
            (CorsMode::Enforce, Err(reason)) => CorsDecision::Rejected(reason),
            (CorsMode::Enforce, Ok(())) => {
                let grant = Grant {
                    allow_origin: if self.settings.allow_any_origin {
                        HeaderValue::from_static("*")
                    } else {
                        raw.clone()
                    },
                };
                if method == Method::OPTIONS
                    && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
                {
                    CorsDecision::Preflight(grant)
                } else {
                    CorsDecision::Allowed(grant)
                }
            }
        }
    }

    /// The 204 answer to an allowed preflight.
    pub fn preflight_response(&self, grant: &Grant) -> ResponseHeader {
        // Room for the security headers decoration adds after these.
        let mut headers = HeaderMap::with_capacity(self.preflight.len() + 16);
        headers.insert(ALLOW_ORIGIN.header.clone(), grant.allow_origin.clone());
        for (name, value) in &self.preflight {
            headers.insert(name.header.clone(), value.clone());
        }
        headers.insert(vary::VARY_NAME.header.clone(), self.vary_preflight.clone());
        headers.insert(CONTENT_LENGTH.header.clone(), HeaderValue::from_static("0"));
        response_with(StatusCode::NO_CONTENT, headers)
    }

    /// The 403 for a refused origin. `Vary: Origin` keeps caches from handing
    /// it to an allowed origin.
    pub fn rejected_response(&self) -> ResponseHeader {
        // Room for the security headers decoration adds after these.
        let mut headers = HeaderMap::with_capacity(16);
        headers.insert(vary::VARY_NAME.header.clone(), self.vary_actual.clone());
        headers.insert(
            CONTENT_TYPE.header.clone(),
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            CONTENT_LENGTH.header.clone(),
            HeaderValue::from(REJECTED_BODY.len()),
        );
        headers.insert(
            CACHE_CONTROL.header.clone(),
            HeaderValue::from_static("no-store"),
        );
        response_with(StatusCode::FORBIDDEN, headers)
    }

    /// Rewrite an upstream (or gateway-made) response's CORS headers.
    pub fn apply_to_response(&self, resp: &mut ResponseHeader, decision: &CorsDecision) {
        if matches!(decision, CorsDecision::Observed(_)) {
            // Report mode: the upstream still owns CORS.
            return;
        }
        strip_access_control(resp);
        if let CorsDecision::Allowed(grant) | CorsDecision::Preflight(grant) = decision {
            header_edit::replace_response(resp, &ALLOW_ORIGIN, grant.allow_origin.clone());
            for (name, value) in &self.actual {
                header_edit::replace_response(resp, name, value.clone());
            }
        }
        // Vary on Origin even without one: the response a cache stores for a
        // plain request must not be served to a CORS request, and vice versa.
        vary::ensure(resp, VARY_ACTUAL, &self.vary_actual);
    }
}

/// A response head with no headers yet, without a case map: its names go
/// out in Title-Case on HTTP/1.1 (unless `[server] preserve_header_case`),
/// whichever layer writes it, and lower case on HTTP/2.
pub fn new_response(status: u16, size_hint: usize) -> ResponseHeader {
    match ResponseHeader::build_no_case(status, Some(size_hint)) {
        Ok(resp) => resp,
        // Only fails for an invalid status code, and ours are constants.
        Err(_) => unreachable_status(status),
    }
}

/// A response head holding `headers`, without a case map, as
/// `new_response` makes it; built from the map directly because
/// `insert_header` parses every name again from its bytes (the fast path's
/// preflights and 403s pay that per header).
fn response_with(status: StatusCode, headers: HeaderMap) -> ResponseHeader {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.headers = headers;
    ResponseHeader::from(parts)
}

#[cold]
fn unreachable_status(status: u16) -> ResponseHeader {
    panic!("helmgate bug: {status} is not a valid HTTP status")
}

fn strip_access_control(resp: &mut ResponseHeader) {
    let is_ac = |name: &HeaderName| name.as_str().starts_with("access-control-");
    if !resp.headers.keys().any(is_ac) {
        return;
    }
    let names: Vec<HeaderName> = resp.headers.keys().filter(|n| is_ac(n)).cloned().collect();
    for name in names {
        resp.remove_header(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str], allow_localhost: bool) -> CorsSettings {
        CorsSettings {
            allowed_origins: origins
                .iter()
                .map(|o| AllowedOrigin::parse(o).unwrap())
                .collect(),
            allow_localhost,
            allowed_methods: vec![Method::GET, Method::POST],
            allowed_headers: vec!["Content-Type".into()],
            ..CorsSettings::default()
        }
    }

    fn policy(origins: &[&str], allow_localhost: bool) -> CorsPolicy {
        CorsPolicy::new(settings(origins, allow_localhost))
    }

    fn allowed(origin: &'static str) -> CorsDecision {
        CorsDecision::Allowed(Grant {
            allow_origin: HeaderValue::from_static(origin),
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    const HTTPS_NO_HOST: OwnOrigin<'static> = OwnOrigin {
        scheme: Scheme::Https,
        host: None,
    };

    fn decide(p: &CorsPolicy, method: Method, pairs: &[(&str, &str)]) -> CorsDecision {
        p.evaluate(&method, &headers(pairs), HTTPS_NO_HOST)
    }

    #[test]
    fn no_origin_is_not_cors() {
        let p = policy(&["https://app.example.com"], false);
        assert_eq!(decide(&p, Method::GET, &[]), CorsDecision::NotCors);
    }

    #[test]
    fn listed_origin_is_allowed() {
        let p = policy(&["https://app.example.com"], false);
        let d = decide(&p, Method::GET, &[("origin", "https://app.example.com")]);
        assert_eq!(d, allowed("https://app.example.com"));
    }

    #[test]
    fn preflight_needs_options_and_request_method() {
        let p = policy(&["https://app.example.com"], false);
        let o = ("origin", "https://app.example.com");
        let acrm = ("access-control-request-method", "PATCH");
        assert_eq!(
            decide(&p, Method::OPTIONS, &[o, acrm]),
            CorsDecision::Preflight(Grant {
                allow_origin: HeaderValue::from_static("https://app.example.com")
            })
        );
        assert_eq!(
            decide(&p, Method::OPTIONS, &[o]),
            allowed("https://app.example.com")
        );
    }

    #[test]
    fn unlisted_origin_is_rejected() {
        let p = policy(&["https://app.example.com"], false);
        for evil in [
            "https://app.example.com.evil.com",
            "https://evilapp.example.com",
            "http://app.example.com",
            "https://app.example.com:8443",
        ] {
            assert_eq!(
                decide(&p, Method::GET, &[("origin", evil)]),
                CorsDecision::Rejected(RejectReason::NotAllowed),
                "{evil}"
            );
        }
    }

    #[test]
    fn case_and_default_port_do_not_change_the_verdict() {
        let p = policy(&["https://app.example.com"], false);
        let d = decide(
            &p,
            Method::GET,
            &[("origin", "HTTPS://APP.example.com:443")],
        );
        assert_eq!(d, allowed("HTTPS://APP.example.com:443"));
    }

    #[test]
    fn null_malformed_and_duplicate_origins_are_rejected() {
        let p = policy(&["https://app.example.com"], false);
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "null")]),
            CorsDecision::Rejected(RejectReason::NullOrigin)
        );
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "https://app.example.com/")]),
            CorsDecision::Rejected(RejectReason::Malformed)
        );
        assert_eq!(
            decide(
                &p,
                Method::GET,
                &[
                    ("origin", "https://app.example.com"),
                    ("origin", "https://app.example.com")
                ]
            ),
            CorsDecision::Rejected(RejectReason::MultipleOrigins)
        );
    }

    #[test]
    fn localhost_only_when_enabled() {
        let prod = policy(&[], false);
        let dev = policy(&[], true);
        let o = [("origin", "http://localhost:5173")];
        assert_eq!(
            decide(&dev, Method::GET, &o),
            allowed("http://localhost:5173")
        );
        assert_eq!(
            decide(&prod, Method::GET, &o),
            CorsDecision::Rejected(RejectReason::NotAllowed)
        );
        assert_eq!(
            decide(
                &dev,
                Method::GET,
                &[("origin", "http://localhost.evil.com")]
            ),
            CorsDecision::Rejected(RejectReason::NotAllowed)
        );
    }

    #[test]
    fn same_origin_is_allowed_using_the_clients_view() {
        let p = policy(&[], false);
        let h = headers(&[("origin", "https://gateway.example.com")]);
        let own = |scheme, host: &'static str| OwnOrigin {
            scheme,
            host: Some(host.as_bytes()),
        };
        assert_eq!(
            p.evaluate(
                &Method::POST,
                &h,
                own(Scheme::Https, "Gateway.example.com:443")
            ),
            allowed("https://gateway.example.com")
        );
        assert_eq!(
            p.evaluate(&Method::POST, &h, own(Scheme::Http, "gateway.example.com")),
            CorsDecision::Rejected(RejectReason::NotAllowed)
        );
        assert_eq!(
            p.evaluate(
                &Method::POST,
                &h,
                own(Scheme::Https, "gateway.example.com:8443")
            ),
            CorsDecision::Rejected(RejectReason::NotAllowed)
        );
    }

    #[test]
    fn upstream_access_control_headers_are_replaced() {
        let p = policy(&["https://app.example.com"], false);
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("Access-Control-Allow-Origin", "*")
            .unwrap();
        resp.insert_header("Access-Control-Allow-Methods", "PUT")
            .unwrap();
        resp.insert_header("Vary", "Accept-Encoding").unwrap();
        p.apply_to_response(&mut resp, &allowed("https://app.example.com"));
        assert_eq!(
            resp.headers
                .get_all("access-control-allow-origin")
                .iter()
                .count(),
            1
        );
        assert_eq!(
            resp.headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(resp.headers["access-control-allow-credentials"], "true");
        assert!(resp.headers.get("access-control-allow-methods").is_none());
        assert_eq!(resp.headers["vary"], "Accept-Encoding, Origin");
    }

    #[test]
    fn no_origin_response_gets_no_access_control_headers() {
        let p = policy(&["https://app.example.com"], false);
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("Access-Control-Allow-Origin", "*")
            .unwrap();
        p.apply_to_response(&mut resp, &CorsDecision::NotCors);
        assert!(resp
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")));
    }

    #[test]
    fn preflight_response_echoes_origin_and_varies() {
        let p = policy(&["https://app.example.com"], false);
        let resp = p.preflight_response(&Grant {
            allow_origin: HeaderValue::from_static("HTTPS://app.example.com"),
        });
        assert_eq!(resp.status, 204);
        assert_eq!(
            resp.headers["access-control-allow-origin"],
            "HTTPS://app.example.com"
        );
        assert_eq!(resp.headers["access-control-max-age"], "600");
        assert_eq!(
            resp.headers["vary"],
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        );
    }

    #[test]
    fn wildcard_origins_allow_subdomains_only() {
        let p = policy(&["https://*.example.com"], false);
        for ok in ["https://a.example.com", "https://a.b.example.com"] {
            assert!(
                decide(&p, Method::GET, &[("origin", ok)]).is_allowed(),
                "{ok}"
            );
        }
        for no in [
            "https://example.com",
            "https://evil-example.com",
            "https://a.example.com.evil.net",
            "http://a.example.com",
            "https://a.example.com:444",
        ] {
            assert_eq!(
                decide(&p, Method::GET, &[("origin", no)]),
                CorsDecision::Rejected(RejectReason::NotAllowed),
                "{no}"
            );
        }
    }

    #[test]
    fn any_origin_answers_star_without_credentials() {
        let p = CorsPolicy::new(CorsSettings {
            allow_any_origin: true,
            allow_credentials: false,
            ..settings(&[], false)
        });
        let star = CorsDecision::Allowed(Grant {
            allow_origin: HeaderValue::from_static("*"),
        });
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "https://anyone.example")]),
            star
        );
        assert_eq!(decide(&p, Method::GET, &[("origin", "null")]), star);
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "https://a.example/")]),
            CorsDecision::Rejected(RejectReason::Malformed)
        );
        let mut resp = ResponseHeader::build(200, None).unwrap();
        p.apply_to_response(&mut resp, &star);
        assert_eq!(resp.headers["access-control-allow-origin"], "*");
        assert!(resp
            .headers
            .get("access-control-allow-credentials")
            .is_none());
        let pre = p.preflight_response(&Grant {
            allow_origin: HeaderValue::from_static("*"),
        });
        assert!(pre
            .headers
            .get("access-control-allow-credentials")
            .is_none());
    }

    #[test]
    fn credentials_can_be_turned_off() {
        let p = CorsPolicy::new(CorsSettings {
            allow_credentials: false,
            ..settings(&["https://app.example.com"], false)
        });
        let mut resp = ResponseHeader::build(200, None).unwrap();
        p.apply_to_response(&mut resp, &allowed("https://app.example.com"));
        assert_eq!(
            resp.headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert!(resp
            .headers
            .get("access-control-allow-credentials")
            .is_none());
    }

    #[test]
    fn report_mode_forwards_and_says_what_it_would_block() {
        let p = CorsPolicy::new(CorsSettings {
            mode: CorsMode::Report,
            ..settings(&["https://app.example.com"], false)
        });
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "https://evil.example")]),
            CorsDecision::Observed(Some(RejectReason::NotAllowed))
        );
        assert_eq!(
            decide(&p, Method::GET, &[("origin", "https://app.example.com")]),
            CorsDecision::Observed(None)
        );
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("Access-Control-Allow-Origin", "*")
            .unwrap();
        p.apply_to_response(&mut resp, &CorsDecision::Observed(None));
        assert_eq!(resp.headers["access-control-allow-origin"], "*");
        assert!(resp.headers.get("vary").is_none());
    }
}
