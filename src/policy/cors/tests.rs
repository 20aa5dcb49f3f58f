use super::*;
use crate::policy::testing::header_map;
use http::header::HeaderValue;
use http::Method;
use pingora::http::ResponseHeader;

use crate::policy::origin::{AllowedOrigin, Scheme};

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

/// The origin most tests allow.
const APP: &str = "https://app.example.com";

/// A policy that allows [`APP`] only.
fn app_policy() -> CorsPolicy {
    policy(&[APP], false)
}

fn allowed(origin: &'static str) -> CorsDecision {
    CorsDecision::Allowed(Grant {
        allow_origin: HeaderValue::from_static(origin),
    })
}

const HTTPS_NO_HOST: OwnOrigin<'static> = OwnOrigin {
    scheme: Scheme::Https,
    host: None,
};

/// A GET with one `Origin`.
fn get_from(p: &CorsPolicy, origin: &str) -> CorsDecision {
    decide(p, Method::GET, &[("origin", origin)])
}

fn rejected(reason: RejectReason) -> CorsDecision {
    CorsDecision::Rejected(reason)
}

/// An upstream 200 with `upstream`'s headers, after `p` applied `d` to it.
fn applied(
    p: &CorsPolicy,
    d: &CorsDecision,
    upstream: &[(&'static str, &'static str)],
) -> ResponseHeader {
    let mut resp = ResponseHeader::build(200, None).unwrap();
    for &(name, value) in upstream {
        resp.insert_header(name, value).unwrap();
    }
    p.apply_to_response(&mut resp, d);
    resp
}

fn decide(p: &CorsPolicy, method: Method, pairs: &[(&str, &str)]) -> CorsDecision {
    p.evaluate(&method, &header_map(pairs), HTTPS_NO_HOST)
}

#[test]
fn no_origin_is_not_cors() {
    let p = app_policy();
    assert_eq!(decide(&p, Method::GET, &[]), CorsDecision::NotCors);
}

#[test]
fn listed_origin_is_allowed() {
    assert_eq!(get_from(&app_policy(), APP), allowed(APP));
}

#[test]
fn preflight_needs_options_and_request_method() {
    let p = app_policy();
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
    let p = app_policy();
    for evil in [
        "https://app.example.com.evil.com",
        "https://evilapp.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
    ] {
        assert_eq!(
            get_from(&p, evil),
            rejected(RejectReason::NotAllowed),
            "{evil}"
        );
    }
}

#[test]
fn case_and_default_port_do_not_change_the_verdict() {
    let sent = "HTTPS://APP.example.com:443";
    assert_eq!(get_from(&app_policy(), sent), allowed(sent));
}

#[test]
fn null_malformed_and_duplicate_origins_are_rejected() {
    let p = app_policy();
    assert_eq!(get_from(&p, "null"), rejected(RejectReason::NullOrigin));
    assert_eq!(
        get_from(&p, "https://app.example.com/"),
        rejected(RejectReason::Malformed)
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
        rejected(RejectReason::MultipleOrigins)
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
        rejected(RejectReason::NotAllowed)
    );
    assert_eq!(
        get_from(&dev, "http://localhost.evil.com"),
        rejected(RejectReason::NotAllowed)
    );
}

#[test]
fn same_origin_is_allowed_using_the_clients_view() {
    let p = policy(&[], false);
    let h = header_map(&[("origin", "https://gateway.example.com")]);
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
        rejected(RejectReason::NotAllowed)
    );
    assert_eq!(
        p.evaluate(
            &Method::POST,
            &h,
            own(Scheme::Https, "gateway.example.com:8443")
        ),
        rejected(RejectReason::NotAllowed)
    );
}

#[test]
fn upstream_access_control_headers_are_replaced() {
    let p = app_policy();
    let resp = applied(
        &p,
        &allowed("https://app.example.com"),
        &[
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Vary", "Accept-Encoding"),
        ],
    );
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
    let p = app_policy();
    let resp = applied(
        &p,
        &CorsDecision::NotCors,
        &[("Access-Control-Allow-Origin", "*")],
    );
    assert!(resp
        .headers
        .keys()
        .all(|k| !k.as_str().starts_with("access-control-")));
}

#[test]
fn preflight_response_echoes_origin_and_varies() {
    let p = app_policy();
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
        assert!(get_from(&p, ok).is_allowed(), "{ok}");
    }
    for no in [
        "https://example.com",
        "https://evil-example.com",
        "https://a.example.com.evil.net",
        "http://a.example.com",
        "https://a.example.com:444",
    ] {
        assert_eq!(get_from(&p, no), rejected(RejectReason::NotAllowed), "{no}");
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
    assert_eq!(get_from(&p, "https://anyone.example"), star);
    assert_eq!(get_from(&p, "null"), star);
    assert_eq!(
        get_from(&p, "https://a.example/"),
        rejected(RejectReason::Malformed)
    );
    let resp = applied(&p, &star, &[]);
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
    let resp = applied(&p, &allowed("https://app.example.com"), &[]);
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
        get_from(&p, "https://evil.example"),
        CorsDecision::Observed(Some(RejectReason::NotAllowed))
    );
    assert_eq!(
        get_from(&p, "https://app.example.com"),
        CorsDecision::Observed(None)
    );
    let resp = applied(
        &p,
        &CorsDecision::Observed(None),
        &[("Access-Control-Allow-Origin", "*")],
    );
    assert_eq!(resp.headers["access-control-allow-origin"], "*");
    assert!(resp.headers.get("vary").is_none());
}

/// `proxied_lines` is what `apply_to_response` (then the Fetch Metadata
/// `vary::ensure`) adds to a head with no CORS fields or `Vary`, spelled as
/// that head's fields are written, in the same order.
#[test]
fn proxied_lines_are_what_the_map_path_adds_to_a_bare_head() {
    use crate::policy::fetch_metadata;
    use crate::policy::response_head::Lines;
    use crate::policy::vary;
    let mut with_expose = settings(&[APP], false);
    with_expose.expose_headers = vec!["X-Total".into()];
    let without_credentials = CorsSettings {
        allow_credentials: false,
        ..settings(&[APP], false)
    };
    for cors in [
        app_policy(),
        CorsPolicy::new(with_expose),
        CorsPolicy::new(without_credentials),
    ] {
        for decision in [allowed(APP), CorsDecision::NotCors] {
            for fetch_vary in [false, true] {
                let mut map = http::HeaderMap::new();
                cors.apply_to_response(&mut map, &decision);
                if fetch_vary {
                    vary::ensure(
                        &mut map,
                        fetch_metadata::VARY,
                        &fetch_metadata::vary_value(),
                    );
                }
                let expected = Lines::of(map);
                for title_case in [false, true] {
                    let mut lines = bytes::BytesMut::new();
                    assert!(cors.proxied_lines(&decision, fetch_vary, title_case, &mut lines));
                    assert_eq!(
                        String::from_utf8_lossy(&lines),
                        String::from_utf8_lossy(expected.get(title_case)),
                        "{decision:?} fetch_vary={fetch_vary} title_case={title_case}"
                    );
                }
            }
        }
    }
}

#[test]
fn report_mode_and_answered_decisions_are_left_to_the_map_path() {
    let cors = app_policy();
    for decision in [
        CorsDecision::Observed(None),
        CorsDecision::Preflight(Grant {
            allow_origin: HeaderValue::from_static(APP),
        }),
    ] {
        let mut lines = bytes::BytesMut::new();
        assert!(!cors.proxied_lines(&decision, false, true, &mut lines));
        assert!(lines.is_empty());
    }
}
