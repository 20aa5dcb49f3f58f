//! Properties of origin handling, over generated origins and near misses:
//! normalisation is idempotent; case and an explicit default port don't
//! change a CORS verdict; a string that merely contains, starts with or ends
//! with an allowed origin is refused; and what is allowed is echoed back
//! byte for byte.

use std::net::{Ipv4Addr, Ipv6Addr};

use helmgate::policy::cors::{CorsDecision, CorsPolicy, CorsSettings, OwnOrigin};
use helmgate::policy::origin::{canonicalize, AllowedOrigin, CanonicalText, Origin, Scheme};
use http::header::{self, HeaderMap, HeaderValue};
use http::Method;
use pingora::http::ResponseHeader;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Enough cases to find the shapes below, few enough to run in seconds.
const CASES: u32 = 512;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?"
}

/// A host as a browser serializes it: lower-case LDH labels (the last not
/// all digits), a dotted quad, a compressed IPv6 literal, or loopback.
fn host() -> impl Strategy<Value = String> {
    let name =
        (prop::collection::vec(label(), 0..3), "[a-z]{2,6}").prop_map(|(mut labels, tld)| {
            labels.push(tld);
            labels.join(".")
        });
    prop_oneof![
        6 => name,
        2 => any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        2 => any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        1 => select(vec!["localhost", "127.0.0.1", "[::1]", "xn--80ak6aa92e.com"])
            .prop_map(str::to_string),
    ]
}

/// An origin in canonical form: `scheme://host[:port]`, default port left out.
fn canonical_origin() -> impl Strategy<Value = String> {
    (
        select(vec!["http", "https"]),
        host(),
        prop::option::of(1..=u16::MAX),
    )
        .prop_map(|(scheme, host, port)| match port {
            Some(p) if p != default_port(scheme) => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        })
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// How to respell an origin without changing it: which characters to
/// upper-case, and whether to spell out the default port.
#[derive(Debug, Clone)]
struct Respelling {
    upper: Vec<bool>,
    default_port: bool,
}

fn respelling() -> impl Strategy<Value = Respelling> {
    (prop::collection::vec(any::<bool>(), 0..64), any::<bool>()).prop_map(
        |(upper, default_port)| Respelling {
            upper,
            default_port,
        },
    )
}

impl Respelling {
    fn apply(&self, canonical: &str) -> String {
        let mut out: String = canonical
            .chars()
            .zip(self.upper.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let origin = Origin::parse(canonical).expect("a generated origin");
        if self.default_port && origin.port().is_none() {
            let scheme = origin.scheme().as_str();
            out.push_str(&format!(":{}", default_port(scheme)));
        }
        out
    }
}

fn policy(allowed: &[String], allow_localhost: bool) -> CorsPolicy {
    CorsPolicy::new(CorsSettings {
        allowed_origins: allowed
            .iter()
            .map(|o| AllowedOrigin::parse(o).expect("a generated origin"))
            .collect(),
        allow_localhost,
        allowed_methods: vec![Method::GET, Method::POST],
        allowed_headers: vec!["Content-Type".into()],
        expose_headers: vec![],
        max_age_secs: 600,
        ..CorsSettings::default()
    })
}

/// The verdicts on an actual GET and on a preflight from `origin`.
fn verdicts(p: &CorsPolicy, origin: &HeaderValue, own: OwnOrigin<'_>) -> [CorsDecision; 2] {
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, origin.clone());
    let get = p.evaluate(&Method::GET, &headers, own);
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("POST"),
    );
    [get, p.evaluate(&Method::OPTIONS, &headers, own)]
}

/// The gateway's own origin as the client addressed it; `None` means no
/// Host (no same-origin rule).
fn own_origin(text: Option<&str>) -> OwnOrigin<'_> {
    match text.and_then(|t| t.split_once("://")) {
        None => NO_HOST,
        Some((scheme, host)) => OwnOrigin {
            scheme: if scheme.eq_ignore_ascii_case("https") {
                Scheme::Https
            } else {
                Scheme::Http
            },
            host: Some(host.as_bytes()),
        },
    }
}

fn is_allowed(d: &CorsDecision) -> bool {
    d.is_allowed()
}

/// What a verdict is, without the echoed value (which differs by spelling).
fn kinds(d: &[CorsDecision; 2]) -> [&'static str; 2] {
    [d[0].as_str(), d[1].as_str()]
}

const NO_HOST: OwnOrigin<'static> = OwnOrigin {
    scheme: Scheme::Https,
    host: None,
};

/// One of `list` or a fresh origin.
fn pick(list: &[String], index: Index, fresh: String, from_list: bool) -> String {
    if from_list {
        list[index.index(list.len())].clone()
    } else {
        fresh
    }
}

/// Text an attacker might put before an allowed origin.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        2 => "[ -~]{1,8}",
        3 => select(vec![
            "https://", "http://", "evil", "evil.", "https://evil.com/?", "https://evil.com#",
            "https://user@", "null ", " ", "*.", "xn--", "https://evil.com, ", "a",
        ])
        .prop_map(str::to_string),
    ]
}

