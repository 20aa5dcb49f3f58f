//! End-to-end behaviour of the core gateway: the real binary, a real upstream
//! on loopback, HTTP over real sockets. Numbers in test names refer to the
//! items of the core contract (CORS 1-7, headers 8-12, forwarding 13-15,
//! validation 16).

use std::process::Command;
use std::time::Duration;

use crate::support::*;

const APP: &str = "https://app.example.com";

fn prod(upstream: &Upstream) -> Gateway {
    Gateway::start(upstream.addr, GatewayOptions::default())
}

fn dev(upstream: &Upstream) -> Gateway {
    Gateway::start(
        upstream.addr,
        GatewayOptions {
            environment: "development",
            ..GatewayOptions::default()
        },
    )
}

// --- CORS -----------------------------------------------------------------

#[test]
fn cors_1_allowed_preflight_is_answered_by_the_gateway() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = request(
        gw.addr,
        "OPTIONS",
        "/api/items",
        &[
            ("Origin", APP),
            ("Access-Control-Request-Method", "PATCH"),
            ("Access-Control-Request-Headers", "content-type, x-user-id"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PATCH, DELETE, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Content-Type, Authorization, x-admin-api-key, x-user-id, x-request-id")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let vary = r.header("vary").unwrap().to_ascii_lowercase();
    for name in [
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
    ] {
        assert!(vary.contains(name), "vary {vary}");
    }
    assert_production_headers(&r);
    assert_eq!(up.count(), 0, "the preflight must not reach the upstream");
}

#[test]
fn cors_1_development_caches_preflights_for_a_day() {
    let up = Upstream::start();
    let gw = dev(&up);
    let r = request(
        gw.addr,
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://localhost:5173"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
}

#[test]
fn cors_2_disallowed_origin_gets_403_and_never_reaches_upstream() {
    let up = Upstream::start();
    let gw = prod(&up);
    let pre = request(
        gw.addr,
        "OPTIONS",
        "/x",
        &[
            ("Origin", "https://evil.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        b"",
    );
    let actual = request(
        gw.addr,
        "POST",
        "/x",
        &[("Origin", "https://evil.example.com")],
        b"{}",
    );
    for r in [&pre, &actual] {
        assert_eq!(r.status, 403);
        assert!(r.access_control().is_empty(), "{r:?}");
        assert!(r.header("vary").unwrap().contains("Origin"));
        assert_production_headers(r);
    }
    assert_eq!(up.count(), 0);
    assert!(eventually(Duration::from_secs(3), || gw
        .log()
        .contains("CORS blocked origin")));
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("CORS blocked origin"))
        .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("https://evil.example.com"), "{line}");
    assert!(
        line.contains("method=OPTIONS") && line.contains("path=\"/x\""),
        "{line}"
    );
    assert!(
        line.contains("client=127.0.0.1") && line.contains("request_id="),
        "{line}"
    );
}

#[test]
fn cors_2_blocked_origin_log_is_rate_limited_and_reports_suppressed() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new()
                .set("log.blocked_origin_burst", 5)
                .set("log.blocked_origin_per_minute", 60)
                .set("log.access_log", false),
            ..GatewayOptions::default()
        },
    );
    let mut conn = Conn::open(gw.addr);
    for i in 0..300 {
        let origin = format!("https://attacker{i}.example.net");
        let r = conn.send("GET", "/", &[("Origin", &origin)], b"").unwrap();
        assert_eq!(r.status, 403);
    }
    // One more blocked origin, again until the limiter has a token for it
    // (one a second): its line says how many were suppressed.
    assert!(eventually(Duration::from_secs(4), || {
        conn.send("GET", "/", &[("Origin", "https://late.example.net")], b"")
            .unwrap();
        gw.log().contains("late.example.net")
    }));
    let log = gw.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CORS blocked origin"))
        .collect();
    assert!(
        lines.len() <= 7,
        "{} lines for 301 blocked requests",
        lines.len()
    );
    let last = lines.last().unwrap();
    assert!(last.contains("suppressed"), "{last}");
    assert_eq!(up.count(), 0);
}

