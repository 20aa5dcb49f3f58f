//! Routes: several apps and paths behind one gateway, each with its own
//! CORS, headers and upstream. Two real upstreams on loopback; every test
//! checks which one got the request and what the client got back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const APP: &str = "https://app.example.com";

/// The SPA behind `[upstream]`, the API behind `[upstreams.api]`.
struct Setup {
    spa: Upstream,
    api: Upstream,
    gw: Gateway,
}

/// A production config with the two upstreams and an admin listener;
/// `routes` (raw `[[route]]` tables, as each test spells them) is appended.
fn config(
    listen: SocketAddr,
    spa: SocketAddr,
    api: SocketAddr,
    admin: &Port,
    routes: &str,
) -> Config {
    Config::production(listen, spa, &[APP])
        .upstream(UpstreamSection::at(spa).read_timeout(2.0))
        .set("upstreams.api", UpstreamSection::at(api).read_timeout(2.0))
        .admin(Admin::on(admin.addr()))
        .append(routes)
}

fn start(routes: &str) -> Setup {
    let (spa, api) = (Upstream::start(), Upstream::start());
    let (listen, admin) = (Port::reserve(), Port::reserve());
    let config = config(listen.addr(), spa.addr, api.addr, &admin, routes);
    let mut gw = Gateway::with_config(listen, &config, vec![], vec![]);
    gw.hold(admin);
    Setup { spa, api, gw }
}

fn get(s: &Setup, host: &str, path: &str, extra: &[(&str, &str)]) -> Response {
    let mut h = vec![("Host", host)];
    h.extend_from_slice(extra);
    request(s.gw.addr, "GET", path, &h, b"")
}

/// Which upstream took the last request, and the path it saw.
fn took(s: &Setup) -> (&'static str, String) {
    let (spa, api) = (s.spa.recorded(), s.api.recorded());
    match (spa.last(), api.last()) {
        (Some(_), None) => ("spa", spa.last().unwrap().path.clone()),
        (None, Some(_)) => ("api", api.last().unwrap().path.clone()),
        (None, None) => ("none", String::new()),
        (Some(_), Some(_)) => ("both", String::new()),
    }
}

fn routed(s: &Setup, host: &str, path: &str) -> (&'static str, String) {
    s.spa.clear();
    s.api.clear();
    let r = get(s, host, path, &[]);
    assert_eq!(r.status, 200, "{host}{path}: {r:?}");
    took(s)
}

const API_ROUTES: &str = r#"
[[route]]
name = "api"
hosts = ["api.example.com"]
upstream = "api"

[[route]]
name = "v1"
path_prefix = "/v1"
upstream = "api"

[[route]]
name = "tenants"
hosts = ["*.tenants.example.com"]
upstream = "api"
"#;

#[test]
fn requests_go_to_the_upstream_of_their_host_and_path() {
    let s = start(API_ROUTES);
    assert_eq!(routed(&s, "api.example.com", "/users").0, "api");
    assert_eq!(routed(&s, "API.Example.com:8080", "/users").0, "api");
    assert_eq!(routed(&s, "app.example.com", "/users").0, "spa");
    assert_eq!(routed(&s, "app.example.com", "/v1/users").0, "api");
    assert_eq!(routed(&s, "acme.tenants.example.com", "/").0, "api");
    assert_eq!(routed(&s, "a.b.tenants.example.com", "/").0, "api");
    // The wildcard never takes its own apex or a look-alike.
    assert_eq!(routed(&s, "tenants.example.com", "/").0, "spa");
    assert_eq!(routed(&s, "eviltenants.example.com", "/").0, "spa");
    assert_eq!(
        routed(&s, "acme.tenants.example.com.evil.net", "/").0,
        "spa"
    );
}

#[test]
fn prefixes_match_whole_segments_only() {
    let s = start(API_ROUTES);
    for path in ["/v1", "/v1/", "/v1/x", "/v1?x=1"] {
        assert_eq!(routed(&s, "h.test", path).0, "api", "{path}");
    }
    for path in ["/v1x", "/v10/x", "/v", "/x/v1"] {
        assert_eq!(routed(&s, "h.test", path).0, "spa", "{path}");
    }
}

