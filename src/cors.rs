//! CORS at the edge: decide what a request is, then render the headers.
//!
//! The gateway owns CORS entirely: whatever `Access-Control-*` the upstream
//! sends is dropped and ours are set once. Every header value is built when
//! the policy is built; per request we only clone `HeaderValue`s.

use std::collections::HashSet;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use pingora::http::ResponseHeader;

use crate::header_edit;
use crate::origin::{self, Origin, OriginError, Scheme};
use crate::vary;

const VARY_ACTUAL: &[&str] = &["Origin"];
const VARY_PREFLIGHT: &[&str] = &[
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
];

/// The fixed body of our 403: no detail an attacker could use.
pub const REJECTED_BODY: &[u8] = b"Forbidden: origin not allowed\n";

/// What the user configured, already validated.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allowed_origins: Vec<Origin>,
    pub allow_localhost: bool,
    pub allowed_methods: Vec<Method>,
    /// Validated header names, kept in the user's spelling: browsers compare
    /// them case-insensitively, people reading responses don't.
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u64,
}

#[derive(Debug)]
pub struct CorsPolicy {
    settings: CorsSettings,
    /// Canonical origin text; lookups cost the same for 1 or 10,000 entries.
    allowed: HashSet<Box<str>>,
    preflight: Vec<(HeaderName, HeaderValue)>,
    expose: Option<HeaderValue>,
    vary_actual: HeaderValue,
    vary_preflight: HeaderValue,
    allow_credentials: HeaderValue,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsDecision {
    /// No `Origin`: forward, add nothing CORS-specific.
    NotCors,
    /// An allowed preflight: answer it here with 204.
    Preflight,
    /// An allowed actual request (listed, local in development, or same-origin).
    Allowed,
    Rejected(RejectReason),
}

impl CorsDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CorsDecision::NotCors => "none",
            CorsDecision::Preflight => "preflight",
            CorsDecision::Allowed => "allowed",
            CorsDecision::Rejected(r) => r.as_str(),
        }
    }
}

/// The request's own origin as the client saw it, for the same-origin rule.
#[derive(Debug, Clone, Copy)]
pub struct OwnOrigin<'a> {
    pub scheme: Scheme,
    /// The `Host` the client used (or a trusted proxy's `X-Forwarded-Host`).
    pub host: Option<&'a [u8]>,
}

impl CorsPolicy {
    pub fn new(settings: CorsSettings) -> CorsPolicy {
        let allowed = settings
            .allowed_origins
            .iter()
            .map(|o| Box::from(o.as_str()))
            .collect();
        let join = |items: Vec<&str>| {
            HeaderValue::from_str(&items.join(", ")).expect("validated header tokens")
        };
        let methods = join(
            settings
                .allowed_methods
                .iter()
                .map(Method::as_str)
                .collect(),
        );
        let headers = join(
            settings
                .allowed_headers
                .iter()
                .map(String::as_str)
                .collect(),
        );
        let expose = (!settings.expose_headers.is_empty())
            .then(|| join(settings.expose_headers.iter().map(String::as_str).collect()));
        let allow_credentials = HeaderValue::from_static("true");
        let mut preflight = vec![
            (
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                allow_credentials.clone(),
            ),
            (header::ACCESS_CONTROL_ALLOW_METHODS, methods),
        ];
        if !settings.allowed_headers.is_empty() {
            preflight.push((header::ACCESS_CONTROL_ALLOW_HEADERS, headers));
        }
        preflight.push((
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(settings.max_age_secs),
        ));
        CorsPolicy {
            allowed,
            preflight,
            expose,
            vary_actual: join(VARY_ACTUAL.to_vec()),
            vary_preflight: join(VARY_PREFLIGHT.to_vec()),
            allow_credentials,
            settings,
        }
    }

    pub fn settings(&self) -> &CorsSettings {
        &self.settings
    }

