//! `[fetch_metadata]` (README "Fetch Metadata") through the real binary:
//! raw requests carrying the `Sec-Fetch-*` headers a browser would send.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;

struct Setup {
    up: Upstream,
    gw: Gateway,
    admin: SocketAddr,
}

const APP: &str = "https://app.example.com";

fn start(extra: &str) -> Setup {
    let up = Upstream::start();
    let admin = Port::reserve();
    let admin_addr = admin.addr();
    let mut gw = Gateway::start_with_tables(
        up.addr,
        GatewayOptions {
            ..GatewayOptions::default()
        },
        &format!("[admin]\nlisten = \"{admin_addr}\"\nhosts = [\"gateway.test\"]\n{extra}"),
    );
    gw.hold(admin);
    Setup {
        up,
        gw,
        admin: admin_addr,
    }
}

fn enforce() -> Setup {
    start("[fetch_metadata]\nmode = \"enforce\"\nallow_paths = [\"/embed\"]\n")
}

impl Setup {
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.gw.addr, "GET", path, headers, b"")
    }

    /// A counter of `/metrics`, summed over the series with these labels.
    fn metric(&self, name: &str, labels: &str) -> u64 {
        let text = request(self.admin, "GET", "/metrics", &[], b"").body_text();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

const XSSI: &[(&str, &str)] = &[
    ("Sec-Fetch-Site", "cross-site"),
    ("Sec-Fetch-Mode", "no-cors"),
    ("Sec-Fetch-Dest", "script"),
];

fn assert_refused(r: &Response) {
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.body_text(), "Forbidden: cross-site request refused\n");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.has("x-request-id"), "{r:?}");
    assert_production_headers(r);
}

#[test]
fn a_cross_site_script_load_is_refused_with_every_header_logged_and_counted() {
    let s = enforce();
    let mut h = XSSI.to_vec();
    h.push(("X-Request-Id", "xssi-1"));
    // A plain GET (the front door answers) and a POST with a body (the
    // Pingora hooks answer): the same 403.
    let r = s.get("/api/data.json", &h);
    assert_refused(&r);
    assert_eq!(r.header("x-request-id"), Some("xssi-1"));
    let r = request(s.gw.addr, "POST", "/api/data.json", XSSI, b"a=1");
    assert_refused(&r);
    assert_eq!(s.up.count(), 0, "nothing reached the upstream");
    assert!(eventually(Duration::from_secs(3), || s.metric(
        "helmgate_requests_refused_total",
        "route=\"default\",reason=\"fetch_metadata\""
    ) == 2));
    assert_eq!(s.metric("helmgate_requests_would_refuse_total", ""), 0);
    let status = request(s.admin, "GET", "/status.json", &[], b"");
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["routes"][0]["fetch_metadata_mode"], "enforce");
    assert_eq!(status["routes"][0]["cross_site_refused"], 2);
    let dashboard = request(s.admin, "GET", "/", &[], b"").body_text();
    assert!(
        dashboard.contains("Cross-site requests (Fetch Metadata)"),
        "{dashboard}"
    );
    let log = s.gw.log();
    assert!(
        log.contains("refused cross-site request reason=fetch_metadata why=cross_site site=\"cross-site\" mode=\"no-cors\" dest=\"script\" method=GET path=\"/api/data.json\" client=127.0.0.1 route=default request_id=xssi-1"),
        "{log}"
    );
}

#[test]
fn report_mode_forwards_and_counts_what_enforce_would_refuse() {
    let s = start("[fetch_metadata]\nmode = \"report\"\n");
    let r = s.get("/api/data.json", XSSI);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.up.count(), 1);
    assert!(eventually(Duration::from_secs(3), || s.metric(
        "helmgate_requests_would_refuse_total",
        "route=\"default\",reason=\"fetch_metadata\""
    ) == 1));
    assert_eq!(s.metric("helmgate_requests_refused_total", ""), 0);
    let log = s.gw.log();
    assert!(
        log.contains("would refuse cross-site request reason=fetch_metadata why=cross_site"),
        "{log}"
    );
}

#[test]
fn a_top_level_navigation_is_allowed_but_not_a_cross_site_post_or_object() {
    let s = enforce();
    let nav = |dest| {
        [
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-Dest", dest),
            ("Sec-Fetch-User", "?1"),
        ]
    };
    assert_eq!(s.get("/page", &nav("document")).status, 200);
    assert_eq!(
        request(s.gw.addr, "HEAD", "/page", &nav("iframe"), b"").status,
        200
    );
    assert_refused(&request(s.gw.addr, "POST", "/form", &nav("document"), b""));
    assert_refused(&s.get("/page", &nav("object")));
    assert_refused(&s.get("/page", &nav("embed")));
    assert_eq!(s.up.count(), 2);
}

#[test]
fn same_origin_same_site_none_and_no_header_are_allowed() {
    let s = enforce();
    for site in ["same-origin", "same-site", "none"] {
        let h = [
            ("Sec-Fetch-Site", site),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Sec-Fetch-Dest", "script"),
        ];
        assert_eq!(s.get("/api/x", &h).status, 200, "{site}");
    }
    let plain = s.get("/api/x", &[]);
    assert_eq!(plain.status, 200, "no Sec-Fetch-*");
    // The answer depends on these headers: a shared cache must key on them.
    let vary = plain.all("vary").join(", ").to_ascii_lowercase();
    for name in [
        "origin",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
    ] {
        assert!(vary.contains(name), "Vary: {vary}");
    }
    assert_eq!(
        request(s.gw.addr, "POST", "/api/x", &[], b"a=1").status,
        200,
        "a non-browser POST"
    );
    assert_eq!(s.up.count(), 5);
}

