//! Headers beyond the seed: the hardened preset, custom and removed
//! headers, CSP checked at load, Report-Only beside the enforcing policy,
//! and per-response nonces (to the upstream, into HTML, kept out of caches).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;

const HSTS: &str = "max-age=31536000; includeSubDomains; preload";
const CSP_HARDENED_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; script-src-attr 'none'; upgrade-insecure-requests";
const CSP_HARDENED_DEVELOPMENT: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; script-src-attr 'none'";

/// Every header a response carries, lower-cased, minus the transport ones.
fn header_set(r: &Response) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-type"
                    | "content-length"
                    | "date"
                    | "connection"
                    | "x-request-id"
                    | "vary"
                    | "transfer-encoding"
                    // the upstream's own, removed in production only (as the seed)
                    | "x-powered-by"
            )
        })
        .collect();
    out.sort();
    out
}

fn hardened_set(csp: &str, hsts: bool, coep: bool) -> Vec<(String, String)> {
    let mut want: Vec<(&str, &str)> = vec![
        ("content-security-policy", csp),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("origin-agent-cluster", "?1"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-content-type-options", "nosniff"),
        ("x-dns-prefetch-control", "off"),
        ("x-download-options", "noopen"),
        ("x-frame-options", "DENY"),
        ("x-permitted-cross-domain-policies", "none"),
        ("x-xss-protection", "0"),
    ];
    if hsts {
        want.push(("strict-transport-security", HSTS));
    }
    if coep {
        want.push(("cross-origin-embedder-policy", "require-corp"));
    }
    let mut want: Vec<(String, String)> = want
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    want
}

fn tls_gateway(
    environment: &'static str,
    settings: Settings,
) -> (Upstream, Gateway, SocketAddr, TestCert, TempDir) {
    let up = Upstream::start();
    let dir = TempDir::new("headers");
    let cert = TestCert::write(dir.path());
    let port = Port::reserve();
    let tls = port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            environment,
            settings: settings.set("server.tls", [cert.tls(tls)]),
            ..GatewayOptions::default()
        },
    );
    gw.hold(port);
    (up, gw, tls, cert, dir)
}

#[test]
fn the_hardened_preset_sends_exactly_helmets_set() {
    for (env, csp, coep) in [
        ("production", CSP_HARDENED_PRODUCTION, true),
        ("development", CSP_HARDENED_DEVELOPMENT, false),
    ] {
        let (_up, gw, tls, cert, _dir) =
            tls_gateway(env, Settings::new().set("headers.preset", "hardened"));
        let plain = gw.get("/", &[]);
        assert_eq!(
            header_set(&plain),
            hardened_set(csp, false, coep),
            "{env} over HTTP"
        );
        assert_eq!(plain.has("x-powered-by"), env == "development");
        let secure = tls_get(tls, cert.der.clone(), &[]);
        let hsts = env == "production";
        assert_eq!(
            header_set(&secure),
            hardened_set(csp, hsts, coep),
            "{env} over TLS"
        );
    }
}

#[test]
fn an_explicit_key_wins_over_the_preset_and_the_seed_stays_the_default() {
    let (_up, gw, _tls, _cert, _dir) = tls_gateway(
        "production",
        Settings::new().set(
            "headers",
            table([
                ("preset", "hardened"),
                ("cross_origin_opener_policy", "same-origin-allow-popups"),
                ("x_xss_protection", ""),
            ]),
        ),
    );
    let r = gw.get("/", &[]);
    assert_eq!(
        r.header("cross-origin-opener-policy"),
        Some("same-origin-allow-popups")
    );
    assert!(!r.has("x-xss-protection"));
    let up = Upstream::start();
    let seed = Gateway::start(up.addr, GatewayOptions::default());
    let r = seed.get("/", &[]);
    assert_production_headers(&r);
    for h in [
        "cross-origin-opener-policy",
        "permissions-policy",
        "x-xss-protection",
        "origin-agent-cluster",
    ] {
        assert!(!r.has(h), "the seed profile sends {h}");
    }
}