    /// Is this exact (canonical) origin allowed by the list or the localhost
    /// rule? Same-origin is decided separately, by `evaluate`.
    pub fn origin_allowed(&self, raw: &[u8]) -> Result<bool, OriginError> {
        let (text, local) = origin::canonicalize(raw)?;
        Ok((local && self.settings.allow_localhost) || self.allowed.contains(text.as_str()))
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
        if origins.next().is_some() {
            return CorsDecision::Rejected(RejectReason::MultipleOrigins);
        }
        let allowed = match self.origin_allowed(raw.as_bytes()) {
            Ok(allowed) => allowed,
            Err(OriginError::Null) => return CorsDecision::Rejected(RejectReason::NullOrigin),
            Err(_) => return CorsDecision::Rejected(RejectReason::Malformed),
        };
        if !allowed && !is_same_origin(raw.as_bytes(), own) {
            return CorsDecision::Rejected(RejectReason::NotAllowed);
        }
        if method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            CorsDecision::Preflight
        } else {
            CorsDecision::Allowed
        }
    }

    /// The 204 answer to an allowed preflight. `origin` is the request's own
    /// `Origin` value, echoed byte for byte.
    pub fn preflight_response(&self, origin: &HeaderValue) -> ResponseHeader {
        let mut resp = new_response(204, self.preflight.len() + 12);
        let _ = resp.insert_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        for (name, value) in &self.preflight {
            let _ = resp.insert_header(name.clone(), value.clone());
        }
        let _ = resp.insert_header(header::VARY, self.vary_preflight.clone());
        let _ = resp.insert_header(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        resp
    }

    /// The 403 for a refused origin. `Vary: Origin` keeps caches from handing
    /// it to an allowed origin.
    pub fn rejected_response(&self) -> ResponseHeader {
        let mut resp = new_response(403, 12);
        let _ = resp.insert_header(header::VARY, self.vary_actual.clone());
        let _ = resp.insert_header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let _ = resp.insert_header(
            header::CONTENT_LENGTH,
            HeaderValue::from(REJECTED_BODY.len()),
        );
        let _ = resp.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// Rewrite an upstream (or gateway-made) response's CORS headers.
    pub fn apply_to_response(
        &self,
        resp: &mut ResponseHeader,
        decision: CorsDecision,
        origin: Option<&HeaderValue>,
    ) {
        strip_access_control(resp);
        if let (CorsDecision::Allowed | CorsDecision::Preflight, Some(origin)) = (decision, origin)
        {
            header_edit::replace_response(
                resp,
                &header::ACCESS_CONTROL_ALLOW_ORIGIN,
                origin.clone(),
            );
            header_edit::replace_response(
                resp,
                &header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                self.allow_credentials.clone(),
            );
            if let Some(expose) = &self.expose {
                header_edit::replace_response(
                    resp,
                    &header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    expose.clone(),
                );
            }
        }
        // Vary on Origin even without one: the response a cache stores for a
        // plain request must not be served to a CORS request, and vice versa.
        vary::ensure(resp, VARY_ACTUAL, &self.vary_actual);
    }
}

/// A response head with no headers yet. Case-insensitive so our header names
/// go out lower-case on HTTP/1.1 exactly as on HTTP/2.
pub fn new_response(status: u16, size_hint: usize) -> ResponseHeader {
    match ResponseHeader::build_no_case(status, Some(size_hint)) {
        Ok(resp) => resp,
        // Only fails for an invalid status code, and ours are constants.
        Err(_) => unreachable_status(status),
    }
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

fn is_same_origin(raw: &[u8], own: OwnOrigin<'_>) -> bool {
    let Some(host) = own.host else {
        return false;
    };
    let Ok((request_origin, _)) = origin::canonicalize(raw) else {
        return false;
    };
    let scheme = own.scheme.as_str().as_bytes();
    let mut own_text = Vec::with_capacity(scheme.len() + 3 + host.len());
    own_text.extend_from_slice(scheme);
    own_text.extend_from_slice(b"://");
    own_text.extend_from_slice(host);
    match origin::canonicalize(&own_text) {
        Ok((own_origin, _)) => own_origin.as_str() == request_origin.as_str(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], allow_localhost: bool) -> CorsPolicy {
        CorsPolicy::new(CorsSettings {
            allowed_origins: origins.iter().map(|o| Origin::parse(o).unwrap()).collect(),
            allow_localhost,
            allowed_methods: vec![Method::GET, Method::POST],
            allowed_headers: vec!["Content-Type".into()],
            expose_headers: vec![],
            max_age_secs: 600,
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
        assert_eq!(d, CorsDecision::Allowed);
    }

    #[test]
    fn preflight_needs_options_and_request_method() {
        let p = policy(&["https://app.example.com"], false);
        let o = ("origin", "https://app.example.com");
        let acrm = ("access-control-request-method", "PATCH");
        assert_eq!(
            decide(&p, Method::OPTIONS, &[o, acrm]),
            CorsDecision::Preflight
        );
        assert_eq!(decide(&p, Method::OPTIONS, &[o]), CorsDecision::Allowed);
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
        assert_eq!(d, CorsDecision::Allowed);
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
        assert_eq!(decide(&dev, Method::GET, &o), CorsDecision::Allowed);
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
            CorsDecision::Allowed
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
        let origin = HeaderValue::from_static("https://app.example.com");
        p.apply_to_response(&mut resp, CorsDecision::Allowed, Some(&origin));
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
        p.apply_to_response(&mut resp, CorsDecision::NotCors, None);
        assert!(resp
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")));
    }

    #[test]
    fn preflight_response_echoes_origin_and_varies() {
        let p = policy(&["https://app.example.com"], false);
        let origin = HeaderValue::from_static("HTTPS://app.example.com");
        let resp = p.preflight_response(&origin);
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
}
