//! End-to-end tests in a real headless Chromium (issue 6). CORS and CSP are
//! enforced by browsers, so these check what a page's JavaScript can really
//! do through helmgate, and what reached the upstream.
//!
//! Every server is on loopback: the recording upstream, helmgate in front of
//! it, and two page servers (the same recording server, serving `/e2e/page`)
//! on other ports, so `http://127.0.0.1:<port>` gives each its own origin
//! while staying same-site with the gateway (cookies are not port-scoped, and
//! a `SameSite=Lax` cookie goes with a credentialed same-site fetch).
//!
//! Each behaviour comes with a control that differs in one thing (no
//! gateway, a permissive endpoint, the header turned off) and succeeds, so a
//! failure seen here is the browser enforcing the gateway's answer, not a
//! broken test page.

use std::time::Duration;

use crate::browser_support::{console_log, eval, goto, page_fetch, run_async, Browser, Fetched};
use crate::support::*;
use serde_json::{json, Value};

fn http(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}")
}

/// The same server named `localhost`: a different origin (and site) from
/// `127.0.0.1` for the browser.
fn localhost(addr: std::net::SocketAddr) -> String {
    format!("http://localhost:{}", addr.port())
}

fn credentialed_get() -> Value {
    json!({ "credentials": "include" })
}

/// A PATCH with JSON and `x-user-id`: not a simple request, so the browser
/// must preflight it.
fn preflighted_patch() -> Value {
    json!({
        "method": "PATCH",
        "credentials": "include",
        "headers": { "Content-Type": "application/json", "x-user-id": "user-42" },
        "body": "{\"name\":\"e2e\"}",
    })
}

/// A request with a header that is not on the gateway's allowed list.
fn unlisted_header() -> Value {
    json!({ "credentials": "include", "headers": { "x-not-allowed": "1" } })
}

#[track_caller]
fn assert_succeeded(f: &Fetched, body: &str, what: &str) {
    assert!(
        f.resolved && f.status == 200 && f.body == body,
        "{what}: page JavaScript should read 200 {body:?}, got {f:?}"
    );
}

/// A CORS failure: the promise rejects with a TypeError and the page learns
/// nothing, not even the status.
#[track_caller]
fn assert_blocked(f: &Fetched, what: &str) {
    assert!(
        !f.resolved && f.error.starts_with("TypeError"),
        "{what}: the browser should refuse it, page JavaScript got {f:?}"
    );
}

/// Put [`E2E_COOKIE`] in the browser's jar for `gateway_base`'s host, the
/// way a site does: a response through the gateway sets it.
async fn login(c: &fantoccini::Client, gateway_base: &str) {
    goto(c, &format!("{gateway_base}/e2e/set-cookie")).await;
}

fn access_logged(gw: &Gateway, needle: &str) -> bool {
    eventually(Duration::from_secs(5), || gw.log().contains(needle))
}

/// Production helmgate whose one allowed origin is the `allowed` page server.
struct Production {
    up: Upstream,
    allowed: Upstream,
    other: Upstream,
    gw: Gateway,
}

impl Production {
    fn start() -> Production {
        let up = Upstream::start();
        let allowed = Upstream::start();
        let other = Upstream::start();
        let gw = Gateway::start(
            up.addr,
            GatewayOptions {
                origins: vec![http(allowed.addr)],
                ..GatewayOptions::default()
            },
        );
        Production {
            up,
            allowed,
            other,
            gw,
        }
    }
}