#[test]
fn custom_and_removed_headers_apply_to_proxied_and_gateway_made_responses() {
    let up = Upstream::start();
    let dead = {
        let u = Upstream::start();
        u.addr
    };
    let listen = Port::reserve();
    let config = Config::new(listen.addr(), up.addr)
        .environment("production")
        .origins(&["https://app.example.com"])
        .set(
            "upstreams.dead",
            UpstreamSection {
                connect_timeout_secs: Some(1.0),
                ..UpstreamSection::at(dead)
            },
        )
        .set(
            "headers.remove",
            ["Server", "X-AspNet-Version", "X-Powered-By"],
        )
        .set(
            "headers.custom",
            table([
                ("X-Robots-Tag", "noindex"),
                ("NEL", "{\"report_to\":\"default\",\"max_age\":60}"),
            ]),
        )
        .set(
            "route",
            [table([
                ("name", toml::Value::from("dead")),
                ("path_prefix", "/dead".into()),
                ("upstream", "dead".into()),
                (
                    "headers",
                    table([("custom", table([("X-Robots-Tag", ""), ("X-Route", "dead")]))]).into(),
                ),
            ])],
        );
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    let proxied = gw.get("/own-headers", &[]);
    let rejected = gw.get("/", &[("Origin", "https://evil.example")]);
    let preflight = request(
        gw.addr,
        "OPTIONS",
        "/",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        b"",
    );
    for (what, r, status) in [
        ("proxied", &proxied, 200),
        ("403", &rejected, 403),
        ("204", &preflight, 204),
    ] {
        assert_eq!(r.status, status, "{what}");
        assert_eq!(r.header("x-robots-tag"), Some("noindex"), "{what}");
        assert_eq!(
            r.header("nel"),
            Some("{\"report_to\":\"default\",\"max_age\":60}"),
            "{what}"
        );
        assert_eq!(r.all("x-robots-tag").len(), 1, "{what}");
        assert!(!r.has("x-powered-by"), "{what}");
    }
    // A route drops one custom header and adds its own, even on its 502.
    let r = gw.get("/dead/x", &[]);
    assert_eq!(r.status, 502);
    assert!(!r.has("x-robots-tag"), "{r:?}");
    assert_eq!(r.header("x-route"), Some("dead"));
    assert_eq!(
        r.header("nel"),
        Some("{\"report_to\":\"default\",\"max_age\":60}")
    );
}

#[test]
fn an_upstreams_copy_of_a_custom_header_is_overwritten_not_duplicated() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    drop(gw);
    let listen = Port::reserve();
    let config = Config::new(listen.addr(), up.addr)
        .set("headers.remove", Vec::<String>::new())
        .set("headers.custom", table([("X-Powered-By", "helmgate")]));
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    let r = gw.get("/", &[]);
    assert_eq!(r.all("x-powered-by"), ["helmgate"]);
}

/// Five lines, so the headers table starts on line 6.
const BASE: &str = "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18080\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n";

fn refused(headers: &str, wanted: &[&str]) {
    let (ok, out) = check_config(&format!("{BASE}{headers}"));
    assert!(!ok, "accepted:\n{headers}\n{out}");
    for w in wanted {
        assert!(out.contains(w), "missing {w:?} in:\n{out}");
    }
}