#[test]
fn same_site_is_refused_when_not_allowed() {
    let s = start("[fetch_metadata]\nmode = \"enforce\"\nallow_same_site = false\n");
    let h = [
        ("Sec-Fetch-Site", "same-site"),
        ("Sec-Fetch-Mode", "no-cors"),
    ];
    assert_refused(&s.get("/api/x", &h));
    assert!(eventually(Duration::from_secs(3), || s
        .gw
        .log()
        .contains("why=same_site")));
}

#[test]
fn allow_paths_are_served_cross_site_on_segment_boundaries() {
    let s = enforce();
    assert_eq!(s.get("/embed", XSSI).status, 200);
    assert_eq!(s.get("/embed/widget.js?x=1", XSSI).status, 200);
    // Matched on the canonical path, as routes are.
    assert_eq!(s.get("/%65mbed/widget.js", XSSI).status, 200);
    assert_refused(&s.get("/embedded.js", XSSI));
    assert_refused(&s.get("/api/embed", XSSI));
}

#[test]
fn unknown_repeated_or_listed_values_fail_closed_and_say_so() {
    let s = enforce();
    let cases: [&[(&str, &str)]; 5] = [
        &[("Sec-Fetch-Site", "cross-origin")],
        &[("Sec-Fetch-Site", "same-origin, cross-site")],
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Mode", "teleport"),
        ],
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Dest", "script, image"),
        ],
    ];
    for h in cases {
        assert_refused(&s.get("/api/x", h));
    }
    assert_eq!(s.up.count(), 0);
    // Log lines are written in batches (up to a second late): wait for the
    // last request's.
    eventually(Duration::from_secs(5), || {
        s.gw.log().contains("why=invalid_sec_fetch_dest")
    });
    let log = s.gw.log();
    assert!(
        log.contains("why=invalid_sec_fetch_site site=\"same-origin, same-origin\""),
        "{log}"
    );
    assert!(log.contains("why=invalid_sec_fetch_mode"), "{log}");
    assert!(log.contains("why=invalid_sec_fetch_dest"), "{log}");
    assert!(log.contains("counted as cross-site"), "{log}");
}

#[test]
fn a_preflight_is_answered_by_cors_and_an_allowed_cors_request_passes() {
    let s = enforce();
    let cors = |origin| {
        [
            ("Origin", origin),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Dest", "empty"),
        ]
    };
    let mut preflight = cors(APP).to_vec();
    preflight.push(("Access-Control-Request-Method", "POST"));
    let r = request(s.gw.addr, "OPTIONS", "/api/x", &preflight, b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    let r = request(s.gw.addr, "POST", "/api/x", &cors(APP), b"{}");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    // A foreign origin is CORS's refusal, not ours.
    let r = s.get("/api/x", &cors("https://evil.example"));
    assert_eq!(r.status, 403);
    assert_eq!(r.body_text(), "Forbidden: origin not allowed\n");
    assert_eq!(s.up.count(), 1);
    assert_eq!(s.metric("helmgate_requests_refused_total", ""), 0);
}

#[test]
fn a_route_layers_its_own_rule_over_the_top_level_one() {
    let s = start(
        "[fetch_metadata]\nmode = \"enforce\"\n[[route]]\nname = \"public\"\npath_prefix = \"/public\"\n[route.fetch_metadata]\nmode = \"off\"\n[[route]]\nname = \"widgets\"\npath_prefix = \"/w\"\n[route.production.fetch_metadata]\nallow_paths = [\"/w/embed\"]\n",
    );
    assert_refused(&s.get("/api/x", XSSI));
    assert_eq!(s.get("/public/x.js", XSSI).status, 200);
    assert_eq!(s.get("/w/embed/x.js", XSSI).status, 200);
    assert_refused(&s.get("/w/other.js", XSSI));
    assert!(eventually(Duration::from_secs(3), || s.metric(
        "helmgate_requests_refused_total",
        "route=\"widgets\",reason=\"fetch_metadata\""
    ) == 1));
}

pub(crate) const BASE: &str =
    "[server]\nlisten = [\"127.0.0.1:8080\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n";

#[test]
fn check_prints_each_routes_rule_and_names_bad_keys() {
    let (ok, out) = check_config(&format!(
        "{BASE}[fetch_metadata]\nmode = \"report\"\nallow_paths = [\"/embed/\"]\n[[route]]\nname = \"api\"\npath_prefix = \"/api\"\n[route.fetch_metadata]\nmode = \"enforce\"\nallow_same_site = false\n"
    ));
    assert!(ok, "{out}");
    assert!(out.contains("  fetch_metadata: report (Sec-Fetch-Site cross-site and not a top-level GET/HEAD navigation: forwarded, logged and counted as would_refuse; allowed: no Sec-Fetch-Site, same-origin, none, same-site, a CORS request from an allowed origin, paths [/embed];"), "{out}");
    assert!(out.contains("  fetch_metadata: enforce (Sec-Fetch-Site cross-site or same-site and not a top-level GET/HEAD navigation: 403;"), "{out}");
    let (ok, out) = check_config(&format!(
        "{BASE}[fetch_metadata]\nmode = \"strict\"\n[production.fetch_metadata]\nallow_paths = [\"embed\"]\n"
    ));
    assert!(!ok);
    assert!(out.contains("fetch_metadata.mode"), "{out}");
    assert!(
        out.contains("\"strict\" is not a mode; use \"enforce\", \"report\" or \"off\""),
        "{out}"
    );
    assert!(
        out.contains("production.fetch_metadata.allow_paths[0]"),
        "{out}"
    );
    let (ok, out) = check_config(&format!(
        "{BASE}[fetch_metadata]\nmode = \"off\"\nbogus = 1\n"
    ));
    assert!(!ok);
    assert!(out.contains("bogus"), "{out}");
}
