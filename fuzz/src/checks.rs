//! The checks behind every fuzz target, one function per target taking the
//! raw fuzz input. The cargo-fuzz crate (`fuzz/`) calls them from its
//! targets; `tests/fuzz_corpus.rs` includes this file with `#[path]` and runs
//! every committed corpus file through them under a plain `cargo test`, so CI
//! exercises the corpora on stable without cargo-fuzz.
//!
//! Only `helmgate` and its own dependencies (`http`, `pingora`) are used, so
//! the file compiles in both places. Each check panics on a broken invariant.

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use helmgate::config::{self, ConfigError, Overrides};
use helmgate::edge::framing::RawHead;
use helmgate::policy::cors::{CorsDecision, CorsPolicy, CorsSettings, OwnOrigin};
use helmgate::policy::env::{EnvVars, Environment};
use helmgate::policy::forwarded::{self, upstream_forwarding, ClientView, TrustedProxies};
use helmgate::policy::origin::{canonicalize, AllowedOrigin, CanonicalText, Origin, Scheme};
use helmgate::policy::vary::{self, Merge};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use pingora::http::ResponseHeader;

/// Longest origin `Origin::parse` looks at (`origin::MAX_ORIGIN_LEN`).
const MAX_ORIGIN_LEN: usize = 512;

/// The origins the fuzzed CORS policies allow.
pub const ALLOWED: &[&str] = &[
    "https://app.example.com",
    "https://admin.example.com:8443",
    "http://10.0.0.1",
    "http://[2001:db8::1]:8080",
];

/// The host the gateway is addressed as, for the same-origin rule.
pub const OWN_HOST: &str = "gw.example.com";

fn policy(allow_localhost: bool) -> &'static CorsPolicy {
    static STRICT: OnceLock<CorsPolicy> = OnceLock::new();
    static LOCAL: OnceLock<CorsPolicy> = OnceLock::new();
    let cell = if allow_localhost { &LOCAL } else { &STRICT };
    cell.get_or_init(|| {
        CorsPolicy::new(CorsSettings {
            allowed_origins: ALLOWED
                .iter()
                .map(|o| AllowedOrigin::parse(o).expect("ALLOWED holds canonical origins"))
                .collect(),
            allow_localhost,
            allowed_methods: vec![Method::GET, Method::POST],
            allowed_headers: vec!["Content-Type".into()],
            expose_headers: vec!["X-Request-Id".into()],
            max_age_secs: 600,
            ..CorsSettings::default()
        })
    })
}

fn default_port(scheme: Scheme) -> u16 {
    match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    }
}