// --- CORS -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_1_allowed_origin_credentialed_get_and_preflighted_patch_succeed() {
    let s = Production::start();
    Browser::with(|c| async move {
        let gw = http(s.gw.addr);
        login(&c, &gw).await;
        s.up.clear();
        goto(&c, &format!("{}/e2e/page", http(s.allowed.addr))).await;
        // HttpOnly: the page can't see the cookie; only the jar sends it.
        assert_eq!(eval(&c, "return document.cookie").await, json!(""));

        let get = page_fetch(&c, &format!("{gw}/api/items"), credentialed_get()).await;
        assert_succeeded(&get, "hello", "credentialed GET");
        let patch = page_fetch(&c, &format!("{gw}/api/items/7"), preflighted_patch()).await;
        assert_succeeded(&patch, "hello", "credentialed, preflighted PATCH");

        let seen = s.up.recorded();
        let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["GET", "PATCH"], "no OPTIONS reaches the upstream");
        for r in &seen {
            assert_eq!(r.header("cookie"), Some(E2E_COOKIE), "{r:?}");
            assert_eq!(
                r.header("origin"),
                Some(http(s.allowed.addr).as_str()),
                "{r:?}"
            );
        }
        let patch = &seen[1];
        assert_eq!(patch.path, "/api/items/7");
        assert_eq!(patch.header("content-type"), Some("application/json"));
        assert_eq!(patch.header("x-user-id"), Some("user-42"));
        assert_eq!(patch.body, b"{\"name\":\"e2e\"}");
        // The browser did preflight; the gateway answered it itself.
        assert!(
            access_logged(&s.gw, "method=OPTIONS path=\"/api/items/7\" status=204"),
            "no preflight in the access log: {}",
            s.gw.log()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_2_allowed_origin_with_an_unlisted_header_is_refused() {
    let s = Production::start();
    Browser::with(|c| async move {
        let gw = http(s.gw.addr);
        goto(&c, &format!("{}/e2e/page", http(s.allowed.addr))).await;

        let f = page_fetch(&c, &format!("{gw}/api/unlisted"), unlisted_header()).await;
        assert_blocked(&f, "a header not on the allowed list");
        assert_eq!(s.up.count(), 0, "{:?}", s.up.recorded());
        assert!(
            access_logged(&s.gw, "method=OPTIONS path=\"/api/unlisted\" status=204"),
            "the browser should have asked first: {}",
            s.gw.log()
        );

        // Control: the same request to an endpoint whose preflight allows any
        // header succeeds, and the header arrives.
        let open = format!("{}/e2e/open-cors", http(s.other.addr));
        let f = page_fetch(&c, &open, unlisted_header()).await;
        assert_succeeded(&f, "open", "control: permissive endpoint");
        assert!(s
            .other
            .recorded()
            .iter()
            .any(|r| r.method == "GET" && r.header("x-not-allowed") == Some("1")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_3_disallowed_origin_can_do_nothing_and_reaches_nothing() {
    let s = Production::start();
    Browser::with(|c| async move {
        let gw = http(s.gw.addr);
        login(&c, &gw).await;
        s.up.clear();
        let page = http(s.other.addr);
        goto(&c, &format!("{page}/e2e/page")).await;

        let cases = [
            ("credentialed GET", "/api/items", credentialed_get()),
            ("preflighted PATCH", "/api/items/7", preflighted_patch()),
            ("unlisted header", "/api/unlisted", unlisted_header()),
        ];
        for (what, path, init) in &cases {
            let f = page_fetch(&c, &format!("{gw}{path}"), init.clone()).await;
            assert_blocked(&f, what);
        }
        assert_eq!(
            s.up.count(),
            0,
            "nothing from {page} may reach the upstream: {:?}",
            s.up.recorded()
        );
        assert!(access_logged(&s.gw, "CORS blocked origin"));
        let log = s.gw.log_with(&[&page]);
        assert!(log.contains(&page), "{log}");

        // Control: the very same requests from this page to a permissive
        // endpoint all succeed.
        let open = format!("{}/e2e/open-cors", http(s.allowed.addr));
        for (what, _, init) in cases {
            let f = page_fetch(&c, &open, init).await;
            assert_succeeded(&f, "open", &format!("control: {what}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_4_upstream_wildcard_cors_does_not_break_credentialed_requests() {
    let s = Production::start();
    Browser::with(|c| async move {
        let gw = http(s.gw.addr);
        login(&c, &gw).await;
        s.up.clear();
        goto(&c, &format!("{}/e2e/page", http(s.allowed.addr))).await;

        let f = page_fetch(&c, &format!("{gw}/cors-star"), credentialed_get()).await;
        assert_succeeded(
            &f,
            "hello",
            "credentialed GET of /cors-star via the gateway",
        );
        assert_eq!(s.up.count(), 1);
        assert_eq!(s.up.last().header("cookie"), Some(E2E_COOKIE));

        // Control: the upstream's own `Access-Control-Allow-Origin: *` with
        // credentials is refused by the browser.
        let direct = format!("{}/cors-star", http(s.up.addr));
        let f = page_fetch(&c, &direct, credentialed_get()).await;
        assert_blocked(&f, "control: the upstream's own wildcard, with credentials");
        assert_eq!(s.up.count(), 2, "the direct request did reach the upstream");
    })
    .await;
}

// --- Security headers -------------------------------------------------------

/// What a probe page's scripts did; waits (bounded) until at least
/// `violations` CSP violation events were recorded.
const CSP_STATE_JS: &str = r#"
const [want, done] = arguments;
const deadline = Date.now() + 5000;
(function poll() {
  const v = window.violations || [];
  if (v.length >= want || Date.now() > deadline) {
    done({ inline: window.inlineRan === true, external: window.externalRan === true, violations: v });
  } else {
    setTimeout(poll, 20);
  }
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_5_production_csp_blocks_inline_script_and_runs_same_origin_script() {
    let s = Production::start();
    Browser::with(|c| async move {
        let gw = http(s.gw.addr);

        // The upstream's /html page through the gateway.
        goto(&c, &format!("{gw}/html")).await;
        let ran = eval(
            &c,
            "return [window.inlineRan === true, window.externalRan === true]",
        )
        .await;
        assert_eq!(ran, json!([false, true]), "[inline, external] on /html");

        // A page whose first, external, script listens for violations.
        goto(&c, &format!("{gw}/e2e/csp-probe")).await;
        let state = run_async(&c, CSP_STATE_JS, vec![json!(1)]).await;
        assert_eq!(state["inline"], json!(false), "{state}");
        assert_eq!(state["external"], json!(true), "{state}");
        assert_eq!(
            state["violations"],
            json!([{ "directive": "script-src-elem", "blocked": "inline" }]),
            "{state}"
        );

        // Control: the same pages straight from the upstream run both scripts.
        let up = http(s.up.addr);
        goto(&c, &format!("{up}/html")).await;
        let ran = eval(
            &c,
            "return [window.inlineRan === true, window.externalRan === true]",
        )
        .await;
        assert_eq!(
            ran,
            json!([true, true]),
            "control: /html without the gateway"
        );
        goto(&c, &format!("{up}/e2e/csp-probe")).await;
        let state = run_async(&c, CSP_STATE_JS, vec![json!(0)]).await;
        assert_eq!(
            state,
            json!({ "inline": true, "external": true, "violations": [] }),
            "control: the probe without the gateway"
        );
    })
    .await;
}

/// Frames `urls` from the current page; finishes when every frame fired its
/// load event (an XFO-blocked frame loads an error page) and `want` messages
/// came (each framed page that renders posts one).
const FRAMES_JS: &str = r#"
const [urls, want, done] = arguments;
const messages = [];
window.addEventListener('message', (e) => messages.push(String(e.data)));
const loaded = urls.map(() => false);
const deadline = Date.now() + 10000;
urls.forEach((url, i) => {
  const f = document.createElement('iframe');
  f.src = url;
  f.addEventListener('load', () => { loaded[i] = true; });
  document.body.appendChild(f);
});
(function poll() {
  if ((loaded.every(Boolean) && messages.length >= want) || Date.now() > deadline) {
    done({ loaded, messages });
  } else {
    setTimeout(poll, 20);
  }
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_6_gateway_pages_cannot_be_framed_by_another_origin() {
    let s = Production::start();
    // Control: the same gateway and upstream with only X-Frame-Options off.
    let open = Gateway::start(
        s.up.addr,
        GatewayOptions {
            origins: vec![http(s.allowed.addr)],
            settings: Settings::new().set("headers.x_frame_options", ""),
            ..GatewayOptions::default()
        },
    );
    Browser::with(|c| async move {
        let protected = http(s.gw.addr);
        let unprotected = http(open.addr);
        goto(&c, &format!("{}/e2e/page", http(s.allowed.addr))).await;
        let urls = json!([
            format!("{protected}/e2e/framed"),
            format!("{unprotected}/e2e/framed"),
        ]);
        let state = run_async(&c, FRAMES_JS, vec![urls, json!(1)]).await;
        assert_eq!(state["loaded"], json!([true, true]), "{state}");
        assert_eq!(
            state["messages"],
            json!([format!("rendered:{unprotected}")]),
            "only the frame without X-Frame-Options may render: {state}"
        );

        // The upstream's record agrees: the browser fetched both documents,
        // but only the unprotected one went on to load its script.
        let via = |gw: &Gateway, path: &str| {
            let host = gw.addr.to_string();
            s.up.recorded()
                .iter()
                .any(|r| r.path == path && r.header("host") == Some(host.as_str()))
        };
        assert!(via(&s.gw, "/e2e/framed"));
        assert!(via(&open, "/e2e/framed"));
        assert!(via(&open, "/static/e2e-framed.js"));
        assert!(
            !via(&s.gw, "/static/e2e-framed.js"),
            "the DENY'd frame must not run: {:?}",
            s.up.recorded()
        );
    })
    .await;
}

// --- Development profile ------------------------------------------------------

/// Opens a WebSocket from the current page; finishes once it failed, opened
/// or threw, and (when `want_violation`) a CSP violation event came.
const WEBSOCKET_JS: &str = r#"
const [url, wantViolation, done] = arguments;
const violations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }));
let outcome = null;
try {
  const ws = new WebSocket(url);
  ws.onopen = () => { outcome = outcome || 'open'; };
  ws.onerror = () => { outcome = outcome || 'error'; };
  ws.onclose = () => { outcome = outcome || 'close'; };
} catch (e) {
  outcome = 'threw ' + e.name;
}
const deadline = Date.now() + 5000;
(function poll() {
  if ((outcome && (!wantViolation || violations.length > 0)) || Date.now() > deadline) {
    done({ outcome, violations });
  } else {
    setTimeout(poll, 20);
  }
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_7_development_allows_localhost_pages_and_websocket_connects() {
    let up = Upstream::start();
    let pages = Upstream::start();
    let ws_server = Upstream::start();
    let dev = Gateway::start(
        up.addr,
        GatewayOptions {
            environment: "development",
            ..GatewayOptions::default()
        },
    );
    // Control: production, allowing only its default origin.
    let prod = Gateway::start(up.addr, GatewayOptions::default());
    Browser::with(|c| async move {
        // Page and gateway both on `localhost`: same site, so the cookie goes.
        let gw = localhost(dev.addr);
        login(&c, &gw).await;
        up.clear();
        goto(&c, &format!("{}/e2e/page", localhost(pages.addr))).await;

        let get = page_fetch(&c, &format!("{gw}/api/items"), credentialed_get()).await;
        assert_succeeded(&get, "hello", "development: credentialed GET");
        let patch = page_fetch(&c, &format!("{gw}/api/items/7"), preflighted_patch()).await;
        assert_succeeded(&patch, "hello", "development: preflighted PATCH");
        let seen = up.recorded();
        let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["GET", "PATCH"], "no OPTIONS reaches the upstream");
        for r in &seen {
            assert_eq!(r.header("cookie"), Some(E2E_COOKIE), "{r:?}");
        }
        assert_eq!(seen[1].header("x-user-id"), Some("user-42"));
        assert!(access_logged(
            &dev,
            "method=OPTIONS path=\"/api/items/7\" status=204"
        ));

        // Control: the production profile refuses the same localhost page.
        up.clear();
        let f = page_fetch(
            &c,
            &format!("{}/api/items/7", localhost(prod.addr)),
            preflighted_patch(),
        )
        .await;
        assert_blocked(&f, "control: production refuses a localhost page");
        assert_eq!(up.count(), 0);

        // connect-src: a gateway-served page may open a WebSocket in
        // development; the handshake reaches the server (and fails there).
        let ws_base = format!("ws://{}", ws_server.addr);
        goto(&c, &format!("{gw}/html")).await;
        let state = run_async(
            &c,
            WEBSOCKET_JS,
            vec![json!(format!("{ws_base}/e2e/ws-dev")), json!(false)],
        )
        .await;
        assert_eq!(state["violations"], json!([]), "development: {state}");
        assert_eq!(state["outcome"], json!("error"), "development: {state}");
        let handshake = ws_server
            .recorded()
            .into_iter()
            .find(|r| r.path == "/e2e/ws-dev")
            .expect("the WebSocket handshake reached its server");
        assert_eq!(handshake.header("upgrade"), Some("websocket"));

        // Control: the production CSP blocks the same connect.
        goto(&c, &format!("{}/html", localhost(prod.addr))).await;
        let state = run_async(
            &c,
            WEBSOCKET_JS,
            vec![json!(format!("{ws_base}/e2e/ws-prod")), json!(true)],
        )
        .await;
        assert_eq!(
            state["violations"],
            json!([{ "directive": "connect-src", "blocked": format!("{ws_base}/e2e/ws-prod") }]),
            "production: {state}"
        );
        assert_eq!(state["outcome"], json!("error"), "production: {state}");
        assert!(
            !ws_server
                .recorded()
                .iter()
                .any(|r| r.path == "/e2e/ws-prod"),
            "production: the connect must not leave the browser"
        );
    })
    .await;
}

// --- Nonces and Report-Only (issue 10) ----------------------------------------

const NONCE_STATE_JS: &str = r#"
const [want, done] = arguments;
const deadline = Date.now() + 5000;
(function poll() {
  // Script violations only (the page's data: favicon may add an img-src one).
  const v = (window.violations || []).filter((x) => x.directive.startsWith('script'));
  if (v.length >= want || Date.now() > deadline) {
    done({ nonce: window.nonceRan === true, plain: window.plainRan === true, wrong: window.wrongRan === true, violations: v });
  } else {
    setTimeout(poll, 20);
  }
})();
"#;

/// A production gateway writing nonces into HTML, with the `[headers]` keys
/// given (`content_security_policy`, `..._report_only`).
fn csp_gateway(up: &Upstream, headers: &[(&str, &str)]) -> Gateway {
    let listen = Port::reserve();
    let mut config = Config::new(listen.addr(), up.addr)
        .environment("production")
        .set("headers.nonce_html_placeholder", "__CSP_NONCE__");
    for (key, value) in headers {
        config = config.set(&format!("headers.{key}"), value);
    }
    Gateway::with_config(listen, &config, vec![], vec![])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_8_only_the_script_with_the_responses_nonce_runs() {
    let up = Upstream::start();
    let gw = csp_gateway(
        &up,
        &[(
            "content_security_policy",
            "default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'",
        )],
    );
    Browser::with(|c| async move {
        goto(&c, &format!("{}/e2e/nonce-probe", http(gw.addr))).await;
        let state = run_async(&c, NONCE_STATE_JS, vec![json!(2)]).await;
        assert_eq!(state["nonce"], json!(true), "{state}");
        assert_eq!(state["plain"], json!(false), "{state}");
        assert_eq!(state["wrong"], json!(false), "{state}");
        assert_eq!(
            state["violations"],
            json!([
                { "directive": "script-src-elem", "disposition": "enforce" },
                { "directive": "script-src-elem", "disposition": "enforce" }
            ]),
            "{state}"
        );
        // Control: straight from the upstream the placeholder is no nonce
        // and nothing restricts scripts, so all three run.
        goto(&c, &format!("{}/e2e/nonce-probe", http(up.addr))).await;
        let state = run_async(&c, NONCE_STATE_JS, vec![json!(0)]).await;
        assert_eq!(
            state,
            json!({ "nonce": true, "plain": true, "wrong": true, "violations": [] }),
            "control"
        );
    })
    .await;
}

// --- Visibility (issue 11) ----------------------------------------------------

/// The value of one series in a `/metrics` text.
fn series_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn metrics_text(admin: std::net::SocketAddr) -> String {
    request(admin, "GET", "/metrics", &[], b"").body_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_10_a_csp_violation_makes_chromium_deliver_a_report_the_gateway_counts() {
    let up = Upstream::start();
    let admin_port = Port::reserve();
    let admin = admin_port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            // Enforced: the inline script is blocked and reported. Report-Only
            // on scripts from anywhere: the external ones run, and are reported.
            // The gateway adds report-uri to both policies itself.
            settings: Settings::new()
                .set("reports.enabled", true)
                .set("admin", Admin::on(admin))
                .set(
                    "headers.content_security_policy_report_only",
                    "script-src 'none'",
                ),
            ..GatewayOptions::default()
        },
    );
    gw.hold(admin_port);
    Browser::with(|c| async move {
        let base = http(gw.addr);
        goto(&c, &format!("{base}/e2e/csp-probe")).await;
        let state = run_async(&c, CSP_STATE_JS, vec![json!(1)]).await;
        assert_eq!(state["inline"], json!(false), "{state}");
        assert_eq!(state["external"], json!(true), "report-only blocks nothing: {state}");
        // What developer tools show: the control for case 9's clean console.
        let console = console_log(&c).await;
        assert!(
            console.iter().any(|e| e["level"] == "SEVERE"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))),
            "{console:#?}"
        );

        // Chromium POSTs report-uri reports as application/csp-report.
        let enforced = "helmgate_reports_total{route=\"default\",type=\"csp-violation\",directive=\"script-src-elem\",disposition=\"enforce\"}";
        let reported = "helmgate_reports_total{route=\"default\",type=\"csp-violation\",directive=\"script-src-elem\",disposition=\"report\"}";
        let delivered = eventually(Duration::from_secs(10), || {
            let m = metrics_text(admin);
            series_value(&m, enforced).is_some_and(|v| v >= 1.0)
                && series_value(&m, reported).is_some_and(|v| v >= 3.0)
        });
        assert!(delivered, "no reports counted:\n{}\n{}", metrics_text(admin), gw.log());
        let line = format!(
            "CSP violation directive=script-src-elem blocked=inline document={base}/e2e/csp-probe disposition=enforce route=default"
        );
        let report = format!("blocked={base} document={base}/e2e/csp-probe disposition=report");
        let log = gw.log_with(&[&line, &report]);
        assert!(log.contains(&line), "missing {line:?}:\n{log}");
        assert!(log.contains(&report), "{log}");
        // The upstream served the page and its scripts, and saw no report.
        let paths: Vec<String> = up.recorded().into_iter().map(|r| r.path).collect();
        assert!(paths.contains(&"/e2e/csp-probe".to_string()), "{paths:?}");
        assert!(
            paths.iter().all(|p| !p.contains("helmgate")),
            "a report reached the upstream: {paths:?}"
        );
        assert!(eventually(Duration::from_secs(3), || gw
            .log()
            .contains("method=POST path=\"/.helmgate/reports\" status=204")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_9_a_report_only_violation_is_reported_but_not_blocked() {
    let up = Upstream::start();
    let gw = csp_gateway(
        &up,
        &[
            (
                "content_security_policy",
                "default-src 'self'; script-src 'self' 'unsafe-inline'; object-src 'none'",
            ),
            (
                "content_security_policy_report_only",
                "script-src 'nonce-{nonce}'; object-src 'none'",
            ),
        ],
    );
    Browser::with(|c| async move {
        goto(&c, &format!("{}/e2e/nonce-probe", http(gw.addr))).await;
        let state = run_async(&c, NONCE_STATE_JS, vec![json!(2)]).await;
        // Every script ran: the stricter policy only reports.
        assert_eq!(state["nonce"], json!(true), "{state}");
        assert_eq!(state["plain"], json!(true), "{state}");
        assert_eq!(state["wrong"], json!(true), "{state}");
        assert_eq!(
            state["violations"],
            json!([
                { "directive": "script-src-elem", "disposition": "report" },
                { "directive": "script-src-elem", "disposition": "report" }
            ]),
            "{state}"
        );
    })
    .await;
    // Control: the same policy enforced blocks the two without the nonce.
    let up = Upstream::start();
    let gw = csp_gateway(
        &up,
        &[(
            "content_security_policy",
            "script-src 'nonce-{nonce}'; object-src 'none'",
        )],
    );
    Browser::with(|c| async move {
        goto(&c, &format!("{}/e2e/nonce-probe", http(gw.addr))).await;
        let state = run_async(&c, NONCE_STATE_JS, vec![json!(2)]).await;
        assert_eq!(state["plain"], json!(false), "control: {state}");
        assert_eq!(state["wrong"], json!(false), "control: {state}");
    })
    .await;
}

/// `[data-metric]` cells of the dashboard as the page shows them.
const DASHBOARD_CELLS_JS: &str = "return Array.from(document.querySelectorAll('[data-metric]')).map(function (e) { return [e.getAttribute('data-metric'), e.textContent]; });";

/// Every number the page shows next to the same series in `/metrics`;
/// returns the mismatches.
fn mismatches(cells: &Value, metrics: &str) -> Vec<String> {
    let cells = cells.as_array().expect("cells");
    assert!(
        cells.len() > 10,
        "the dashboard shows its numbers: {cells:?}"
    );
    cells
        .iter()
        .filter_map(|cell| {
            let series = cell[0].as_str()?;
            let shown: f64 = cell[1].as_str()?.parse().ok()?;
            let scraped = series_value(metrics, series).unwrap_or(0.0);
            (shown != scraped).then(|| format!("{series}: page {shown}, /metrics {scraped}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_11_dashboard_loads_without_console_errors_and_matches_metrics() {
    let up = Upstream::start();
    let (listen, admin_port) = (Port::reserve(), Port::reserve());
    let (addr, admin) = (listen.addr(), admin_port.addr());
    let api = table([
        ("name", toml::Value::from("api")),
        ("path_prefix", "/api".into()),
        (
            "cors",
            table([
                ("mode", toml::Value::from("report")),
                (
                    "allowed_origins",
                    vec!["https://app.example.com", "https://admin.example.com"].into(),
                ),
            ])
            .into(),
        ),
    ]);
    let config = Config::production(addr, up.addr, &["https://app.example.com"])
        .set("reports.enabled", true)
        .admin(Admin::on(admin))
        .set("route", [api]);
    let mut gw = Gateway::with_config(listen, &config, vec![], vec![]);
    gw.hold(admin_port);
    let traffic = move |round: usize| {
        for i in 0..(3 + round) {
            request(
                addr,
                "GET",
                "/",
                &[("Origin", "https://app.example.com")],
                b"",
            );
            request(
                addr,
                "GET",
                "/",
                &[("Origin", &format!("https://scanner-{i}.example"))],
                b"",
            );
            request(
                addr,
                "GET",
                "/api/items",
                &[("Origin", "https://partner.example")],
                b"",
            );
            request(
                addr,
                "OPTIONS",
                "/",
                &[
                    ("Origin", "https://app.example.com"),
                    ("Access-Control-Request-Method", "PATCH"),
                ],
                b"",
            );
        }
        request(addr, "GET", "/", &[("Origin", "null")], b"");
        let report = format!(
            r#"[{{"type":"csp-violation","url":"http://{addr}/api/page","body":{{"documentURL":"http://{addr}/api/page","blockedURL":"https://tracker.example/p.js","effectiveDirective":"script-src-elem","disposition":"report"}}}},{{"type":"csp-violation","url":"http://{addr}/checkout","body":{{"documentURL":"http://{addr}/checkout","blockedURL":"inline","effectiveDirective":"style-src-attr","disposition":"enforce"}}}}]"#
        );
        for _ in 0..(1 + round) {
            request(
                addr,
                "POST",
                "/.helmgate/reports",
                &[("Content-Type", "application/reports+json")],
                report.as_bytes(),
            );
        }
    };
    let settled = move || {
        // The logging hook counts a request just after its response.
        let mut last = String::new();
        eventually(Duration::from_secs(5), || {
            let now = metrics_text(admin);
            let same = now == last;
            last = now;
            same
        })
    };
    traffic(0);
    assert!(settled());
    Browser::with(|c| async move {
        let dashboard = format!("http://{admin}/");
        c.set_window_size(1000, 1600).await.expect("window size");
        goto(&c, &dashboard).await;
        assert_eq!(
            eval(
                &c,
                "return document.documentElement.getAttribute('data-refresh')"
            )
            .await,
            json!("3000"),
            "the inline script ran under the page's CSP"
        );
        let cells = eval(&c, DASHBOARD_CELLS_JS).await;
        let wrong = mismatches(&cells, &metrics_text(admin));
        assert!(wrong.is_empty(), "{wrong:#?}");
        let mode = eval(
            &c,
            "return document.querySelector('[data-mode-of=\"api\"]').textContent",
        )
        .await;
        assert_eq!(mode, json!("report"));

        // More traffic: the page refreshes itself, no navigation.
        tokio::task::spawn_blocking(move || {
            traffic(2);
            assert!(settled());
        })
        .await
        .unwrap();
        let metrics = metrics_text(admin);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let cells = eval(&c, DASHBOARD_CELLS_JS).await;
            let wrong = mismatches(&cells, &metrics);
            if wrong.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not refreshed: {wrong:#?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let text = eval(&c, "return document.body.innerText").await;
        let text = text.as_str().unwrap_or_default();
        assert!(text.contains("https://scanner-0.example"), "{text}");
        assert!(text.contains("tracker.example"), "{text}");

        let console = console_log(&c).await;
        let errors: Vec<&Value> = console
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .collect();
        assert!(errors.is_empty(), "console: {errors:#?}");

        // The README's screenshot: HELMGATE_SCREENSHOT=docs/dashboard.png.
        let png = c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Ok(path) = std::env::var("HELMGATE_SCREENSHOT") {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        drop(gw);
    })
    .await;
}

// --- Fetch Metadata, CSRF and cookies (issue 22) --------------------------
//
// Chromium sends `Sec-Fetch-*` only to potentially trustworthy origins
// (HTTPS or loopback), so the two sites are both loopback: the gateway on
// `127.0.0.1` and the other site's pages on `localhost`, a different site.

/// A page element load (`<script>` or `<img>`) from the page: "load" or
/// "error", once the browser is done with it.
async fn element_load(c: &fantoccini::Client, tag: &str, url: &str) -> Value {
    run_async(
        c,
        "const [tag, url, done] = arguments;\
         const el = document.createElement(tag);\
         el.onload = () => done('load'); el.onerror = () => done('error');\
         el.src = url; document.body.appendChild(el);",
        vec![json!(tag), json!(url)],
    )
    .await
}

/// Submit a form `method`/`action` from the page and wait for the page it
/// navigates to: that page's body text.
async fn submit_form(c: &fantoccini::Client, action: &str) -> String {
    eval(
        c,
        &format!(
            "const f = document.createElement('form'); f.method = 'POST'; f.action = {action:?};\
             const i = document.createElement('input'); i.name = 'amount'; i.value = '100';\
             f.appendChild(i); document.body.appendChild(f); f.submit(); return 1;"
        ),
    )
    .await;
    let mut body = String::new();
    let done = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let v = c
                .execute(
                    "return document.readyState === 'complete' && !document.querySelector('form') ? document.body.innerText : null",
                    vec![],
                )
                .await;
            if let Ok(Value::String(s)) = v {
                body = s;
                return;
            }
        }
    };
    let _ = tokio::time::timeout(crate::browser_support::STEP_LIMIT, done).await;
    body
}

fn fetch_metadata_gateway(up: &Upstream, mode: &str, admin: Port) -> Gateway {
    let admin_addr = admin.addr();
    let mut gw = Gateway::start_with_tables(
        up.addr,
        GatewayOptions::default(),
        &format!(
            "[fetch_metadata]\nmode = \"{mode}\"\n[admin]\nlisten = \"{admin_addr}\"\nhosts = [\"gateway.test\"]\n"
        ),
    );
    gw.hold(admin);
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_12_a_cross_site_page_cannot_load_the_api_as_script_or_image_but_can_link() {
    let up = Upstream::start();
    let pages = Upstream::start();
    let admin = Port::reserve();
    let admin_addr = admin.addr();
    let gw = fetch_metadata_gateway(&up, "enforce", admin);
    Browser::with(|c| async move {
        let api = http(gw.addr);
        goto(&c, &format!("{}/e2e/page", localhost(pages.addr))).await;
        let script = element_load(&c, "script", &format!("{api}/api/data.json")).await;
        let img = element_load(&c, "img", &format!("{api}/api/avatar")).await;
        assert_eq!((script, img), (json!("error"), json!("error")));
        let paths: Vec<String> = up.recorded().iter().map(|r| r.path.clone()).collect();
        assert!(paths.is_empty(), "nothing reached the upstream: {paths:?}");
        let metrics = metrics_text(admin_addr);
        assert_eq!(
            series_value(
                &metrics,
                "helmgate_requests_refused_total{route=\"default\",reason=\"fetch_metadata\"}"
            ),
            Some(2.0),
            "{metrics}"
        );
        let log = gw.log_with(&["dest=\"script\""]);
        assert!(log.contains("dest=\"script\""), "{log}");

        // A top-level link from that page navigates fine.
        eval(
            &c,
            &format!(
                "const a = document.createElement('a'); a.href = '{api}/e2e/page'; a.id = 'go';\
                 a.textContent = 'go'; document.body.appendChild(a); return 1;"
            ),
        )
        .await;
        c.find(fantoccini::Locator::Id("go"))
            .await
            .expect("the link")
            .click()
            .await
            .expect("click the link");
        assert!(
            eventually(Duration::from_secs(10), || up.recorded().iter().any(|r| r
                .path
                == "/e2e/page"
                && r.header("sec-fetch-site") == Some("cross-site")
                && r.header("sec-fetch-mode") == Some("navigate"))),
            "the navigation reached the upstream: {:?}",
            up.recorded()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_13_report_mode_only_counts_the_cross_site_loads() {
    let up = Upstream::start();
    let pages = Upstream::start();
    let admin = Port::reserve();
    let admin_addr = admin.addr();
    let gw = fetch_metadata_gateway(&up, "report", admin);
    Browser::with(|c| async move {
        let api = http(gw.addr);
        goto(&c, &format!("{}/e2e/page", localhost(pages.addr))).await;
        element_load(&c, "script", &format!("{api}/api/data.json")).await;
        element_load(&c, "img", &format!("{api}/api/avatar")).await;
        let seen: Vec<(String, Option<String>)> = up
            .recorded()
            .iter()
            .map(|r| {
                (
                    r.path.clone(),
                    r.header("sec-fetch-site").map(str::to_string),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("/api/data.json".to_string(), Some("cross-site".to_string())),
                ("/api/avatar".to_string(), Some("cross-site".to_string()))
            ]
        );
        let metrics = metrics_text(admin_addr);
        assert_eq!(
            series_value(
                &metrics,
                "helmgate_requests_would_refuse_total{route=\"default\",reason=\"fetch_metadata\"}"
            ),
            Some(2.0),
            "{metrics}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_14_same_origin_fetch_and_form_post_pass_a_cross_site_form_post_gets_403() {
    // CSRF (README "CSRF"): the Origin check alone, fetch_metadata off.
    let up = Upstream::start();
    let pages = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    Browser::with(|c| async move {
        let api = http(gw.addr);
        goto(&c, &format!("{api}/e2e/page")).await;
        let f = page_fetch(&c, &format!("{api}/api/items"), json!({})).await;
        assert_succeeded(&f, "hello", "same-origin fetch");
        submit_form(&c, &format!("{api}/transfer")).await;
        assert!(
            eventually(Duration::from_secs(5), || up
                .recorded()
                .iter()
                .any(|r| r.method == "POST" && r.path == "/transfer")),
            "the same-origin form post reached the upstream"
        );
        up.clear();

        goto(&c, &format!("{}/e2e/page", localhost(pages.addr))).await;
        let body = submit_form(&c, &format!("{api}/transfer")).await;
        assert_eq!(
            body.trim(),
            "Forbidden: origin not allowed",
            "what the browser shows"
        );
        assert!(
            !up.recorded().iter().any(|r| r.method == "POST"),
            "{:?}",
            up.recorded()
        );
        assert!(access_logged(
            &gw,
            "method=POST path=\"/transfer\" status=403"
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_15_cookies_come_back_with_the_configured_attributes() {
    let up = Upstream::start();
    let gw = Gateway::start_with_tables(
        up.addr,
        GatewayOptions::default(),
        "[cookies]\nsecure = true\nhttp_only = [\"sid\"]\nsame_site = \"Strict\"\n",
    );
    Browser::with(|c| async move {
        let api = http(gw.addr);
        goto(&c, &format!("{api}/cookies")).await;
        goto(&c, &format!("{api}/e2e/page")).await;
        let page_sees = eval(&c, "return document.cookie").await;
        let page_sees = page_sees.as_str().unwrap_or_default().to_string();
        // HttpOnly: the page can't read sid. Plain HTTP: no Secure was
        // added, else the browser would have dropped theme and sid.
        assert!(page_sees.contains("theme=dark"), "{page_sees}");
        assert!(!page_sees.contains("sid="), "{page_sees}");
        let jar = c.get_all_cookies().await.expect("the cookie jar");
        let sid = jar
            .iter()
            .find(|k| k.name() == "sid")
            .expect("sid is stored");
        assert_eq!(sid.http_only(), Some(true));
        assert_ne!(sid.secure(), Some(true));
        assert_eq!(format!("{:?}", sid.same_site()), "Some(Strict)");
        let theme = jar.iter().find(|k| k.name() == "theme").expect("theme");
        // override = false: the upstream's own SameSite=Strict stays.
        assert_eq!(format!("{:?}", theme.same_site()), "Some(Strict)");
        assert_ne!(theme.http_only(), Some(true));
        // __Host-id breaks its prefix rules: dropped by the browser.
        assert!(jar.iter().all(|k| k.name() != "__Host-id"));
    })
    .await;
}