#[test]
fn exact_host_beats_wildcard_beats_any_host_then_longest_prefix() {
    let s = start(
        r#"
[[route]]
name = "any-api"
path_prefix = "/api"
upstream = "api"

[[route]]
name = "wild"
hosts = ["*.example.com"]
upstream = "api"
[route.headers]
referrer_policy = "no-referrer"

[[route]]
name = "exact"
hosts = ["www.example.com"]
[route.headers]
referrer_policy = "same-origin"

[[route]]
name = "exact-api"
hosts = ["www.example.com"]
path_prefix = "/api/v2"
upstream = "api"
"#,
    );
    let policy = |host: &str, path: &str| {
        let r = get(&s, host, path, &[]);
        (took(&s).0, r.header("referrer-policy").unwrap().to_string())
    };
    let clear = || {
        s.spa.clear();
        s.api.clear();
    };
    clear();
    assert_eq!(
        policy("www.example.com", "/api/x"),
        ("spa", "same-origin".into())
    );
    clear();
    // A route layers over the top-level tables, not over another route.
    assert_eq!(
        policy("www.example.com", "/api/v2/x"),
        ("api", "strict-origin-when-cross-origin".into())
    );
    clear();
    assert_eq!(
        policy("shop.example.com", "/api/x"),
        ("api", "no-referrer".into())
    );
    clear();
    assert_eq!(
        policy("other.test", "/api/x"),
        ("api", "strict-origin-when-cross-origin".into())
    );
    let r = get(&s, "www.example.com", "/", &[]);
    assert_eq!(r.header("x-request-id").map(str::len), Some(32));
}

#[test]
fn the_upstream_gets_the_normalised_path_the_route_was_chosen_by() {
    let s = start(API_ROUTES);
    assert_eq!(
        routed(&s, "h.test", "/public/../v1/users?id=7"),
        ("api", "/v1/users?id=7".into())
    );
    assert_eq!(
        routed(&s, "h.test", "/%76%31/users"),
        ("api", "/v1/users".into())
    );
    assert_eq!(
        routed(&s, "h.test", "/v1/./a/%2e%2e/b"),
        ("api", "/v1/b".into())
    );
    assert_eq!(routed(&s, "h.test", "/v1/../x"), ("spa", "/x".into()));
    // Merged slashes and upper-case escapes: the canonical spelling.
    assert_eq!(
        routed(&s, "h.test", "//v1//a%2cb"),
        ("api", "/v1/a%2Cb".into())
    );
    // Already normal: forwarded byte for byte.
    assert_eq!(
        routed(&s, "h.test", "/v1/a%20b"),
        ("api", "/v1/a%20b".into())
    );
}

#[test]
fn a_path_above_the_root_gets_400_with_headers_and_reaches_no_upstream() {
    let s = start(API_ROUTES);
    // And an escaped slash, which nginx would read as `/v1/x` (issue 18).
    for path in ["/../etc/passwd", "/v1/../../x", "/%2e%2e/x", "/v1%2Fx"] {
        let r = get(&s, "h.test", path, &[("X-Request-Id", "climb-1")]);
        assert_eq!(r.status, 400, "{path}");
        assert_production_headers(&r);
        assert_eq!(r.header("x-request-id"), Some("climb-1"));
    }
    assert_eq!(s.spa.count() + s.api.count(), 0);
}