#[test]
fn cors_3_allowed_origin_is_forwarded_and_upstream_cors_replaced() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = gw.get("/cors-star", &[("Origin", APP), ("Cookie", "session=1")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.all("access-control-allow-origin"), vec![APP]);
    assert_eq!(r.all("access-control-allow-credentials"), vec!["true"]);
    assert!(
        !r.has("access-control-allow-methods"),
        "upstream's own CORS header must go"
    );
    assert!(!r.has("access-control-expose-headers"));
    assert_eq!(r.all("vary").join(", "), "Accept-Encoding, Origin");
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().header("cookie"), Some("session=1"));
}

#[test]
fn cors_4_no_origin_is_forwarded_without_cors_headers() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = gw.get("/cors-star", &[]);
    assert_eq!(r.status, 200);
    assert!(r.access_control().is_empty(), "{r:?}");
    assert_eq!(up.count(), 1);
}

#[test]
fn cors_5_same_origin_is_allowed_using_the_clients_host() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = request(
        gw.addr,
        "POST",
        "/form",
        &[("Host", "gateway.test"), ("Origin", "http://gateway.test")],
        b"a=1",
    );
    assert_eq!(r.status, 200);
    assert_eq!(up.count(), 1);
}

#[test]
fn cors_5_untrusted_client_cannot_forge_same_origin() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = request(
        gw.addr,
        "POST",
        "/",
        &[
            ("Host", "gateway.test"),
            ("X-Forwarded-Host", "evil.example.com"),
            ("X-Forwarded-Proto", "https"),
            ("Origin", "https://evil.example.com"),
        ],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(up.count(), 0);
}

