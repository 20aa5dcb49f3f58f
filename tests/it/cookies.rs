//! `[cookies]` (README "Cookies") through the real binary: the upstream's
//! `/cookies` sets five cookies (one malformed, one `__Host-` breaking its
//! rules); the client gets them with the configured attributes.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;

struct Setup {
    _up: Upstream,
    gw: Gateway,
    admin: SocketAddr,
}

/// Behind a trusted proxy on 127.0.0.1, so `X-Forwarded-Proto: https`
/// makes a client HTTPS.
fn start(extra: &str) -> Setup {
    let up = Upstream::start();
    let admin = Port::reserve();
    let admin_addr = admin.addr();
    let mut gw = Gateway::start_with_tables(
        up.addr,
        GatewayOptions {
            trusted_proxies: vec!["127.0.0.1".into()],
            ..GatewayOptions::default()
        },
        &format!("[admin]\nlisten = \"{admin_addr}\"\nhosts = [\"gateway.test\"]\n{extra}"),
    );
    gw.hold(admin);
    Setup {
        _up: up,
        gw,
        admin: admin_addr,
    }
}

impl Setup {
    fn cookies(&self, https: bool) -> Vec<String> {
        let proto = if https { "https" } else { "http" };
        let r = self.gw.get(
            "/cookies",
            &[("X-Forwarded-Proto", proto), ("X-Request-Id", "ck-1")],
        );
        assert_eq!(r.status, 200, "{r:?}");
        r.all("set-cookie")
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    fn metric(&self, name: &str) -> u64 {
        let text = request(self.admin, "GET", "/metrics", &[], b"").body_text();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{route=\"default\"}}")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

const EXPIRES: &str = "Expires=Wed, 21 Oct 2037 07:28:00 GMT";

#[test]
fn without_rules_set_cookie_passes_byte_for_byte() {
    let s = start("");
    assert_eq!(
        s.cookies(true),
        [
            "sid=abc; Path=/; Max-Age=60",
            "theme=dark; SameSite=Strict",
            "__Host-id=1; Path=/app",
            "garbage",
            &format!("session=x; Domain=gateway.test; {EXPIRES}"),
        ]
    );
}

#[test]
fn https_clients_get_every_configured_attribute_once() {
    let s = start("[cookies]\nsecure = true\nhttp_only = true\nsame_site = \"Lax\"\n");
    assert_eq!(
        s.cookies(true),
        [
            "sid=abc; Path=/; Max-Age=60; SameSite=Lax; Secure; HttpOnly",
            // override = false: the upstream's SameSite stays.
            "theme=dark; SameSite=Strict; Secure; HttpOnly",
            "__Host-id=1; Path=/app; SameSite=Lax; Secure; HttpOnly",
            "garbage",
            &format!("session=x; Domain=gateway.test; {EXPIRES}; SameSite=Lax; Secure; HttpOnly"),
        ]
    );
    // The malformed one and the __Host- one with Path=/app are counted and
    // logged (by name only).
    assert!(eventually(Duration::from_secs(3), || s
        .metric("helmgate_cookie_prefix_violations_total")
        == 1));
    assert_eq!(s.metric("helmgate_set_cookie_malformed_total"), 1);
    let log = s.gw.log_with(&["request_id=ck-1", "malformed Set-Cookie"]);
    assert!(
        log.contains("cookie \"__Host-id\" breaks its prefix rule (__Host- needs Secure, Path=/ and no Domain): browsers will drop it route=default request_id=ck-1"),
        "{log}"
    );
    assert!(
        log.contains(
            "malformed Set-Cookie passed unchanged (7 bytes) route=default request_id=ck-1"
        ),
        "{log}"
    );
}

#[test]
fn plain_http_clients_get_no_secure() {
    let s = start(
        "[cookies]\nsecure = true\nhttp_only = [\"session\", \"sid\"]\nsame_site = \"Lax\"\n",
    );
    assert_eq!(
        s.cookies(false),
        [
            "sid=abc; Path=/; Max-Age=60; SameSite=Lax; HttpOnly",
            "theme=dark; SameSite=Strict",
            "__Host-id=1; Path=/app; SameSite=Lax",
            "garbage",
            &format!("session=x; Domain=gateway.test; {EXPIRES}; SameSite=Lax; HttpOnly"),
        ]
    );
}

#[test]
fn override_replaces_same_site_and_none_brings_secure() {
    let s = start(
        "[cookies]\nsame_site = \"Lax\"\n[production.cookies]\nsame_site = \"None\"\noverride = true\n",
    );
    let got = s.cookies(true);
    assert_eq!(got[0], "sid=abc; Path=/; Max-Age=60; SameSite=None; Secure");
    assert_eq!(got[1], "theme=dark; SameSite=None; Secure");
    // Over plain HTTP SameSite=None would be dropped without Secure: the
    // upstream's attributes stay as they were.
    let got = s.cookies(false);
    assert_eq!(got[0], "sid=abc; Path=/; Max-Age=60");
    assert_eq!(got[1], "theme=dark; SameSite=Strict");
}

#[test]
fn a_route_layers_its_own_rules() {
    let s = start(
        "[cookies]\nhttp_only = true\n[[route]]\nname = \"raw\"\npath_prefix = \"/cookies\"\n[route.cookies]\nhttp_only = false\n",
    );
    assert_eq!(s.cookies(true)[0], "sid=abc; Path=/; Max-Age=60");
    assert_eq!(
        s.gw.get("/x", &[]).all("set-cookie"),
        Vec::<&str>::new(),
        "no Set-Cookie, nothing added"
    );
}

#[test]
fn check_prints_each_routes_cookie_rules_and_names_bad_keys() {
    use crate::fetch_metadata::BASE;
    let (ok, out) = check_config(&format!(
        "{BASE}[cookies]\nsecure = true\nhttp_only = [\"session\", \"auth\"]\nsame_site = \"Lax\"\n[[route]]\nname = \"api\"\npath_prefix = \"/api\"\n[route.cookies]\nsecure = false\nhttp_only = false\nsame_site = \"\"\n"
    ));
    assert!(ok, "{out}");
    assert!(out.contains("  cookies: Secure added (HTTPS clients only); HttpOnly session, auth; SameSite Lax; upstream's attributes kept"), "{out}");
    assert!(
        out.contains("  cookies: Set-Cookie passed as sent"),
        "{out}"
    );
    let (ok, out) = check_config(&format!(
        "{BASE}[cookies]\nsame_site = \"lax\"\n[development.cookies]\nhttp_only = [\"a b\"]\n"
    ));
    assert!(!ok);
    assert!(out.contains("cookies.same_site: \"lax\" is not a SameSite value; use \"Lax\", \"Strict\", \"None\" or \"\""), "{out}");
    assert!(
        out.contains("development.cookies.http_only[0]: \"a b\" is not a cookie name"),
        "{out}"
    );
}