/// Origin parsing and normalisation, and the CORS verdict built on it.
///
/// - `Origin::parse_bytes` and `canonicalize` agree (same text, same error,
///   same local-development flag);
/// - the canonical form is printable lower-case ASCII, re-parses to the same
///   origin and is recognised as canonical (borrowed, no allocation);
/// - changing the input's case or spelling out the default port gives the
///   same origin;
/// - a CORS request from it is allowed exactly when its canonical form is
///   listed (or it is local and the policy allows localhost, or it is the
///   gateway's own origin), and an allowed origin is echoed byte for byte.
pub fn origin(data: &[u8]) {
    let parsed = Origin::parse_bytes(data);
    match (&parsed, canonicalize(data)) {
        (Ok(o), Ok((text, local))) => {
            assert_eq!(o.as_str(), text.as_str(), "input {data:?}");
            assert_eq!(o.is_local_dev(), local, "input {data:?}");
        }
        (Err(a), Err(b)) => assert_eq!(*a, b, "input {data:?}"),
        (a, b) => panic!(
            "Origin::parse_bytes and canonicalize disagree on {data:?}: {a:?} vs {:?}",
            b.map(|(t, local)| (t.as_str().to_owned(), local))
        ),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(Origin::parse(text), parsed, "input {data:?}");
    }
    cors_verdict(data, parsed.as_ref().ok());
    let o = match parsed {
        Ok(o) => o,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let text = o.as_str();
    let rest = text
        .strip_prefix(o.scheme().as_str())
        .and_then(|r| r.strip_prefix("://"))
        .unwrap_or_else(|| panic!("{text:?} doesn't start with its scheme"));
    assert!(
        rest.bytes().all(|b| (0x21..=0x7e).contains(&b)
            && !b.is_ascii_uppercase()
            && !b"@/?#\\*".contains(&b)),
        "canonical {text:?} of {data:?} has a byte an origin never has"
    );
    assert_ne!(
        o.port(),
        Some(default_port(o.scheme())),
        "default port kept in {text:?}"
    );

    let again = Origin::parse(text)
        .unwrap_or_else(|e| panic!("canonical {text:?} of {data:?} doesn't re-parse: {e}"));
    assert_eq!(again, o, "canonical {text:?} re-parses to another origin");
    assert!(
        matches!(canonicalize(text.as_bytes()), Ok((CanonicalText::Borrowed(t), _)) if t == text),
        "canonical {text:?} is not recognised as canonical"
    );

    for variant in [data.to_ascii_uppercase(), data.to_ascii_lowercase()] {
        assert_eq!(
            Origin::parse_bytes(&variant).as_ref().map(Origin::as_str),
            Ok(text),
            "case change {variant:?} of {data:?}"
        );
    }
    if o.port().is_none() {
        let explicit = format!("{text}:{}", default_port(o.scheme()));
        if explicit.len() <= MAX_ORIGIN_LEN {
            assert_eq!(
                Origin::parse(&explicit).as_ref().map(Origin::as_str),
                Ok(text),
                "explicit default port {explicit:?}"
            );
        }
    }
}

/// The verdict of both fuzzed policies on `data` as the request's `Origin`.
fn cors_verdict(data: &[u8], parsed: Option<&Origin>) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, value.clone());
    let canonical = parsed.map(Origin::as_str);
    let listed = canonical.is_some_and(|c| ALLOWED.contains(&c));
    let local = parsed.is_some_and(Origin::is_local_dev);
    let same_origin = canonical == Some("https://gw.example.com");
    for allow_localhost in [false, true] {
        let p = policy(allow_localhost);
        let may = listed || (local && allow_localhost);
        assert_eq!(
            p.origin_allowed(data).unwrap_or(false),
            may,
            "origin_allowed({data:?}), allow_localhost {allow_localhost}"
        );
        let cases = [(None, may), (Some(OWN_HOST.as_bytes()), may || same_origin)];
        for (host, want) in cases {
            let own = OwnOrigin {
                scheme: Scheme::Https,
                host,
            };
            let decision = p.evaluate(&Method::GET, &headers, own);
            assert_eq!(
                matches!(decision, CorsDecision::Allowed(_)),
                want,
                "{data:?} from GET got {decision:?} (allow_localhost {allow_localhost}, own host {host:?})"
            );
            let mut preflight = headers.clone();
            preflight.insert(
                header::ACCESS_CONTROL_REQUEST_METHOD,
                HeaderValue::from_static("POST"),
            );
            let decision = p.evaluate(&Method::OPTIONS, &preflight, own);
            assert_eq!(
                matches!(decision, CorsDecision::Preflight(_)),
                want,
                "{data:?} preflight got {decision:?}"
            );
            let mut resp = ResponseHeader::build(200, None).expect("200 is a status");
            p.apply_to_response(&mut resp, &decision);
            let echoed = resp.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            if let CorsDecision::Preflight(grant) = &decision {
                assert!(want);
                assert_eq!(echoed.map(HeaderValue::as_bytes), Some(data));
                let resp = p.preflight_response(grant);
                let echoed = resp.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
                assert_eq!(echoed.map(HeaderValue::as_bytes), Some(data));
            } else {
                assert_eq!(echoed, None, "refused {data:?} got an allow-origin");
            }
        }
    }
}