/// Text an attacker might put after an allowed origin.
fn suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        2 => "[ -~]{1,8}",
        3 => select(vec![
            ".evil.com", ".", "/", ":443", ":80", ":8443", ":0443", "@evil.com", "evil.com",
            "%2e", "#", "?x", ", https://evil.com", " ", "\t", "-", "0", ":", "]", ".localhost",
        ])
        .prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn generated_origins_are_canonical(o in canonical_origin()) {
        let parsed = Origin::parse(&o).map_err(|e| TestCaseError::fail(format!("{o:?}: {e}")))?;
        prop_assert_eq!(parsed.as_str(), o.as_str());
    }

    #[test]
    fn normalisation_is_idempotent(
        o in canonical_origin(),
        r in respelling(),
        noise in "[ -~]{0,40}",
        pick_noise in any::<bool>(),
    ) {
        let input = if pick_noise { noise } else { r.apply(&o) };
        if let Ok(first) = Origin::parse(&input) {
            let canonical = first.as_str();
            let second = Origin::parse(canonical)
                .map_err(|e| TestCaseError::fail(format!("{canonical:?} from {input:?}: {e}")))?;
            prop_assert_eq!(&second, &first);
            prop_assert_eq!(second.as_str(), canonical);
            let borrowed = matches!(
                canonicalize(canonical.as_bytes()),
                Ok((CanonicalText::Borrowed(t), _)) if t == canonical
            );
            prop_assert!(borrowed, "{canonical:?} not recognised as canonical");
        }
        if !pick_noise {
            prop_assert_eq!(Origin::parse(&input).map(|p| p.as_str().to_string()), Ok(o));
        }
    }

    #[test]
    fn case_and_default_port_do_not_change_the_verdict(
        list in prop::collection::vec(canonical_origin(), 1..4),
        index in any::<Index>(),
        fresh in canonical_origin(),
        from_list in any::<bool>(),
        allow_localhost in any::<bool>(),
        own in prop::option::of(canonical_origin()),
        r in respelling(),
        own_r in respelling(),
    ) {
        let candidate = pick(&list, index, fresh, from_list);
        let p = policy(&list, allow_localhost);
        let respelt = r.apply(&candidate);
        // The gateway's own origin, canonical and respelt.
        let own_texts = own.map(|o| (o.clone(), own_r.apply(&o)));
        let (own_canonical, own_respelt) = match own_texts {
            Some((c, r)) => (Some(c), Some(r)),
            None => (None, None),
        };
        let before = verdicts(&p, &HeaderValue::from_str(&candidate).unwrap(), own_origin(own_canonical.as_deref()));
        let after = verdicts(&p, &HeaderValue::from_str(&respelt).unwrap(), own_origin(own_respelt.as_deref()));
        prop_assert_eq!(kinds(&before), kinds(&after), "{:?} vs {:?}", candidate, respelt);
        if from_list {
            prop_assert_eq!(kinds(&after), ["allowed", "preflight"]);
        }
    }

    #[test]
    fn near_misses_of_an_allowed_origin_are_refused(
        list in prop::collection::vec(canonical_origin(), 1..4),
        index in any::<Index>(),
        r in respelling(),
        before in prefix(),
        after in suffix(),
    ) {
        let target = &list[index.index(list.len())];
        let candidate = format!("{before}{}{after}", r.apply(target));
        let Ok(value) = HeaderValue::from_str(&candidate) else {
            // Not sendable as a header value at all.
            return Ok(());
        };
        // Allowed only when it *is* a listed origin after normalisation.
        let is_listed = canonicalize(candidate.as_bytes())
            .is_ok_and(|(c, _)| list.iter().any(|o| o == c.as_str()));
        let p = policy(&list, false);
        for d in verdicts(&p, &value, NO_HOST) {
            prop_assert_eq!(is_allowed(&d), is_listed, "{:?} got {:?}", candidate, d);
        }
    }

    #[test]
    fn whatever_is_allowed_is_echoed_byte_for_byte(
        list in prop::collection::vec(canonical_origin(), 1..4),
        index in any::<Index>(),
        r in respelling(),
        before in prefix(),
        after in suffix(),
        exact in any::<bool>(),
        allow_localhost in any::<bool>(),
    ) {
        let target = r.apply(&list[index.index(list.len())]);
        let candidate = if exact { target } else { format!("{before}{target}{after}") };
        let Ok(value) = HeaderValue::from_str(&candidate) else {
            return Ok(());
        };
        let p = policy(&list, allow_localhost);
        let [get, preflight] = verdicts(&p, &value, NO_HOST);
        if exact {
            prop_assert_eq!(get.as_str(), "allowed");
        }
        for d in [&get, &preflight] {
            let mut resp = ResponseHeader::build(200, None).unwrap();
            resp.insert_header("Access-Control-Allow-Origin", "*").unwrap();
            p.apply_to_response(&mut resp, d);
            let echoed: Vec<&[u8]> = resp
                .headers
                .get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            if is_allowed(d) {
                prop_assert_eq!(echoed, vec![candidate.as_bytes()]);
            } else {
                prop_assert!(echoed.is_empty(), "{:?} refused but echoed {:?}", candidate, echoed);
            }
        }
        if let CorsDecision::Preflight(grant) = &preflight {
            let resp = p.preflight_response(grant);
            prop_assert_eq!(
                resp.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).map(HeaderValue::as_bytes),
                Some(candidate.as_bytes())
            );
        }
    }
}