#[test]
fn cors_5_trusted_proxy_defines_the_public_origin() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            trusted_proxies: vec!["127.0.0.1/32".into()],
            ..GatewayOptions::default()
        },
    );
    let r = request(
        gw.addr,
        "POST",
        "/",
        &[
            ("Host", "internal:8080"),
            ("X-Forwarded-Host", "www.example.org"),
            ("X-Forwarded-Proto", "https"),
            ("Origin", "https://www.example.org"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
}

#[test]
fn cors_6_normalised_origin_matches_and_is_echoed_verbatim() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = gw.get("/", &[("Origin", "HTTPS://App.Example.com:443")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("HTTPS://App.Example.com:443")
    );
}

#[test]
fn cors_6_null_malformed_and_repeated_origins_are_refused() {
    let up = Upstream::start();
    let gw = prod(&up);
    for origin in [
        "null",
        "https://app.example.com/",
        "https://app.example.com.evil.com",
        "app.example.com",
        "",
    ] {
        let r = gw.get("/", &[("Origin", origin)]);
        assert_eq!(r.status, 403, "origin {origin:?}");
    }
    let r = gw.get("/", &[("Origin", APP), ("Origin", APP)]);
    assert_eq!(r.status, 403);
    assert_eq!(up.count(), 0);
}

#[test]
fn cors_7_development_allows_any_local_origin_only() {
    let up = Upstream::start();
    let gw = dev(&up);
    for ok in [
        "http://localhost:5173",
        "https://localhost",
        "http://127.0.0.1:3001",
        "http://[::1]:8000",
    ] {
        let r = gw.get("/", &[("Origin", ok)]);
        assert_eq!(r.status, 200, "{ok}");
        assert_eq!(r.header("access-control-allow-origin"), Some(ok));
    }
    for bad in [
        "http://localhost.evil.com",
        "http://evil-localhost:3000",
        "http://127.0.0.2",
        "http://localhost@evil.com",
    ] {
        assert_eq!(gw.get("/", &[("Origin", bad)]).status, 403, "{bad}");
    }
    let prod_gw = prod(&up);
    assert_eq!(
        prod_gw
            .get("/", &[("Origin", "http://localhost:5173")])
            .status,
        403
    );
}

// --- Security headers -------------------------------------------------------

#[test]
fn headers_8_to_12_production_set_on_forwarded_responses() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = gw.get("/", &[]);
    assert_eq!(r.status, 200);
    assert_production_headers(&r);
    assert!(
        !r.has("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
}

#[test]
fn headers_8_to_12_development_set() {
    let up = Upstream::start();
    let gw = dev(&up);
    let r = gw.get("/", &[]);
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert!(!r.has("cross-origin-embedder-policy"));
    assert!(!r.has("strict-transport-security"));
    assert_eq!(r.header("x-powered-by"), Some("Express"));
}

#[test]
fn headers_9_hsts_only_from_a_trusted_https_proxy() {
    let up = Upstream::start();
    let untrusted = prod(&up);
    let r = untrusted.get("/", &[("X-Forwarded-Proto", "https")]);
    assert!(!r.has("strict-transport-security"));
    let trusted = Gateway::start(
        up.addr,
        GatewayOptions {
            trusted_proxies: vec!["127.0.0.0/8".into()],
            ..GatewayOptions::default()
        },
    );
    let r = trusted.get("/", &[("X-Forwarded-Proto", "https")]);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    let dev_trusted = Gateway::start(
        up.addr,
        GatewayOptions {
            environment: "development",
            trusted_proxies: vec!["127.0.0.0/8".into()],
            ..GatewayOptions::default()
        },
    );
    assert!(!dev_trusted
        .get("/", &[("X-Forwarded-Proto", "https")])
        .has("strict-transport-security"));
}

#[test]
fn gateway_made_502_carries_headers_and_no_internal_detail() {
    // Reserved, never listening: every connection to it is refused.
    let closed = Port::reserve();
    let gw = Gateway::start(closed.addr(), GatewayOptions::default());
    // Relayed by a proxy, so not the person on this machine: no hint (see
    // first_run.rs for the loopback one).
    let r = gw.get("/", &[("Origin", APP), ("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(r.status, 502);
    assert_production_headers(&r);
    assert_eq!(r.body_text(), "Bad Gateway\n");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert!(r.header("x-request-id").is_some());
    assert!(!r.has("server"), "{r:?}");
}

#[test]
fn gateway_made_504_on_upstream_timeout() {
    let up = Upstream::start();
    let gw = prod(&up);
    let started = std::time::Instant::now();
    let r = gw.get("/hang", &[]);
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_production_headers(&r);
    assert_eq!(r.body_text(), "Gateway Timeout\n");
}

#[test]
fn headers_the_upstream_sent_are_replaced_not_duplicated() {
    // Overwriting a header that came from the wire once kept the old value in
    // some processes and not others, so check several gateway starts.
    let up = Upstream::start();
    for _ in 0..4 {
        let gw = prod(&up);
        let r = gw.get(
            "/own-headers",
            &[("Origin", APP), ("X-Request-Id", "client-id")],
        );
        assert_eq!(r.status, 200);
        assert_production_headers(&r);
        for name in [
            "content-security-policy",
            "x-frame-options",
            "x-content-type-options",
            "referrer-policy",
            "cross-origin-embedder-policy",
            "x-request-id",
            "vary",
            "access-control-allow-origin",
        ] {
            assert_eq!(r.all(name).len(), 1, "{name}: {r:?}");
        }
        assert_eq!(r.header("x-request-id"), Some("client-id"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding, Origin"));
        assert!(
            !r.has("strict-transport-security"),
            "upstream HSTS over plain HTTP: {r:?}"
        );
    }
}

#[test]
fn forwarding_headers_from_the_client_are_replaced_in_every_process() {
    let up = Upstream::start();
    for _ in 0..4 {
        let gw = prod(&up);
        for _ in 0..3 {
            gw.get(
                "/",
                &[("X-Forwarded-For", "6.6.6.6"), ("X-Request-Id", "bad id")],
            );
            let seen = up.last();
            assert_eq!(seen.header_count("x-forwarded-for"), 1, "{seen:?}");
            assert_eq!(
                seen.header("x-forwarded-for"),
                Some("127.0.0.1"),
                "{seen:?}"
            );
            assert_eq!(seen.header_count("x-request-id"), 1, "{seen:?}");
            assert_ne!(seen.header("x-request-id"), Some("bad id"));
        }
    }
}

// --- Forwarding -------------------------------------------------------------

#[test]
fn forwarding_13_untrusted_client_forwarded_headers_are_replaced() {
    let up = Upstream::start();
    let gw = prod(&up);
    gw.get(
        "/",
        &[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example.com"),
            ("Forwarded", "for=6.6.6.6"),
        ],
    );
    let seen = up.last();
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some("gateway.test"));
    assert_eq!(seen.header("forwarded"), None);
    assert_eq!(seen.header_count("x-forwarded-for"), 1);
}

#[test]
fn forwarding_13_trusted_proxy_chain_is_appended() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            trusted_proxies: vec!["127.0.0.1/32".into()],
            ..GatewayOptions::default()
        },
    );
    gw.get(
        "/",
        &[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "www.example.org"),
        ],
    );
    let seen = up.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("x-forwarded-host"), Some("www.example.org"));
}

#[test]
fn forwarding_14_host_reaches_upstream_unchanged() {
    let up = Upstream::start();
    let gw = prod(&up);
    gw.get("/", &[("Host", "Shop.Example.com:8080")]);
    assert_eq!(up.last().header("host"), Some("Shop.Example.com:8080"));
}

#[test]
fn forwarding_15_request_id_is_kept_or_generated() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = gw.get("/", &[("X-Request-Id", "abc-123")]);
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    assert_eq!(up.last().header("x-request-id"), Some("abc-123"));
    let r = gw.get("/", &[("X-Request-Id", "bad id with spaces")]);
    let generated = r.header("x-request-id").unwrap().to_string();
    assert_ne!(generated, "bad id with spaces");
    assert_eq!(generated.len(), 32);
    assert_eq!(up.last().header("x-request-id"), Some(generated.as_str()));
    let r = gw.get("/", &[]);
    assert_eq!(r.header("x-request-id").map(str::len), Some(32));
}

// --- TLS --------------------------------------------------------------------

#[test]
fn tls_listener_serves_hsts_in_production() {
    let up = Upstream::start();
    let (gw, cert, tls_addr, _dir) = start_with_tls(up.addr, "tls");
    let r = tls_get(tls_addr, cert.der.clone(), &[("Origin", APP)]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_production_headers(&r);
    assert_eq!(up.last().header("x-forwarded-proto"), Some("https"));
    // Same gateway, plain listener: no HSTS.
    assert!(!gw.get("/", &[]).has("strict-transport-security"));
}

// --- Config validation and the command line -------------------------------

fn check(config: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let dir = TempDir::new("check");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&path).arg("--check").args(args);
    for k in [
        "HELMGATE_ENV",
        "NODE_ENV",
        "CORS_ALLOWED_ORIGINS",
        "HELMGATE_CONFIG",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const VALID: &str = "[server]\nlisten = [\"127.0.0.1:18080\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n";

#[test]
fn validation_16_bad_origins_fail_check_naming_entry_and_fix() {
    let text = VALID.replace(
        "[\"https://app.example.com\"]",
        "[\"https://app.example.com/\", \"https://x.example.com/path\", \"admin.example.com\", \"*\"]",
    );
    let (ok, out) = check(&text, &[], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("cors.allowed_origins[0]") && out.contains("trailing slash"),
        "{out}"
    );
    assert!(out.contains("write \"https://app.example.com\""), "{out}");
    assert!(out.contains("cors.allowed_origins[1]"), "{out}");
    assert!(
        out.contains("cors.allowed_origins[2]") && out.contains("https://admin.example.com"),
        "{out}"
    );
    assert!(
        out.contains("cors.allowed_origins[3]") && out.contains("wildcard"),
        "{out}"
    );
    assert!(out.contains("line 6"), "{out}");
}

#[test]
fn validation_check_prints_the_effective_policy() {
    let (ok, out) = check(VALID, &[], &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("environment: production (from default"),
        "{out}"
    );
    assert!(out.contains("https://app.example.com"));
    assert!(out.contains("content-security-policy: default-src 'self'"));
    assert!(out.contains("strict-transport-security: max-age=31536000; includeSubDomains; preload"));
    assert!(out.contains("127.0.0.1:18080"));
}

#[test]
fn validation_unknown_key_and_syntax_errors_are_located() {
    let (ok, out) = check(&format!("{VALID}\n[cors2]\nx = 1\n"), &[], &[]);
    assert!(!ok && out.contains("cors2"), "{out}");
    let (ok, out) = check("[server\nlisten = 1\n", &[], &[]);
    assert!(!ok && out.contains("line 1"), "{out}");
}

#[test]
fn environment_precedence_cli_then_helmgate_env_then_node_env_then_file() {
    let file = format!("environment = \"production\"\n{VALID}");
    let (_, out) = check(&file, &[("NODE_ENV", "development")], &[]);
    assert!(
        out.contains("environment: development (from NODE_ENV)"),
        "{out}"
    );
    let (_, out) = check(
        &file,
        &[("NODE_ENV", "development"), ("HELMGATE_ENV", "production")],
        &[],
    );
    assert!(
        out.contains("environment: production (from HELMGATE_ENV)"),
        "{out}"
    );
    let (_, out) = check(
        &file,
        &[("HELMGATE_ENV", "production")],
        &["--environment", "development"],
    );
    assert!(
        out.contains("environment: development (from --environment)"),
        "{out}"
    );
    let (_, out) = check(&file, &[], &[]);
    assert!(
        out.contains("environment: production (from config file"),
        "{out}"
    );
}

#[test]
fn cors_allowed_origins_env_replaces_the_file_list() {
    let (ok, out) = check(
        VALID,
        &[(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example.com,https://b.example.com",
        )],
        &[],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("allowed_origins: [https://a.example.com, https://b.example.com]"),
        "{out}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/helmgate.toml", "--check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/helmgate.toml") && err.contains("--config"),
        "{err}"
    );
}

#[test]
fn busy_port_is_reported_not_panicked() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = TempDir::new("busy");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, VALID.replace("127.0.0.1:18080", &addr.to_string())).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen") && err.contains(&addr.to_string()),
        "{err}"
    );
}