/// The forwarded target's input, one item per line:
///
/// ```text
/// <peer IP, or anything else for no peer>
/// <trusted proxies: CIDRs or IPs, comma-separated; bad entries are ignored>
/// <"tls" when our own listener is TLS, anything else for plain HTTP>
/// <name>: <value>        (any number of request headers; `:authority` sets
///                         the HTTP/2 authority; invalid ones are skipped)
/// ```
pub struct ForwardedInput {
    pub peer: Option<IpAddr>,
    pub trusted: TrustedProxies,
    pub tls: bool,
    pub headers: HeaderMap,
    pub authority: Option<String>,
}

impl ForwardedInput {
    pub fn decode(data: &[u8]) -> ForwardedInput {
        let mut lines = data
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let mut next_text = || {
            lines
                .next()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_default()
        };
        let peer = next_text().trim().parse().ok();
        let nets = next_text()
            .split(',')
            .filter_map(|n| {
                let n = n.trim();
                n.parse()
                    .ok()
                    .or_else(|| n.parse::<IpAddr>().ok().map(Into::into))
            })
            .collect();
        let tls = next_text().trim() == "tls";
        let mut headers = HeaderMap::new();
        let mut authority = None;
        for line in lines {
            let Some(colon) = line.iter().skip(1).position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon + 1], &line[colon + 2..]);
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if name == b":authority" {
                authority = std::str::from_utf8(value).ok().map(str::to_owned);
                continue;
            }
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                headers.append(name, value);
            }
        }
        ForwardedInput {
            peer,
            trusted: TrustedProxies::new(nets),
            tls,
            headers,
            authority,
        }
    }
}