#[test]
fn each_route_enforces_its_own_origins() {
    let s = start(
        r#"
[[route]]
name = "api"
hosts = ["api.example.com"]
upstream = "api"
[route.cors]
allowed_origins = ["https://*.example.com"]
expose_headers = ["X-Request-Id"]
"#,
    );
    let from = |host: &str, origin: &str| get(&s, host, "/", &[("Origin", origin)]);
    // Wildcard on the api route: any subdomain, exact scheme and port.
    for ok in [
        "https://app.example.com",
        "https://a.b.example.com",
        "https://Shop.Example.com:443",
    ] {
        let r = from("api.example.com", ok);
        assert_eq!(r.status, 200, "{ok}");
        assert_eq!(r.header("access-control-allow-origin"), Some(ok));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("X-Request-Id")
        );
    }
    for no in [
        "https://example.com",
        "https://evil-example.com",
        "https://a.example.com.evil.net",
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://*.example.com",
    ] {
        let r = from("api.example.com", no);
        assert_eq!(r.status, 403, "{no}");
        assert!(r.access_control().is_empty(), "{no}: {r:?}");
    }
    // The top-level policy lists only the app origin.
    assert_eq!(
        from("app.example.com", "https://shop.example.com").status,
        403
    );
    assert_eq!(from("app.example.com", APP).status, 200);
    assert_eq!(s.api.count(), 3);
    assert_eq!(s.spa.count(), 1);
    assert!(
        s.gw.log()
            .contains("wildcard origin https://*.example.com is allowed with credentials"),
        "{}",
        s.gw.log()
    );
}