#[test]
fn custom_and_removed_headers_that_cant_work_are_refused_with_the_reason() {
    for (name, want) in [
        (
            "Connection",
            "frames the message or belongs to one connection",
        ),
        ("Transfer-Encoding", "frames the message"),
        ("Content-Length", "frames the message"),
        ("Keep-Alive", "belongs to one connection"),
        (
            "Access-Control-Allow-Origin",
            "CORS, which the gateway owns",
        ),
        (
            "Content-Security-Policy",
            "set headers.content_security_policy instead",
        ),
        ("X-Frame-Options", "set headers.x_frame_options instead"),
        (
            "Permissions-Policy",
            "set headers.permissions_policy instead",
        ),
        ("Bad Name", "is not a header name"),
        ("Set-Cookie", "would overwrite the application's cookies"),
    ] {
        refused(
            &format!("[headers.custom]\n{name:?} = \"x\"\n"),
            &[&format!("headers.custom.{name}"), want],
        );
    }
    refused(
        "[headers.custom]\n\"X-Ok\" = \"bad\\u0001value\"\n",
        &["headers.custom.X-Ok", "not a valid header value"],
    );
    refused(
        "[headers]\nremove = [\"Content-Length\", \"Access-Control-Allow-Origin\", \"no good\"]\n",
        &[
            "line 7, column 11: headers.remove[0]",
            "headers.remove[1]",
            "headers.remove[2]",
        ],
    );
    refused(
        "[headers]\nremove = [\"X-Thing\"]\n[headers.custom]\n\"X-Thing\" = \"1\"\n",
        &["headers.remove[0]", "also a custom header"],
    );
    refused(
        "[headers]\npreset = \"strict\"\n",
        &["headers.preset", "\"seed\" (the default) or \"hardened\""],
    );
    refused(
        "[headers]\nx_frame_options = \"{nonce}\"\n",
        &["only CSP values"],
    );
}

#[test]
fn csp_mistakes_are_errors_with_the_directive_and_its_position() {
    // Line 7 is the value; the column points at the offending token.
    refused(
        "[headers]\ncontent_security_policy = \"default-src 'self'; scritp-src 'self'\"\n",
        &["line 7, column 48: headers.content_security_policy: invalid CSP (directive scritp-src): unknown directive"],
    );
    refused(
        "[headers]\ncontent_security_policy_report_only = \"default-src self\"\n",
        &[
            "line 7, column 52: headers.content_security_policy_report_only",
            "must be quoted: write 'self'",
        ],
    );
    refused(
        "[headers]\ncontent_security_policy = \"script-src 'self'; script-src 'none'\"\n",
        &["directive script-src", "appears twice"],
    );
    refused(
        "[headers]\ncontent_security_policy = \"default-src 'self', img-src *\"\n",
        &["`,` separates policies"],
    );
    refused(
        "[production.headers]\ncontent_security_policy = \"default-src https://exa_mple.com\"\n",
        &[
            "production.headers.content_security_policy",
            "\"https://exa_mple.com\" is not a source",
        ],
    );
    // Risky but valid: a WARN, and --check still passes.
    let (ok, out) = check_config(&format!(
        "{BASE}[headers]\ncontent_security_policy = \"default-src 'self'; script-src 'self' 'unsafe-eval' data:\"\n"
    ));
    assert!(ok, "{out}");
    for w in [
        "script-src allows 'unsafe-eval'",
        "script-src allows data:",
        "no object-src",
    ] {
        assert!(out.contains(w), "missing warning {w:?}:\n{out}");
    }
}

#[test]
fn report_only_is_sent_beside_the_enforcing_policy() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    drop(gw);
    let listen = Port::reserve();
    let config = Config::new(listen.addr(), up.addr).set(
        "headers.content_security_policy_report_only",
        "default-src 'none'; script-src 'self'; report-uri /csp",
    );
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    let r = gw.get("/", &[]);
    assert_production_headers(&r);
    assert_eq!(
        r.header("content-security-policy-report-only"),
        Some("default-src 'none'; script-src 'self'; report-uri /csp")
    );
}

const NONCE_CONFIG: &str = "[headers]\ncontent_security_policy = \"default-src 'self'; script-src 'self' 'nonce-{nonce}'; object-src 'none'\"\ncontent_security_policy_report_only = \"script-src 'nonce-{nonce}' 'strict-dynamic'; object-src 'none'\"\nnonce_html_placeholder = \"__CSP_NONCE__\"\n";

fn nonce_gateway() -> (Upstream, Gateway) {
    let up = Upstream::start();
    let listen = Port::reserve();
    let config = Config::production(listen.addr(), up.addr, &["https://app.example.com"])
        .append(NONCE_CONFIG);
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    (up, gw)
}