/// What a trusted chain's client address must be, stated independently of
/// `forwarded.rs`: walking `X-Forwarded-For` from the right, skip trusted
/// proxies; stop at the first untrusted address (that's the client) or at
/// the first entry that isn't an address (then the last good one is).
fn expected_client(input: &ForwardedInput) -> Option<IpAddr> {
    let hops: Vec<&[u8]> = input
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .collect();
    let mut client = input.peer.map(|p| p.to_canonical());
    for hop in hops.iter().rev() {
        let Some(ip) = lenient_ip(hop) else {
            break;
        };
        client = Some(ip);
        if !input.trusted.contains(ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it in `X-Forwarded-For`: bare, `[v6]:port`,
/// `[v6]` or `v4:port`.
fn lenient_ip(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let ip: IpAddr = if let Some(rest) = text.strip_prefix('[') {
        rest.split(']').next()?.parse().ok()?
    } else if let Ok(ip) = text.parse() {
        ip
    } else {
        text.rsplit_once(':')?.0.parse().ok()?
    };
    Some(ip.to_canonical())
}

fn first_token(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    let raw = headers.get(name)?.as_bytes();
    let first = raw.split(|&b| b == b',').next().unwrap_or(raw);
    let first = first.trim_ascii();
    (!first.is_empty()).then(|| first.to_vec())
}

/// The `X-Forwarded-*` chain and the trusted-proxy decision.
///
/// - An untrusted peer is the client: its `X-Forwarded-For/Proto/Host` change
///   nothing, the upstream hears only the peer's own address, our own scheme
///   and its `Host`, and `Forwarded`/`X-Real-IP` are stripped.
/// - A trusted peer's chain is appended to, its first proto/host tokens are
///   believed, and the client is the right-most untrusted hop.
pub fn forwarded(data: &[u8]) {
    let input = ForwardedInput::decode(data);
    let h = &input.headers;
    let view = ClientView::new(
        &input.trusted,
        input.peer,
        input.tls,
        h,
        input.authority.as_deref(),
    );
    let peer = input.peer.map(|p| p.to_canonical());
    let own_scheme = if input.tls {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let own_host = h
        .get(header::HOST)
        .map(HeaderValue::as_bytes)
        .or(input.authority.as_deref().map(str::as_bytes));
    assert_eq!(view.peer, peer);
    assert_eq!(
        view.peer_trusted,
        peer.is_some_and(|p| input.trusted.contains(p))
    );
    let client = view.client_ip(&input.trusted, h);
    let fwd = upstream_forwarding(&view, input.tls, h);
    let peer_value = peer.map(|p| HeaderValue::from_str(&p.to_string()).expect("an IP is a value"));
    let own_proto = HeaderValue::from_static(if input.tls { "https" } else { "http" });

    if !view.peer_trusted {
        assert_eq!(view.scheme, own_scheme, "untrusted peer changed the scheme");
        assert_eq!(view.host, own_host, "untrusted peer changed the host");
        assert_eq!(client, peer, "untrusted peer changed the client address");
        assert_eq!(
            fwd.x_forwarded_for.value(),
            peer_value,
            "untrusted X-Forwarded-For passed on"
        );
        assert_eq!(
            fwd.x_forwarded_proto, own_proto,
            "untrusted X-Forwarded-Proto passed on"
        );
        assert_eq!(
            fwd.x_forwarded_host.as_ref().map(HeaderValue::as_bytes),
            own_host.filter(|h| HeaderValue::from_bytes(h).is_ok()),
            "untrusted X-Forwarded-Host passed on"
        );
        for name in [
            "forwarded",
            "x-real-ip",
            "true-client-ip",
            "x-forwarded-ssl",
        ] {
            assert!(forwarded::is_proxy_claim(name), "{name} not stripped");
        }
        return;
    }

    assert!(peer.is_some(), "trusted without a peer");
    let want_scheme = match first_token(h, "x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case(b"https") => Scheme::Https,
        Some(p) if p.eq_ignore_ascii_case(b"http") => Scheme::Http,
        _ => own_scheme,
    };
    assert_eq!(view.scheme, want_scheme);
    let want_host = first_token(h, "x-forwarded-host").or(own_host.map(<[u8]>::to_vec));
    assert_eq!(view.host.map(<[u8]>::to_vec), want_host);
    // Compared canonically: `[::ffff:a.b.c.d]:port` hops come back as the
    // v4-mapped v6 address, bare ones as v4 (see the closing report).
    assert_eq!(
        client.map(|ip| ip.to_canonical()),
        expected_client(&input),
        "client address"
    );

    let chain: Vec<&[u8]> = h
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let want_xff = match &peer_value {
        Some(p) if !chain.is_empty() => {
            let mut joined = chain.join(&b", "[..]);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(p.as_bytes());
            Some(joined)
        }
        _ => peer_value.as_ref().map(|p| p.as_bytes().to_vec()),
    };
    assert_eq!(
        fwd.x_forwarded_for.as_bytes(),
        want_xff.as_deref(),
        "X-Forwarded-For to the upstream appends the peer to the trusted chain"
    );
    let want_proto = match first_token(h, "x-forwarded-proto") {
        Some(_) => h.get("x-forwarded-proto").cloned(),
        None => Some(own_proto),
    };
    assert_eq!(Some(fwd.x_forwarded_proto), want_proto);
    let want_host = match first_token(h, "x-forwarded-host") {
        Some(_) => h.get("x-forwarded-host").cloned(),
        None => own_host.and_then(|v| HeaderValue::from_bytes(v).ok()),
    };
    assert_eq!(fwd.x_forwarded_host, want_host);
}

/// Vary merging, for the needed names of an actual response and of a
/// preflight, over the upstream's `Vary` lines (one per input line).
///
/// - No upstream `Vary`: the pre-built value; `*` anywhere: left alone.
/// - Otherwise the result keeps every upstream token in order, adds each
///   missing needed name once, and so always varies on `Origin`.
pub fn vary(data: &[u8]) {
    let values: Vec<HeaderValue> = data
        .split(|&b| b == b'\n')
        .filter_map(|l| HeaderValue::from_bytes(l).ok())
        .collect();
    let existing: Vec<&HeaderValue> = values.iter().collect();
    let needs: [&[&str]; 2] = [
        &["Origin"],
        &[
            "Origin",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
        ],
    ];
    let tokens = |vals: &[&HeaderValue]| -> Vec<Vec<u8>> {
        vals.iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|t| t.trim_ascii().to_vec())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let upstream = tokens(&existing);
    let star = upstream.iter().any(|t| t == b"*");
    let has =
        |list: &[Vec<u8>], name: &str| list.iter().any(|t| t.eq_ignore_ascii_case(name.as_bytes()));
    for needed in needs {
        let merged = vary::merged(&existing, needed);
        match &merged {
            Merge::UseStatic => assert!(existing.is_empty(), "{existing:?}"),
            Merge::Keep => {
                assert!(!existing.is_empty());
                assert!(
                    star || (existing.len() == 1 && needed.iter().all(|n| has(&upstream, n))),
                    "kept {existing:?} though it lacks one of {needed:?}"
                );
            }
            Merge::Replace(v) => {
                assert!(!existing.is_empty() && !star, "replaced {existing:?}");
                let out = tokens(&[v]);
                let missing: Vec<Vec<u8>> = needed
                    .iter()
                    .filter(|n| !has(&upstream, n))
                    .map(|n| n.as_bytes().to_vec())
                    .collect();
                let want: Vec<Vec<u8>> = upstream.iter().cloned().chain(missing).collect();
                assert_eq!(out, want, "merge of {existing:?} and {needed:?}");
            }
        }

        let static_value = HeaderValue::from_str(&needed.join(", ")).expect("names are values");
        let mut resp = ResponseHeader::build(200, None).expect("200 is a status");
        for v in &values {
            resp.append_header(header::VARY, v.clone())
                .expect("valid header");
        }
        vary::ensure(&mut resp, needed, &static_value);
        let after: Vec<&HeaderValue> = resp.headers.get_all(header::VARY).iter().collect();
        let after = tokens(&after);
        assert!(
            after.iter().any(|t| t == b"*") || needed.iter().all(|n| has(&after, n)),
            "Vary {after:?} after ensure({existing:?}) lacks one of {needed:?}"
        );
    }
}

/// Configuration text to a validated policy: never a panic, and an error
/// always says what is wrong. A policy that loads is usable: its origins are
/// canonical and its headers apply.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for environment in [None, Some(Environment::Development)] {
        let loaded = config::load_str(
            &text,
            Path::new("fuzz.toml"),
            Overrides { environment },
            &EnvVars::default(),
        );
        match loaded {
            Ok(policy) => {
                if let Some(env) = environment {
                    assert_eq!(policy.environment, env);
                }
                assert!(!helmgate::ops::describe::describe(&policy).is_empty());
                for site in &policy.sites {
                    for o in &site.cors.settings().allowed_origins {
                        assert_eq!(AllowedOrigin::parse(o.as_str()).as_ref(), Ok(o));
                    }
                    let mut resp = ResponseHeader::build(200, None).expect("200 is a status");
                    site.headers.apply(&mut resp, true, None);
                    site.cors
                        .apply_to_response(&mut resp, &CorsDecision::NotCors);
                }
            }
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains("fuzz.toml"), "{message}");
                if let ConfigError::Invalid { problems, .. } = &e {
                    assert!(!problems.is_empty(), "invalid without a problem");
                    let lines = text.matches('\n').count() + 1;
                    for p in problems {
                        assert!(!p.key.is_empty() && !p.message.is_empty(), "{p:?}");
                        if let Some((line, col)) = p.location {
                            assert!(line >= 1 && line <= lines && col >= 1, "{p:?}");
                        }
                    }
                }
            }
        }
    }
}