#[test]
fn a_public_route_answers_star_without_credentials() {
    let s = start(
        r#"
[[route]]
name = "assets"
path_prefix = "/assets"
[route.cors]
allow_any_origin = true
allow_credentials = false
"#,
    );
    let r = get(
        &s,
        "h.test",
        "/assets/logo.svg",
        &[("Origin", "https://anyone.example")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(!r.has("access-control-allow-credentials"), "{r:?}");
    let r = request(
        s.gw.addr,
        "OPTIONS",
        "/assets/logo.svg",
        &[
            ("Origin", "https://anyone.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(!r.has("access-control-allow-credentials"), "{r:?}");
    assert_production_headers(&r);
    assert_eq!(s.spa.count(), 1, "the preflight stays at the edge");
    // Outside the route the top-level policy still refuses strangers.
    let r = get(
        &s,
        "h.test",
        "/account",
        &[("Origin", "https://anyone.example")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn credentials_can_be_left_out_for_a_route() {
    let s = start(
        r#"
[[route]]
name = "public-api"
path_prefix = "/public"
[route.cors]
allow_credentials = false
"#,
    );
    let r = get(&s, "h.test", "/public/x", &[("Origin", APP)]);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert!(!r.has("access-control-allow-credentials"), "{r:?}");
    let r = get(&s, "h.test", "/private", &[("Origin", APP)]);
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
}

#[test]
fn an_embed_route_can_be_framed_and_the_rest_cannot() {
    let s = start(
        r#"
[[route]]
name = "embed"
path_prefix = "/embed"
[route.headers]
x_frame_options = ""
content_security_policy = "default-src 'self'; frame-ancestors https://partner.example.org"
[route.production.headers]
referrer_policy = "no-referrer"
"#,
    );
    let r = get(&s, "h.test", "/embed/widget", &[]);
    assert!(!r.has("x-frame-options"), "{r:?}");
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'; frame-ancestors https://partner.example.org")
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = get(&s, "h.test", "/app", &[]);
    assert_production_headers(&r);
}

#[test]
fn metrics_and_logs_name_the_route() {
    let s = start(API_ROUTES);
    get(&s, "api.example.com", "/x", &[]);
    get(
        &s,
        "api.example.com",
        "/x",
        &[("Origin", "https://evil.example")],
    );
    request(
        s.gw.addr,
        "OPTIONS",
        "/v1/x",
        &[("Origin", APP), ("Access-Control-Request-Method", "POST")],
        b"",
    );
    get(&s, "other.test", "/x", &[]);
    let admin = admin_addr(&s);
    let metrics_have = |line: &str| {
        eventually(Duration::from_secs(2), || {
            request(admin, "GET", "/metrics", &[], b"")
                .body_text()
                .contains(line)
        })
    };
    for line in [
        "helmgate_requests_total{route=\"api\",class=\"2xx\"} 1",
        "helmgate_requests_total{route=\"api\",class=\"4xx\"} 1",
        "helmgate_origins_blocked_total{route=\"api\",reason=\"not_allowed\"} 1",
        "helmgate_preflights_total{route=\"v1\"} 1",
        "helmgate_requests_total{route=\"default\",class=\"2xx\"} 1",
        "helmgate_preflights_total{route=\"tenants\"} 0",
    ] {
        assert!(
            metrics_have(line),
            "missing {line} in\n{}",
            request(admin, "GET", "/metrics", &[], b"").body_text()
        );
    }
    let log = s.gw.log_with(&["CORS blocked origin"]);
    assert!(
        log.lines()
            .any(|l| l.contains("CORS blocked origin") && l.contains("route=api")),
        "{log}"
    );
    assert!(
        eventually(Duration::from_secs(2), || s
            .gw
            .log()
            .lines()
            .any(|l| l.contains("status=204") && l.contains("route=v1"))),
        "{}",
        s.gw.log()
    );
}

fn admin_addr(s: &Setup) -> SocketAddr {
    let text = std::fs::read_to_string(&s.gw.config_path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("listen = \"127.0.0.1:"))
        .unwrap();
    line.trim_start_matches("listen = \"")
        .trim_end_matches('"')
        .parse()
        .unwrap()
}

#[test]
fn readyz_names_every_unreachable_upstream() {
    let s = start(API_ROUTES);
    let admin = admin_addr(&s);
    assert!(eventually(Duration::from_secs(5), || {
        request(admin, "GET", "/readyz", &[], b"").status == 200
    }));
    let Setup { spa, api, gw } = s;
    let api_addr = api.addr;
    drop(api);
    // The upstream's listener closes a moment after it is dropped.
    assert!(eventually(Duration::from_secs(5), || {
        request(admin, "GET", "/readyz", &[], b"").status == 503
    }));
    let r = request(admin, "GET", "/readyz", &[], b"");
    assert!(
        r.body_text().contains(&format!("api ({api_addr})")),
        "{}",
        r.body_text()
    );
    assert!(!r.body_text().contains("default"), "{}", r.body_text());
    drop((spa, gw));
}

#[test]
fn reload_swaps_routes_under_load_without_failing_a_request() {
    let (spa, api) = (Upstream::start(), Upstream::start());
    let (listen, admin) = (Port::reserve(), Port::reserve());
    let without = config(listen.addr(), spa.addr, api.addr, &admin, "").render();
    let with = config(
        listen.addr(),
        spa.addr,
        api.addr,
        &admin,
        "[[route]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"api\"\n",
    )
    .render();
    let addr = listen.addr();
    let mut gw = Gateway::start_with_config(addr, &without, vec![], vec![]);
    gw.hold(listen);
    gw.hold(admin);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent, failures) =
                (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failures));
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::Relaxed);
                    match conn.send("GET", "/api/x", &[("Origin", APP)], b"") {
                        Some(r) if r.status == 200 => {}
                        Some(r) => failures.lock().unwrap().push(format!("{}", r.status)),
                        None => {
                            failures.lock().unwrap().push("dropped".into());
                            conn = Conn::open(addr);
                        }
                    }
                    next += Duration::from_millis(4);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
            })
        })
        .collect();
    // Each policy serves 400 requests before the next reload.
    let reloads = 6;
    let mut mark = 0;
    let load_after_reload = |reloads: usize, mark: usize| {
        eventually(Duration::from_secs(15), || {
            gw.log().matches("configuration reloaded").count() == reloads
                && sent.load(Ordering::Relaxed) >= mark + 400
        })
    };
    for i in 0..reloads {
        assert!(load_after_reload(i, mark), "{}", gw.log());
        mark = sent.load(Ordering::Relaxed);
        std::fs::write(&gw.config_path, if i % 2 == 0 { &with } else { &without }).unwrap();
        gw.signal("HUP");
    }
    assert!(load_after_reload(reloads, mark), "{}", gw.log());
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let total = sent.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap();
    assert!(total > 2_000, "only {total} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(gw.log().matches("configuration reloaded").count(), reloads);
    // Both upstreams served while the route came and went.
    assert!(
        spa.count() > 100 && api.count() > 100,
        "spa {} api {}",
        spa.count(),
        api.count()
    );
    // The last reload removed the route: everything goes to the SPA again.
    spa.clear();
    api.clear();
    assert_eq!(gw.get("/api/x", &[]).status, 200);
    assert_eq!((spa.count(), api.count()), (1, 0));
}

const BASE: &str = "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18080\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n[upstreams.api]\naddress = \"127.0.0.1:4000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n";

/// `--check` fails and its output contains each of `wanted`.
fn refused(routes: &str, wanted: &[&str]) {
    let (ok, out) = check_config(&format!("{BASE}{routes}"));
    assert!(!ok, "accepted:\n{routes}\n{out}");
    for w in wanted {
        assert!(out.contains(w), "missing {w:?} in:\n{out}");
    }
}

#[test]
fn route_config_errors_name_the_route_key_and_position() {
    // BASE has 9 lines; routes start on line 10.
    refused(
        "[[route]]\nname = \"Bad Name\"\n",
        &[
            "line 11, column 8: route[0].name",
            "not a usable route name",
        ],
    );
    refused(
        "[[route]]\nname = \"a\"\npath_prefix = \"/x\"\n[[route]]\nname = \"a\"\npath_prefix = \"/y\"\n",
        &["line 14, column 8: route[a].name", "used twice"],
    );
    refused(
        "[[route]]\nname = \"a\"\nupstream = \"nope\"\n",
        &[
            "line 12, column 12: route[a].upstream",
            "\"nope\" is not a named upstream",
            "[api]",
        ],
    );
    refused(
        "[[route]]\nname = \"a\"\nhosts = [\"api.example.com\"]\n[[route]]\nname = \"b\"\nhosts = [\"API.example.com\"]\npath_prefix = \"/\"\n",
        &["route[b]", "takes the same requests as route \"a\" (host api.example.com, path_prefix /)"],
    );
    refused(
        "[[route]]\nname = \"a\"\npath_prefix = \"/v1/\"\n[[route]]\nname = \"b\"\npath_prefix = \"/v1\"\n",
        &["takes the same requests as route \"a\" (any host, path_prefix /v1)"],
    );
    refused(
        "[[route]]\nname = \"a\"\nhosts = [\"bücher.example\", \"api.example.com:443\", \"a.*.example.com\"]\n",
        &[
            "route[a].hosts[0]",
            "punycode",
            "route[a].hosts[1]",
            "has a port",
            "route[a].hosts[2]",
        ],
    );
    refused(
        "[[route]]\nname = \"a\"\npath_prefix = \"v1\"\n[[route]]\nname = \"b\"\npath_prefix = \"/../x\"\n[[route]]\nname = \"c\"\npath_prefix = \"/x?y\"\n",
        &["route[a].path_prefix", "must start with `/`", "route[b].path_prefix", "climbs above", "route[c].path_prefix"],
    );
    refused(
        "[[route]]\nname = \"a\"\nhosts = []\n",
        &["route[a].hosts", "omit `hosts`"],
    );
    refused(
        "[upstreams.Bad]\naddress = \"127.0.0.1:1\"\n",
        &["upstreams.Bad", "not a usable upstream name"],
    );
}

#[test]
fn wildcard_and_public_origin_errors_are_explained() {
    for (entry, want) in [
        ("https://*.com", "com is a public suffix"),
        ("https://*.co.uk", "co.uk is a public suffix"),
        ("https://*.github.io", "github.io is a public suffix"),
        ("https://a.*.example.com", "whole leftmost label"),
        ("https://*example.com", "whole leftmost label"),
        ("*", "allow_any_origin = true"),
    ] {
        refused(
            &format!("[[route]]\nname = \"a\"\npath_prefix = \"/a\"\n[route.cors]\nallowed_origins = [{entry:?}]\n"),
            &["route[a].cors.allowed_origins[0]", want],
        );
    }
    refused(
        "[[route]]\nname = \"pub\"\npath_prefix = \"/p\"\n[route.cors]\nallow_any_origin = true\nallow_credentials = true\n",
        &["line 15, column 21: route[pub].cors.allow_credentials", "can't carry credentials"],
    );
    refused(
        "[[route]]\nname = \"pub\"\npath_prefix = \"/p\"\n[route.cors]\nallow_any_origin = true\nallow_credentials = false\nallowed_origins = [\"https://a.example.com\"]\n",
        &["route[pub].cors.allow_any_origin", "non-empty allowed_origins"],
    );
    // Inherited origins and the default credentials give way to `*`.
    let (ok, out) = check_config(&format!(
        "{BASE}[[route]]\nname = \"pub\"\npath_prefix = \"/p\"\n[route.cors]\nallow_any_origin = true\n"
    ));
    assert!(ok, "{out}");
    assert!(
        out.contains("access-control-allow-credentials: (not sent)"),
        "{out}"
    );
}

#[test]
fn check_prints_the_routing_table_and_every_routes_policy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/routes.toml");
    let (ok, text) = check_config_file(&path);
    assert!(ok, "{text}");
    let table = text
        .split("routes (in order of precedence):\n")
        .nth(1)
        .unwrap()
        .split("route default:")
        .next()
        .unwrap();
    let order: Vec<&str> = table
        .lines()
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(
        order,
        ["1. embed", "2. api", "3. assets", "4. default"],
        "{table}"
    );
    for want in [
        "route api:\n  upstream: api",
        "route assets:",
        "allowed_origins: any (access-control-allow-origin: *)",
        "access-control-allow-credentials: (not sent)",
        "route embed:",
        "x-frame-options: (not sent)",
        "strict-transport-security: max-age=31536000; includeSubDomains; preload   (HTTPS only)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn a_config_without_routes_routes_everything_to_the_upstream() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let r = gw.get("/a/../b", &[("Host", "anything.test")]);
    assert_eq!(r.status, 200);
    assert_eq!(up.last().path, "/b");
    assert!(eventually(Duration::from_secs(2), || gw
        .log()
        .contains("route=default")));
}

/// One team's route in its own file under `conf.d/`, included by the main
/// file: a file added later is read on SIGHUP, and a key set in two files
/// fails the reload naming both, keeping the running configuration.
#[test]
fn an_included_file_adds_a_route_and_sighup_rereads_every_file() {
    let (spa, api) = (Upstream::start(), Upstream::start());
    let (listen, admin) = (Port::reserve(), Port::reserve());
    let config =
        config(listen.addr(), spa.addr, api.addr, &admin, "").set("include", ["conf.d/*.toml"]);
    let mut gw = Gateway::with_config(listen, &config, vec![], vec![]);
    gw.hold(admin);
    let s = Setup { spa, api, gw };
    assert_eq!(routed(&s, "a.example.com", "/team/x").0, "spa");
    let dir = s.gw.config_path.parent().unwrap().join("conf.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("team.toml"),
        "[[route]]\nname = \"team\"\npath_prefix = \"/team\"\nupstream = \"api\"\n",
    )
    .unwrap();
    s.gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || routed(
            &s,
            "a.example.com",
            "/team/x"
        )
        .0 == "api"),
        "{}",
        s.gw.log()
    );
    std::fs::write(
        dir.join("zz.toml"),
        "[upstream]\naddress = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    s.gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || s.gw.log().contains("zz.toml")),
        "{}",
        s.gw.log()
    );
    let log = s.gw.log();
    assert!(
        log.contains("upstream.address: set in two files:") && log.contains("helmgate.toml line"),
        "{log}"
    );
    assert_eq!(routed(&s, "a.example.com", "/team/x").0, "api");
    assert_eq!(routed(&s, "a.example.com", "/").0, "spa");
}