fn nonce_of(csp: &str) -> String {
    csp.split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_response_gets_a_fresh_nonce_the_upstream_also_received() {
    let (up, gw) = nonce_gateway();
    let mut conn = Conn::open(gw.addr);
    let mut seen = HashSet::new();
    for i in 0..1000 {
        let r = conn
            .send("GET", "/", &[("X-CSP-Nonce", "chosen-by-client")], b"")
            .unwrap();
        let enforce = nonce_of(r.header("content-security-policy").unwrap());
        let report = nonce_of(r.header("content-security-policy-report-only").unwrap());
        assert_eq!(enforce, report, "response {i}: the two policies disagree");
        assert_eq!(enforce.len(), 24, "{enforce}");
        assert_eq!(
            up.last().header("x-csp-nonce"),
            Some(enforce.as_str()),
            "response {i}"
        );
        assert_eq!(up.last().header_count("x-csp-nonce"), 1);
        assert!(seen.insert(enforce), "a nonce was reused at response {i}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(seen.len(), 1000);
}

#[test]
fn gateway_made_answers_carry_a_nonce_too() {
    let (up, gw) = nonce_gateway();
    let r = gw.get("/", &[("Origin", "https://evil.example")]);
    assert_eq!(r.status, 403);
    assert_eq!(
        nonce_of(r.header("content-security-policy").unwrap()).len(),
        24
    );
    let r = raw(gw.addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let n = nonce_of(r.header("content-security-policy").unwrap());
    assert_eq!(
        n,
        nonce_of(r.header("content-security-policy-report-only").unwrap())
    );
    assert_eq!(n.len(), 24);
    assert_eq!(up.count(), 0);
}

#[test]
fn the_html_placeholder_is_replaced_even_split_across_chunks() {
    let (_up, gw) = nonce_gateway();
    for path in ["/nonce-html", "/nonce-html-cl"] {
        let r = gw.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        let nonce = nonce_of(r.header("content-security-policy").unwrap());
        assert_eq!(r.header("x-echo-nonce"), Some(nonce.as_str()), "{path}");
        let body = r.body_text();
        assert_eq!(
            body,
            format!("<!doctype html><script nonce=\"{nonce}\">1</script><p data-n=\"{nonce}\">{nonce}</p>"),
            "{path}"
        );
        assert!(
            !r.has("content-length") || r.header("content-length") == Some(&body.len().to_string()),
            "{path}: {r:?}"
        );
    }
    // An encoded body passes unchanged, with one WARN for the route.
    for _ in 0..3 {
        let r = gw.get("/nonce-html-gzip", &[]);
        assert!(r.body_text().contains(NONCE_PLACEHOLDER), "{r:?}");
    }
    let warned = || {
        gw.log()
            .matches("is content-encoded, so its nonce placeholder")
            .count()
    };
    // The three responses are in; so is any line they caused.
    assert!(eventually(Duration::from_secs(5), || warned() >= 1));
    assert_eq!(
        gw.log()
            .matches("is content-encoded, so its nonce placeholder")
            .count(),
        1,
        "{}",
        gw.log()
    );
}

#[test]
fn a_response_with_a_nonce_is_kept_out_of_caches() {
    let (_up, gw) = nonce_gateway();
    for _ in 0..3 {
        let r = gw.get("/cacheable", &[]);
        assert_eq!(r.all("cache-control"), ["no-store"]);
    }
    // `private` still lets the browser's cache replay the nonce, and the
    // CDN-only headers would outrank no-store at a CDN.
    let r = gw.get("/cdn-cached", &[]);
    assert_eq!(r.all("cache-control"), ["no-store"], "{r:?}");
    assert!(!r.has("cdn-cache-control"), "{r:?}");
    assert!(!r.has("surrogate-control"), "{r:?}");
    let r = gw.get("/private", &[]);
    assert_eq!(r.all("cache-control"), ["no-store"], "{r:?}");
    // The upstream's own no-store stands as it said it.
    let r = gw.get("/no-store", &[]);
    assert_eq!(r.all("cache-control"), ["no-store, private"], "{r:?}");
    assert!(eventually(Duration::from_secs(5), || gw
        .log()
        .contains("marked a response cacheable")));
    assert_eq!(
        gw.log().matches("marked a response cacheable").count(),
        1,
        "{}",
        gw.log()
    );
}

#[test]
fn a_response_without_a_nonce_keeps_its_caching_headers() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let config = Config::production(listen.addr(), up.addr, &["https://app.example.com"]);
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    let r = gw.get("/cdn-cached", &[]);
    assert_eq!(r.header("cache-control"), Some("private, max-age=3600"));
    assert_eq!(r.header("cdn-cache-control"), Some("max-age=600"));
    assert_eq!(r.header("surrogate-control"), Some("max-age=600"));
}

#[test]
fn the_html_placeholder_is_warned_about_in_check_and_at_start() {
    let (ok, out) = check_config(&format!("{BASE}{NONCE_CONFIG}"));
    assert!(ok, "{out}");
    let warning = "warning: headers.nonce_html_placeholder is set: the gateway writes the nonce over every copy of the placeholder";
    assert!(out.contains(warning), "{out}");
    assert!(out.contains("prefer nonce_request_header"), "{out}");
    // In any table, for any environment, not only the running one.
    let (ok, out) = check_config(&format!(
        "{BASE}[headers]\ncontent_security_policy = \"script-src 'nonce-{{nonce}}'\"\n[[route]]\nname = \"embed\"\npath_prefix = \"/embed\"\n[route.development.headers]\nnonce_html_placeholder = \"__N__\"\n"
    ));
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: route[embed].development.headers.nonce_html_placeholder is set"),
        "{out}"
    );
    let (ok, out) = check_config(&format!(
        "{BASE}[headers]\ncontent_security_policy = \"script-src 'nonce-{{nonce}}'\"\n"
    ));
    assert!(ok, "{out}");
    assert!(!out.contains("nonce_html_placeholder"), "{out}");
    let (_up, gw) = nonce_gateway();
    assert!(
        eventually(Duration::from_secs(5), || gw.log().lines().any(|l| l
            .contains("WARN")
            && l.contains("headers.nonce_html_placeholder is set"))),
        "{}",
        gw.log()
    );
}

#[test]
fn check_prints_every_header_of_every_route_with_the_nonce_placeholder() {
    let (ok, out) = check_config(&format!(
        "{BASE}{NONCE_CONFIG}[headers.custom]\n\"X-Robots-Tag\" = \"noindex\"\n[[route]]\nname = \"embed\"\npath_prefix = \"/embed\"\n[route.headers]\npreset = \"hardened\"\nframe_ancestors_is_not_a_key = 1\n"
    ));
    assert!(!ok);
    assert!(out.contains("frame_ancestors_is_not_a_key"), "{out}");
    let (ok, out) = check_config(&format!(
        "{BASE}{NONCE_CONFIG}[headers.custom]\n\"X-Robots-Tag\" = \"noindex\"\n[[route]]\nname = \"embed\"\npath_prefix = \"/embed\"\n[route.headers]\npreset = \"hardened\"\n"
    ));
    assert!(ok, "{out}");
    for want in [
        "content-security-policy: default-src 'self'; script-src 'self' 'nonce-{nonce}'; object-src 'none'",
        "content-security-policy-report-only: script-src 'nonce-{nonce}' 'strict-dynamic'; object-src 'none'",
        "x-robots-tag: noindex   (custom)",
        "removed from upstream responses: x-powered-by",
        "{nonce}: a fresh 128-bit nonce per response, sent upstream as x-csp-nonce, written into text/html bodies in place of __CSP_NONCE__",
        "security headers (preset hardened):",
        "x-xss-protection: 0",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

const CSP_TABLES_ROUTES: &str = "[[route]]\nname = \"embed\"\npath_prefix = \"/embed\"\n[route.headers.csp]\nframe-ancestors = \"https://partner.example.com\"\n[route.production.headers.csp]\nimg-src = \"\"\n[[route]]\nname = \"legacy\"\npath_prefix = \"/legacy\"\n[route.headers]\ncontent_security_policy = \"default-src 'self'; object-src 'none'\"\n";

/// `[headers.csp]` tables change single directives of the hardened preset,
/// layer by layer (top level, environment, route, route environment); a
/// string key still replaces the whole policy.
#[test]
fn csp_directive_tables_layer_over_the_preset_directive_by_directive() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let config = Config::production(listen.addr(), up.addr, &["https://app.example.com"])
        .set("headers.preset", "hardened")
        .set(
            "headers.csp",
            table([
                ("script-src", "'self' 'nonce-{nonce}'"),
                ("img-src", "'self' https://cdn.example.com"),
                ("frame-ancestors", ""),
            ]),
        )
        .set(
            "production.headers.csp",
            table([("connect-src", "'self' https://api.example.com")]),
        )
        .append(CSP_TABLES_ROUTES);
    let gw = Gateway::with_config(listen, &config, vec![], vec![]);
    let csp = |path: &str| {
        let r = gw.get(path, &[]);
        let value = r
            .header("content-security-policy")
            .unwrap_or_default()
            .to_string();
        match nonce_of(&value) {
            n if n.is_empty() => value,
            n => value.replace(&n, "N"),
        }
    };
    let top = "default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self' 'unsafe-inline'; img-src 'self' https://cdn.example.com; connect-src 'self' https://api.example.com; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; script-src-attr 'none'; upgrade-insecure-requests";
    assert_eq!(csp("/"), top);
    assert_eq!(
        csp("/embed/x"),
        "default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self' 'unsafe-inline'; connect-src 'self' https://api.example.com; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; script-src-attr 'none'; upgrade-insecure-requests; frame-ancestors https://partner.example.com"
    );
    assert_eq!(csp("/legacy"), "default-src 'self'; object-src 'none'");
    assert!(!gw.get("/", &[]).has("content-security-policy-report-only"));
}

/// What `--check` prints for directive tables: the effective policy of each
/// route, and a WARN for a table whose header ends up not sent.
#[test]
fn check_prints_the_effective_policy_of_every_route() {
    golden_check(
        "csp_directive_tables.txt",
        &[(
            "helmgate.toml",
            &format!(
                "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18080\"]\nthreads = 2\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n[headers]\npreset = \"hardened\"\n[headers.csp]\nscript-src = \"'self' 'nonce-{{nonce}}'\"\nframe-ancestors = \"\"\n[headers.csp_report_only]\ndefault-src = \"'none'\"\n{CSP_TABLES_ROUTES}[route.headers.csp_report_only]\nupgrade-insecure-requests = \"on\"\n[route.production.headers]\ncontent_security_policy_report_only = \"\"\n"
            ),
        )],
    );
}

#[test]
fn csp_directive_tables_are_checked_like_csp_values() {
    refused(
        "[headers]\ncontent_security_policy = \"default-src 'self'\"\n[headers.csp]\nscript-src = \"'self'\"\n",
        &["headers.csp: set either headers.content_security_policy (the whole policy) or [headers.csp]"],
    );
    refused(
        "[headers.csp]\nscritp-src = \"'self'\"\nimg-src = \"self 'slef'\"\n[[route]]\nname = \"a\"\n[route.headers.csp_report_only]\nupgrade-insecure-requests = \"yes\"\n",
        &[
            "line 7, column 14: headers.csp.scritp-src: \"scritp-src\" is not a CSP directive; did you mean \"script-src\"?",
            "line 8, column 12: headers.csp.img-src: invalid CSP: keyword \"self\" must be quoted",
            "line 8, column 17: headers.csp.img-src: invalid CSP: \"'slef'\" is not a CSP keyword",
            "route[a].headers.csp_report_only.upgrade-insecure-requests: invalid CSP: upgrade-insecure-requests takes no value, found \"yes\" (in a directive table, write upgrade-insecure-requests = \"on\")",
        ],
    );
}