/// The raw request-head scan behind the CL+TE and Host checks: counts don't
/// depend on header-name case or on CRLF versus bare LF line ends, and the
/// verdict follows from the counts.
pub fn raw_head(data: &[u8]) {
    let head = RawHead::scan(data);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(head.content_length + head.transfer_encoding + head.host < lines.max(1));

    let upper = RawHead::scan(&data.to_ascii_uppercase());
    assert_eq!(
        (upper.content_length, upper.transfer_encoding, upper.host),
        (head.content_length, head.transfer_encoding, head.host),
        "header-name case changed the counts of {data:?}"
    );
    let mut bare_lf = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            bare_lf.push(b);
        }
    }
    let lf = RawHead::scan(&bare_lf);
    assert_eq!(
        (lf.content_length, lf.transfer_encoding, lf.host),
        (head.content_length, head.transfer_encoding, head.host),
        "CRLF vs LF changed the counts of {data:?}"
    );

    let refused = (head.content_length > 0 && head.transfer_encoding > 0)
        || head.host > 1
        || (head.http11 && head.host == 0);
    assert_eq!(head.verdict().is_some(), refused, "{head:?}");
}

/// The routes the path check routes on: a prefix with capitals (so every
/// path is also read folded) and one route that keeps escaped slashes.
fn path_router() -> &'static helmgate::policy::routes::Router {
    use helmgate::policy::routes::{EscapedSlashes, RouteMatch, Router};
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let routes = [
            ("/admin", EscapedSlashes::Reject),
            ("/embed/v1", EscapedSlashes::Reject),
            ("/Files", EscapedSlashes::Keep),
            ("/caf%C3%A9", EscapedSlashes::Reject),
        ];
        let specs: Vec<(usize, RouteMatch)> = routes
            .iter()
            .enumerate()
            .map(|(i, (prefix, escaped_slashes))| {
                (
                    i + 1,
                    RouteMatch {
                        hosts: vec![],
                        path_prefix: (*prefix).into(),
                        escaped_slashes: *escaped_slashes,
                    },
                )
            })
            .collect();
        Router::new(&specs).expect("fuzz routes")
    })
}