#[test]
fn version_and_help() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--config") && help.contains("--check") && help.contains("--environment")
    );
}

/// Header-name case: Title-Case by default (`x-CUSTOM-thing` goes on as
/// `X-Custom-Thing`, as Go's net/http and Traefik spell names), exact with
/// `[server] preserve_header_case = true`; both ways through the proxy.
#[test]
fn header_names_go_on_in_title_case_unless_preserved() {
    let up = Upstream::start();
    // (preserve, the client's header upstream, ours upstream, ours to the client)
    for (preserve, custom, forwarded_for, csp) in [
        (
            false,
            "X-Custom-Thing",
            "X-Forwarded-For",
            "Content-Security-Policy",
        ),
        // Exact case: the client's spelling, and the gateway's own.
        (
            true,
            "x-CUSTOM-thing",
            "x-forwarded-for",
            "content-security-policy",
        ),
    ] {
        up.clear();
        let gw = Gateway::start(
            up.addr,
            GatewayOptions {
                environment: "development",
                settings: Settings::new().set("server.preserve_header_case", preserve),
                ..Default::default()
            },
        );
        let r = request(gw.addr, "GET", "/", &[("x-CUSTOM-thing", "1")], b"");
        assert_eq!(r.status, 200);
        let seen = up.last();
        let names: Vec<&str> = seen.headers.iter().map(|(k, _)| k.as_str()).collect();
        for want in [custom, forwarded_for, "Host"] {
            assert!(
                names.contains(&want),
                "preserve={preserve}: upstream got {names:?}"
            );
        }
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        for want in [csp, "X-Powered-By", "Content-Type"] {
            assert!(
                names.contains(&want),
                "preserve={preserve}: client got {names:?}"
            );
        }
    }
}