/// Canonical paths (issue 18): canonicalising is idempotent, never leaves
/// a dot-segment or `//` (so never climbs above the root), and routing the
/// canonical path equals routing the bytes forwarded upstream. A routed
/// path stays on its route under every other reading.
pub fn path(data: &[u8]) {
    use helmgate::policy::path::{canonicalize, readings};
    let Ok(canonical) = canonicalize(data) else {
        return;
    };
    let forwarded = canonical.as_bytes().to_vec();
    let again = canonicalize(&forwarded).expect("a canonical path is canonical");
    assert_eq!(again.as_bytes(), &forwarded[..], "not idempotent");
    assert!(again.is_unchanged(), "a canonical path was rewritten");
    assert!(
        !forwarded
            .split(|&b| b == b'/')
            .any(|s| s == b".." || s == b"."),
        "dot-segment left in {forwarded:?}"
    );
    assert!(!forwarded.windows(2).any(|w| w == b"//"), "// left");
    assert_eq!(data.starts_with(b"/"), forwarded.starts_with(b"/"));
    assert!(
        forwarded
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && b != b'\\'),
        "unsafe byte forwarded: {forwarded:?}"
    );
    let router = path_router();
    let routed = router.route(Some(b"h.test"), &canonical);
    assert_eq!(routed, router.route(Some(b"h.test"), &again));
    let Ok(site) = routed else {
        return;
    };
    assert_eq!(router.select(Some(b"h.test"), &forwarded), site);
    for reading in readings::alternatives(&forwarded) {
        let reading = reading.expect("a routed path never climbs above the root when read");
        assert_eq!(
            router.select(Some(b"h.test"), &reading),
            site,
            "{reading:?}"
        );
    }
}
