//! Issue 11, visibility, through the real binary: the violation-report
//! endpoint (both formats, its limits, never forwarded), the deduplicated
//! and rate-limited violation log, CORS report mode against enforce mode on
//! the same inputs, the bounded top-K under 100,000 origins, the dashboard
//! and /status.json, and the admin token.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

/// `[reports] enabled = true`.
fn reports_on() -> Settings {
    Settings::new().set("reports.enabled", true)
}
const TOKEN: &str = "test-admin-token-0123456789";

/// A gateway with an admin listener and the `extra` settings.
struct Setup {
    up: Upstream,
    gw: Gateway,
    admin: SocketAddr,
}

impl Setup {
    fn start(extra: Settings) -> Setup {
        Self::start_with(extra, vec![])
    }

    fn start_with(extra: Settings, env: Vec<(String, String)>) -> Setup {
        Self::start_opts(extra, env, vec![])
    }

    /// Behind a proxy on 127.0.0.1: its X-Forwarded-For names the client.
    fn start_behind_proxy(extra: Settings) -> Setup {
        Self::start_opts(extra, vec![], vec!["127.0.0.1".to_string()])
    }

    fn start_opts(extra: Settings, env: Vec<(String, String)>, trusted: Vec<String>) -> Setup {
        let up = Upstream::start();
        let (gw, admin) = start_with_admin(
            up.addr,
            GatewayOptions {
                settings: extra,
                env,
                trusted_proxies: trusted,
                ..GatewayOptions::default()
            },
        );
        Setup { up, gw, admin }
    }

    fn post(&self, content_type: &str, body: &[u8]) -> Response {
        request(
            self.gw.addr,
            "POST",
            "/.helmgate/reports",
            &[("Content-Type", content_type)],
            body,
        )
    }

    fn metrics(&self) -> Scraped {
        Scraped::get(self.admin, &[])
    }

    fn status(&self) -> Value {
        let r = request(self.admin, "GET", "/status.json", &[], b"");
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_slice(&r.body).expect("status.json is JSON")
    }

    /// Wait until the logging hook of the last request has run.
    fn settle(&self, requests: u64) {
        assert!(
            eventually(Duration::from_secs(5), || {
                self.metrics().sum("helmgate_requests_total", &[]) >= requests as f64
            }),
            "expected {requests} requests counted: {}",
            self.metrics().text
        );
    }
}

/// One scrape of `/metrics`.
struct Scraped {
    text: String,
    scrape: prometheus_parse::Scrape,
}

impl Scraped {
    fn get(admin: SocketAddr, headers: &[(&str, &str)]) -> Scraped {
        let r = request(admin, "GET", "/metrics", headers, b"");
        assert_eq!(r.status, 200, "{r:?}");
        let text = r.body_text();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid Prometheus text");
        Scraped { text, scrape }
    }

    /// The sum of every sample of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }
}

fn csp_report(document: &str, directive: &str, blocked: &str) -> String {
    format!(
        r#"{{"csp-report":{{"document-uri":"{document}","referrer":"","violated-directive":"{directive}","effective-directive":"{directive}","original-policy":"default-src 'self'; report-uri /.helmgate/reports","disposition":"enforce","blocked-uri":"{blocked}","status-code":200}}}}"#
    )
}

const API_BATCH: &str = r#"[
  {"type":"csp-violation","age":1,"url":"http://gateway.test/app","user_agent":"t",
   "body":{"documentURL":"http://gateway.test/app?session=s3cret","blockedURL":"https://cdn.evil.example/x.js?k=v","effectiveDirective":"script-src-elem","disposition":"report","originalPolicy":"script-src 'self'"}},
  {"type":"coep","age":1,"url":"http://gateway.test/app","user_agent":"t",
   "body":{"type":"corp","blockedURL":"https://img.example.org/a.png","destination":"image","disposition":"enforce"}},
  {"type":"coop","age":1,"url":"http://gateway.test/app","user_agent":"t",
   "body":{"type":"navigation-to-response","previousResponseURL":"https://idp.example/login","disposition":"reporting","effectivePolicy":"same-origin"}},
  {"type":"deprecation","age":1,"url":"http://gateway.test/app","user_agent":"t","body":{"id":"x","message":"m"}}
]"#;

#[test]
fn both_report_formats_are_accepted_counted_logged_and_never_forwarded() {
    let s = Setup::start(reports_on());
    // A report-uri report, from a foreign origin (browsers send them
    // no-cors from any page): the gateway's, whatever the CORS policy.
    let legacy = csp_report(
        "http://gateway.test/checkout?card=4111",
        "script-src-elem",
        "inline",
    );
    let r = request(
        s.gw.addr,
        "POST",
        "/.helmgate/reports",
        &[
            ("Content-Type", "application/csp-report"),
            ("Origin", "https://evil.example"),
        ],
        legacy.as_bytes(),
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_production_headers_reporting(&r);
    assert!(r.has("x-request-id"));
    let r = s.post("application/reports+json", API_BATCH.as_bytes());
    assert_eq!(r.status, 204, "{r:?}");
    assert_production_headers_reporting(&r);
    s.settle(2);

    assert_eq!(s.up.count(), 0, "reports must never reach the upstream");
    let m = s.metrics();
    let reports = |labels: &[(&str, &str)]| m.sum("helmgate_reports_total", labels);
    assert_eq!(
        reports(&[
            ("route", "default"),
            ("type", "csp-violation"),
            ("directive", "script-src-elem"),
            ("disposition", "enforce")
        ]),
        1.0
    );
    assert_eq!(
        reports(&[("type", "csp-violation"), ("disposition", "report")]),
        1.0
    );
    assert_eq!(reports(&[("type", "coep"), ("directive", "other")]), 1.0);
    assert_eq!(reports(&[("type", "coop"), ("disposition", "report")]), 1.0);
    assert_eq!(reports(&[("type", "other")]), 1.0);
    assert_eq!(reports(&[]), 5.0);
    assert_eq!(
        m.sum("helmgate_report_posts_total", &[("result", "accepted")]),
        2.0
    );
    // No label is ever a URL or an origin.
    assert!(m.scrape.samples.iter().all(|s| !s
        .labels
        .values()
        .any(|v| v.contains("://") || v.contains("evil"))));

    let log =
        s.gw.log_with(&["CSP violation", "COEP violation", "COOP violation"]);
    for line in [
        "CSP violation directive=script-src-elem blocked=inline document=http://gateway.test/checkout disposition=enforce route=default",
        "CSP violation directive=script-src-elem blocked=https://cdn.evil.example document=http://gateway.test/app disposition=report route=default",
        "COEP violation directive=other blocked=https://img.example.org document=http://gateway.test/app disposition=enforce route=default",
        "COOP violation directive=other blocked=https://idp.example document=http://gateway.test/app disposition=report route=default",
    ] {
        assert!(log.contains(line), "missing {line:?} in:\n{log}");
    }
    assert!(
        !log.contains("card=4111") && !log.contains("s3cret"),
        "{log}"
    );
}

#[test]
fn oversized_garbage_and_non_reports_are_refused_with_headers() {
    let s = Setup::start(reports_on().set("reports.max_body_bytes", 1024));
    let big = csp_report(
        &format!("http://gateway.test/{}", "a".repeat(2000)),
        "img-src",
        "data",
    );
    // Content-Length over the cap: 413 before reading the body.
    let r = s.post("application/csp-report", big.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert_production_headers_reporting(&r);
    // Chunked, so only counting finds out.
    let mut chunked = format!(
        "POST /.helmgate/reports HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/csp-report\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        big.len()
    )
    .into_bytes();
    chunked.extend_from_slice(big.as_bytes());
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = raw(s.gw.addr, &chunked).expect("an answer");
    assert_eq!(r.status, 413, "{r:?}");
    assert_production_headers_reporting(&r);

    for (what, content_type, body) in [
        ("not JSON", "application/csp-report", &b"{not json"[..]),
        (
            "JSON, not a report",
            "application/csp-report",
            b"{\"hello\":1}",
        ),
        ("an empty batch", "application/reports+json", b"[]"),
        (
            "a batch item without a type",
            "application/reports+json",
            b"[{\"url\":\"x\"}]",
        ),
        (
            "another content type",
            "text/plain",
            br#"{"csp-report":{"document-uri":"http://a/"}}"#,
        ),
    ] {
        let r = s.post(content_type, body);
        assert_eq!(r.status, 400, "{what}: {r:?}");
        assert_production_headers_reporting(&r);
    }
    // Other methods: the path is the gateway's, so not forwarded either.
    let r = request(s.gw.addr, "GET", "/.helmgate/reports", &[], b"");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    assert_production_headers_reporting(&r);
    // A cross-origin Reporting API upload may be preflighted: any origin
    // may POST, without credentials.
    let r = request(
        s.gw.addr,
        "OPTIONS",
        "/.helmgate/reports",
        &[
            ("Origin", "https://elsewhere.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(!r.has("access-control-allow-credentials"));
    assert_production_headers_reporting(&r);
    s.settle(9);

    assert_eq!(s.up.count(), 0, "{:?}", s.up.recorded());
    let m = s.metrics();
    assert_eq!(
        m.sum("helmgate_report_posts_total", &[("result", "too_large")]),
        2.0
    );
    assert_eq!(
        m.sum("helmgate_report_posts_total", &[("result", "invalid")]),
        5.0
    );
    assert_eq!(m.sum("helmgate_reports_total", &[]), 0.0);
}

#[test]
fn reports_over_the_rate_get_429_and_nothing_is_kept() {
    let s = Setup::start(reports_on().set("reports.per_minute", 3));
    let body = csp_report("http://gateway.test/", "img-src", "https://x.example/a.png");
    let statuses: Vec<u16> = (0..8)
        .map(|_| s.post("application/csp-report", body.as_bytes()).status)
        .collect();
    assert_eq!(statuses, [204, 204, 204, 429, 429, 429, 429, 429]);
    let r = s.post("application/csp-report", body.as_bytes());
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("20"));
    assert_production_headers_reporting(&r);
    s.settle(9);
    let m = s.metrics();
    assert_eq!(m.sum("helmgate_reports_total", &[]), 3.0);
    assert_eq!(
        m.sum("helmgate_report_posts_total", &[("result", "rate_limited")]),
        6.0
    );
    assert_eq!(
        m.sum(
            "helmgate_reports_refused_total",
            &[("reason", "global_rate")]
        ),
        6.0
    );
    assert_eq!(
        m.sum(
            "helmgate_reports_refused_total",
            &[("reason", "client_rate")]
        ),
        0.0
    );
    assert_eq!(s.up.count(), 0);
}

/// One client's flood spends its own bucket: another browser's report is
/// still taken, and the metric and the dashboard say which limit refused.
#[test]
fn one_client_flooding_reports_leaves_other_clients_theirs() {
    let s = Setup::start_behind_proxy(
        reports_on()
            .set("reports.per_minute", 100)
            .set("reports.per_client_per_minute", 3),
    );
    let body = csp_report("http://gateway.test/", "img-src", "https://x.example/a.png");
    let post_from = |client: &str| {
        request(
            s.gw.addr,
            "POST",
            "/.helmgate/reports",
            &[
                ("Content-Type", "application/csp-report"),
                ("X-Forwarded-For", client),
            ],
            body.as_bytes(),
        )
    };
    let flood: Vec<u16> = (0..8).map(|_| post_from("203.0.113.7").status).collect();
    assert_eq!(flood, [204, 204, 204, 429, 429, 429, 429, 429]);
    let r = post_from("203.0.113.7");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("20"));
    assert_production_headers_reporting(&r);
    assert_eq!(post_from("203.0.113.8").status, 204);
    assert_eq!(post_from("198.51.100.1, 203.0.113.9").status, 204);
    s.settle(11);
    let m = s.metrics();
    assert_eq!(m.sum("helmgate_reports_total", &[]), 5.0);
    assert_eq!(
        m.sum(
            "helmgate_reports_refused_total",
            &[("reason", "client_rate")]
        ),
        6.0
    );
    assert_eq!(
        m.sum(
            "helmgate_reports_refused_total",
            &[("reason", "global_rate")]
        ),
        0.0
    );
    assert_eq!(
        m.sum(
            "helmgate_report_posts_total",
            &[("result", "client_rate_limited")]
        ),
        6.0
    );
    assert_eq!(
        m.sum("helmgate_report_posts_total", &[("result", "rate_limited")]),
        0.0
    );
    let status = s.status();
    assert_eq!(status["reports"]["per_client_per_minute"], 3);
    assert_eq!(status["reports"]["posts"]["client_rate_limited"], 6);
    assert_eq!(status["reports"]["posts"]["rate_limited"], 0);
    let page = request(s.admin, "GET", "/", &[], b"").body_text();
    assert!(
        page.contains("over the global rate <span id=\"reports-global-rate\">0</span>, over a client's rate <span id=\"reports-client-rate\">6</span>"),
        "{page}"
    );
}

#[test]
fn reports_are_counted_for_the_route_of_the_page_and_off_means_forwarded() {
    let up = Upstream::start();
    let (listen, admin_port) = (Port::reserve(), Port::reserve());
    let (addr, admin) = (listen.addr(), admin_port.addr());
    let api = table([
        ("name", toml::Value::from("api")),
        ("hosts", vec!["api.example.com"].into()),
        ("path_prefix", "/v1".into()),
        ("cors", table([("mode", "report")]).into()),
    ]);
    let config = Config::production(addr, up.addr, &["https://app.example.com"])
        .set("reports.enabled", true)
        .set("reports.path", "/csp-reports")
        .set("route", [api])
        .admin(Admin::on(admin));
    let mut gw = Gateway::with_config(listen, &config, vec![], vec![]);
    gw.hold(admin_port);
    let post = |host: &str, doc: &str| {
        request(
            addr,
            "POST",
            "/csp-reports",
            &[("Host", host), ("Content-Type", "application/csp-report")],
            csp_report(doc, "connect-src", "wss://x.example/socket").as_bytes(),
        )
    };
    assert_eq!(
        post("api.example.com", "http://api.example.com/v1/items").status,
        204
    );
    assert_eq!(
        post("api.example.com", "http://api.example.com/other").status,
        204
    );
    assert_eq!(
        post("app.example.com", "http://app.example.com/v1/x").status,
        204
    );
    // The default path is just a path now.
    let r = request(
        addr,
        "POST",
        "/.helmgate/reports",
        &[("Content-Type", "application/csp-report")],
        b"{}",
    );
    assert_eq!(r.status, 200);
    assert!(eventually(Duration::from_secs(5), || {
        Scraped::get(admin, &[]).sum("helmgate_requests_total", &[]) >= 4.0
    }));
    let m = Scraped::get(admin, &[]);
    assert_eq!(m.sum("helmgate_reports_total", &[("route", "api")]), 1.0);
    assert_eq!(
        m.sum("helmgate_reports_total", &[("route", "default")]),
        2.0
    );
    assert_eq!(
        m.sum(
            "helmgate_cors_mode",
            &[("route", "api"), ("mode", "report")]
        ),
        1.0
    );
    assert_eq!(
        m.sum(
            "helmgate_cors_mode",
            &[("route", "default"), ("mode", "enforce")]
        ),
        1.0
    );
    let paths: Vec<String> = up.recorded().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/.helmgate/reports"]);
    drop(gw);

    // Reports off (the default): the path belongs to the app.
    let s = Setup::start(Settings::new());
    let r = s.post("application/csp-report", b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(s.up.count(), 1);
}

#[test]
fn violation_lines_are_deduplicated_and_rate_limited() {
    // Burst 3, then one line every 2 s.
    let s = Setup::start(
        reports_on()
            .set("log.blocked_origin_burst", 3)
            .set("log.blocked_origin_per_minute", 30)
            .set("log.access_log", false),
    );
    let post = |blocked: &str| {
        let body = csp_report("http://gateway.test/page", "script-src-elem", blocked);
        assert_eq!(
            s.post("application/csp-report", body.as_bytes()).status,
            204
        );
    };
    let started = Instant::now();
    for _ in 0..5 {
        post("https://same.example/x.js");
    }
    for i in 0..10 {
        post(&format!("https://other{i}.example/x.js"));
    }
    let fast = started.elapsed();
    let lines = |log: &str| {
        log.lines()
            .filter(|l| l.contains("CSP violation"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // Log lines are written by the log's own thread, a moment after the
    // response.
    eventually(Duration::from_secs(3), || lines(&s.gw.log()).len() >= 3);
    let log = s.gw.log();
    let first = lines(&log);
    // One line for the five identical reports, two more from the burst.
    assert_eq!(
        first
            .iter()
            .filter(|l| l.contains("blocked=https://same.example "))
            .count(),
        1,
        "{log}"
    );
    // The burst of three, plus one line per token the limiter refilled
    // (one every 2 s) while the reports went in: exactly three on any
    // machine that sent them within 2 s.
    let refilled = (fast.as_secs_f64() / 2.0).floor() as usize;
    assert!(
        (3..=3 + refilled).contains(&first.len()),
        "{} lines in {fast:?}: {first:#?}",
        first.len()
    );
    // A late report, a new one every half second (well within the
    // per-client report rate; each new, as a repeat of a suppressed one
    // would count as similar) until a token is back for its line.
    let mut late_reports = 0;
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        post(&format!("https://late{late_reports}.example/x.js"));
        late_reports += 1;
        if eventually(Duration::from_millis(500), || {
            s.gw.log().contains("blocked=https://late")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no late line: {}", s.gw.log());
    }
    let log = s.gw.log();
    let late = lines(&log)
        .into_iter()
        .find(|l| l.contains("blocked=https://late"))
        .unwrap_or_else(|| panic!("the late line: {log}"));
    assert!(
        late.contains("similar lines suppressed)"),
        "the next line says how many were dropped: {late}"
    );
    let m = s.metrics();
    assert_eq!(
        m.sum("helmgate_reports_total", &[]),
        15.0 + f64::from(late_reports)
    );
}

/// A request id, method and headers.
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// The same requests against enforce and report mode: report mode forwards
/// every one and counts, per reason, exactly what enforce refuses.
#[test]
fn report_mode_forwards_and_counts_exactly_what_enforce_refuses() {
    let app = "https://app.example.com";
    let cases: Vec<Case> = vec![
        ("allowed", "GET", vec![("Origin", app)]),
        ("no-origin", "GET", vec![]),
        (
            "same-origin",
            "POST",
            vec![("Origin", "http://gateway.test")],
        ),
        ("evil", "GET", vec![("Origin", "https://evil.example")]),
        ("evil-2", "GET", vec![("Origin", "https://evil.example")]),
        ("null", "GET", vec![("Origin", "null")]),
        (
            "malformed",
            "GET",
            vec![("Origin", "https://app.example.com/")],
        ),
        ("two", "GET", vec![("Origin", app), ("Origin", app)]),
        (
            "preflight-ok",
            "OPTIONS",
            vec![("Origin", app), ("Access-Control-Request-Method", "PATCH")],
        ),
        (
            "preflight-evil",
            "OPTIONS",
            vec![
                ("Origin", "https://evil.example"),
                ("Access-Control-Request-Method", "PATCH"),
            ],
        ),
        (
            "wildcard-lookalike",
            "GET",
            vec![("Origin", "https://app.example.com.evil.net")],
        ),
    ];
    let run = |extra: Settings| {
        let s = Setup::start(extra);
        let statuses: Vec<u16> = cases
            .iter()
            .map(|(id, method, headers)| {
                let mut h = headers.clone();
                h.push(("X-Request-Id", id));
                request(s.gw.addr, method, "/cors-star", &h, b"").status
            })
            .collect();
        s.settle(cases.len() as u64);
        (s, statuses)
    };
    let (enforce, enforce_status) = run(Settings::new());
    let (report, report_status) = run(Settings::new().set("production.cors.mode", "report"));

    let refused: Vec<&str> = cases
        .iter()
        .zip(&enforce_status)
        .filter(|(_, st)| **st == 403)
        .map(|((id, _, _), _)| *id)
        .collect();
    assert_eq!(
        refused,
        [
            "evil",
            "evil-2",
            "null",
            "malformed",
            "two",
            "preflight-evil",
            "wildcard-lookalike"
        ]
    );
    // Report mode: everything forwarded, preflights included; the
    // upstream answers them all.
    assert!(report_status.iter().all(|s| *s == 200), "{report_status:?}");
    let forwarded: Vec<String> = report
        .up
        .recorded()
        .iter()
        .filter_map(|r| r.header("x-request-id").map(str::to_string))
        .collect();
    let ids: Vec<&str> = cases.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(forwarded, ids);
    let enforce_forwarded = enforce.up.count();
    assert_eq!(
        enforce_forwarded,
        cases.len() - refused.len() - 1,
        "one preflight answered"
    );

    // Per reason, what enforce blocked is what report mode would block.
    let (e, r) = (enforce.metrics(), report.metrics());
    for reason in [
        "not_allowed",
        "null_origin",
        "malformed",
        "multiple_origins",
    ] {
        let blocked = e.sum("helmgate_origins_blocked_total", &[("reason", reason)]);
        let would = r.sum("helmgate_origins_would_block_total", &[("reason", reason)]);
        assert_eq!(blocked, would, "{reason}");
        assert_eq!(
            r.sum("helmgate_origins_blocked_total", &[("reason", reason)]),
            0.0
        );
        assert_eq!(
            e.sum("helmgate_origins_would_block_total", &[("reason", reason)]),
            0.0
        );
    }
    assert_eq!(
        r.sum("helmgate_origins_would_block_total", &[]),
        refused.len() as f64
    );
    assert_eq!(r.sum("helmgate_cors_mode", &[("mode", "report")]), 1.0);
    assert_eq!(e.sum("helmgate_cors_mode", &[("mode", "enforce")]), 1.0);

    // Per request: the access log marks exactly those as would_block, and
    // each got a WARN line.
    // Access lines are flushed within a second.
    assert!(eventually(Duration::from_secs(3), || report
        .gw
        .log()
        .matches(" INFO access]")
        .count()
        >= cases.len()));
    let log = report.gw.log();
    for (id, _, _) in &cases {
        let line = log
            .lines()
            .find(|l| l.contains(" INFO access]") && l.contains(&format!("request_id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no access line for {id}: {log}"));
        assert_eq!(
            line.contains("cors=would_block"),
            refused.contains(id),
            "{line}"
        );
    }
    assert_eq!(
        log.matches("CORS would block origin").count(),
        refused.len(),
        "{log}"
    );
    assert!(log.contains(
        "CORS would block origin \"https://evil.example\" reason=not_allowed method=OPTIONS"
    ));
    assert!(!log.contains("CORS blocked origin"));
}

#[test]
fn report_mode_leaves_the_upstreams_cors_alone_and_still_adds_security_headers() {
    let s = Setup::start(Settings::new().set("production.cors.mode", "report"));
    let r =
        s.gw.get("/cors-star", &[("Origin", "https://evil.example")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-Secret"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_production_headers(&r);
    // An allowed origin gets nothing from the gateway either.
    let r = s.gw.get("/", &[("Origin", "https://app.example.com")]);
    assert!(r.access_control().is_empty(), "{r:?}");
    assert_production_headers(&r);
    // --check shows the mode.
    let out = Command::new(bin())
        .arg("--check")
        .arg("--config")
        .arg(&s.gw.config_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("mode: report"),
        "{text}"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn top_k_stays_bounded_under_100000_distinct_origins() {
    let s = Setup::start(Settings::new().set("log.access_log", false));
    // Warm up (thread stacks, buffers), then measure from here.
    for i in 0..2_000 {
        s.gw.get("/", &[("Origin", &format!("https://warm-{i}.example"))]);
    }
    let before = rss_kib(s.gw.pid());
    let started = Instant::now();
    // One connection at a time, so the rest of the suite keeps a core (its
    // rate-limit tests count lines against the clock).
    const THREADS: usize = 1;
    const PER_THREAD: usize = 100_000;
    let addr = s.gw.addr;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for i in 0..PER_THREAD {
                    let origin = if i % 50 == 0 {
                        // 2,000 from one heavy hitter in all.
                        "https://heavy-hitter.example".to_string()
                    } else {
                        format!("https://distinct-{t}-{i}.example")
                    };
                    let r = match conn.send("GET", "/", &[("Origin", &origin)], b"") {
                        Some(r) => r,
                        None => {
                            conn = Conn::open(addr);
                            conn.send("GET", "/", &[("Origin", &origin)], b"").unwrap()
                        }
                    };
                    assert_eq!(r.status, 403);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();
    let after = rss_kib(s.gw.pid());
    let status = s.status();
    let top = status["top_blocked_origins"].as_array().unwrap();
    assert_eq!(top.len(), 20);
    assert_eq!(top[0]["key"], "https://heavy-hitter.example");
    let (count, error) = (
        top[0]["count"].as_u64().unwrap(),
        top[0]["error"].as_u64().unwrap(),
    );
    assert!(count >= 2_000 && count - error <= 2_000, "{}", top[0]);
    eprintln!(
        "top-K under {} distinct origins: RSS {before} KiB before, {after} KiB after ({:+} KiB) in {elapsed:?}",
        THREADS * PER_THREAD,
        after as i64 - before as i64
    );
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let m = s.metrics();
    assert_eq!(
        m.sum("helmgate_origins_blocked_total", &[]),
        (2_000 + THREADS * PER_THREAD) as f64
    );
}

#[test]
fn dashboard_and_status_json_show_the_counts_with_client_values_escaped() {
    let s = Setup::start(reports_on());
    let evil = "https://x.example\"><script>alert(1)</script>";
    assert_eq!(s.gw.get("/", &[("Origin", evil)]).status, 403);
    assert_eq!(
        s.gw.get("/", &[("Origin", "https://evil.example")]).status,
        403
    );
    assert_eq!(
        s.gw.get("/", &[("Origin", "https://evil.example")]).status,
        403
    );
    let report = csp_report(
        "http://gateway.test/p<img src=x onerror=alert(1)>",
        "img-src",
        "https://pixels.example/t.gif",
    );
    assert_eq!(
        s.post("application/csp-report", report.as_bytes()).status,
        204
    );
    s.settle(4);

    let status = s.status();
    assert_eq!(status["environment"], "production");
    assert_eq!(status["reports"]["enabled"], true);
    let route = &status["routes"][0];
    assert_eq!(route["name"], "default");
    assert_eq!(route["cors_mode"], "enforce");
    assert_eq!(route["blocked"]["not_allowed"], 2);
    assert_eq!(route["blocked"]["malformed"], 1);
    assert_eq!(route["requests"]["4xx"], 3);
    assert_eq!(route["reports_by_directive"]["img-src"], 1);
    assert_eq!(
        status["top_blocked_origins"][0]["key"],
        "https://evil.example"
    );
    assert_eq!(status["top_blocked_origins"][0]["count"], 2);
    assert_eq!(status["top_violations"][0]["directive"], "img-src");
    assert_eq!(
        status["top_violations"][0]["blocked"],
        "https://pixels.example"
    );
    assert_eq!(
        status["recent_reports"][0]["document"],
        "http://gateway.test/p%3Cimg%20src=x%20onerror=alert(1)%3E"
    );
    let timeline = &status["timeline"];
    assert_eq!(timeline["blocked"].as_array().unwrap().len(), 60);
    assert_eq!(timeline["blocked"][59], 3);
    assert_eq!(timeline["reports"][59], 1);

    let r = request(s.admin, "GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let page = r.body_text();
    assert!(!page.contains("<script>alert"), "an origin became markup");
    assert!(!page.contains("<img src=x"), "a document became markup");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains(
        "data-metric=\"helmgate_origins_blocked_total{route=&quot;default&quot;,reason=&quot;not_allowed&quot;}\">2<"
    ));
    assert!(page.contains("<svg id=\"chart\""));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external assets"
    );
}

#[test]
fn the_dashboard_shows_the_last_reload_result() {
    let s = Setup::start(Settings::new());
    assert!(s.status()["last_reload"].is_null());
    s.gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || s.status()
        ["last_reload"]["ok"]
        == true));
    let text = std::fs::read_to_string(&s.gw.config_path).unwrap();
    let mut config: toml::Table = text.parse().unwrap();
    config.insert("reports".into(), table([("per_minute", 0)]).into());
    std::fs::write(&s.gw.config_path, toml::to_string(&config).unwrap()).unwrap();
    s.gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || s.status()
        ["last_reload"]["ok"]
        == false));
    let status = s.status();
    let error = status["last_reload"]["error"].as_str().unwrap();
    assert!(error.contains("reports.per_minute"), "{error}");
    let page = request(s.admin, "GET", "/", &[], b"").body_text();
    assert!(
        page.contains("Last reload <span class=\"bad\">failed</span>"),
        "{page}"
    );
}

#[test]
fn a_public_admin_listener_needs_a_token_and_every_path_but_healthz_checks_it() {
    // No token: a config error naming the key.
    let up = Upstream::start();
    let (listen, admin_port) = (Port::reserve(), Port::reserve());
    let addr = listen.addr();
    let dir = TempDir::new("admin-token");
    let config = dir.path().join("helmgate.toml");
    // An admin listener on every interface, on the reserved port.
    let public: SocketAddr = format!("0.0.0.0:{}", admin_port.port()).parse().unwrap();
    let text = Config::new(addr, up.addr)
        .threads(1)
        .admin(Admin::on(public));
    std::fs::write(&config, text.render()).unwrap();
    let out = Command::new(bin())
        .args(["--check", "--config"])
        .arg(&config)
        .env_remove("HELMGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("admin.token") && err.contains("0.0.0.0"),
        "{err}"
    );

    // The token from the environment.
    let mut gw = Gateway::with_config(
        listen,
        &text,
        vec![("HELMGATE_ADMIN_TOKEN".into(), TOKEN.into())],
        vec![],
    );
    gw.hold(admin_port);
    let admin: SocketAddr = format!("127.0.0.1:{}", public.port()).parse().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let r = request(admin, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    for path in ["/", "/status.json", "/metrics", "/readyz", "/nope"] {
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789abc"),
            Some("Basic dGVzdDp0ZXN0"),
            Some(&format!("Bearer {TOKEN}x")[..]),
        ] {
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
            let r = request(admin, "GET", path, &headers, b"");
            assert_eq!(r.status, 401, "{path} {auth:?}: {r:?}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"helmgate admin\"")
            );
            assert_production_headers(&r);
            assert!(!r.body_text().contains(TOKEN));
        }
        let r = request(admin, "GET", path, &[("Authorization", &bearer)], b"");
        let want = if path == "/nope" { 404 } else { 200 };
        assert_eq!(r.status, want, "{path}: {r:?}");
    }
    assert!(!gw.log().contains(TOKEN), "the token is never logged");
    let out = Command::new(bin())
        .args(["--check", "--config"])
        .arg(&gw.config_path)
        .env("HELMGATE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("token required but for /healthz"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
}

/// With reports on, every response tells browsers where to report, the way
/// each client can: `report-uri` over plain HTTP (non-HTTPS Reporting API
/// endpoints are dropped, and `report-to` would make Chromium ignore
/// `report-uri`), plus `report-to` and `Reporting-Endpoints` over HTTPS.
#[test]
fn responses_name_the_collector_in_both_csps_and_over_https_the_reporting_api() {
    let up = Upstream::start();
    let dir = TempDir::new("report-headers");
    let cert = TestCert::write(dir.path());
    let tls_port = Port::reserve();
    let tls = tls_port.addr();
    let own_route = table([
        ("name", toml::Value::from("own")),
        ("path_prefix", "/own".into()),
        (
            "headers",
            table([(
                "content_security_policy",
                "default-src 'self'; report-uri https://reports.example/csp",
            )])
            .into(),
        ),
    ]);
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: reports_on()
                .set("server.tls", [cert.tls(tls)])
                .set("headers.preset", "hardened")
                .set(
                    "headers.content_security_policy_report_only",
                    "script-src 'self'",
                )
                .set("route", [own_route]),
            ..GatewayOptions::default()
        },
    );
    gw.hold(tls_port);
    let path = "/.helmgate/reports";
    for r in [
        gw.get("/", &[]),
        gw.get("/", &[("Origin", "https://evil.example")]),
    ] {
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.ends_with(&format!("; report-uri {path}")), "{csp}");
        assert_eq!(
            r.header("content-security-policy-report-only"),
            Some(format!("script-src 'self'; report-uri {path}").as_str())
        );
        assert!(!r.has("reporting-endpoints"), "{r:?}");
        assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
    }
    let r = tls_get(tls, cert.der.clone(), &[]);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.ends_with(&format!("; report-uri {path}; report-to helmgate")),
        "{csp}"
    );
    assert_eq!(
        r.header("content-security-policy-report-only"),
        Some(format!("script-src 'self'; report-uri {path}; report-to helmgate").as_str())
    );
    assert_eq!(
        r.header("reporting-endpoints"),
        Some(format!("helmgate=\"{path}\"").as_str())
    );
    assert_eq!(
        r.header("cross-origin-opener-policy"),
        Some("same-origin; report-to=\"helmgate\"")
    );
    assert_eq!(
        r.header("cross-origin-embedder-policy"),
        Some("require-corp; report-to=\"helmgate\"")
    );
    // A policy that names its own collector is left alone.
    assert_eq!(
        gw.get("/own/x", &[]).header("content-security-policy"),
        Some("default-src 'self'; report-uri https://reports.example/csp")
    );
    // Reports off: nothing added.
    let up = Upstream::start();
    let off = Gateway::start(up.addr, GatewayOptions::default());
    let csp = off
        .get("/", &[])
        .header("content-security-policy")
        .unwrap()
        .to_string();
    assert!(!csp.contains("report-uri"), "{csp}");
}

/// Issue 18 item 9d: when the minute ends, the violation log says how many
/// lines its rate limit dropped, even if no later report comes to carry
/// the count. (Waits for the one-minute window: about 65 s.)
#[test]
fn the_minute_end_reports_suppressed_violation_lines_without_a_later_report() {
    let s = Setup::start(
        reports_on()
            .set("log.blocked_origin_burst", 1)
            .set("log.blocked_origin_per_minute", 1)
            .set("log.access_log", false),
    );
    for i in 0..5 {
        let body = csp_report(
            "http://gateway.test/page",
            "img-src",
            &format!("https://h{i}.example/a.png"),
        );
        assert_eq!(
            s.post("application/csp-report", body.as_bytes()).status,
            204
        );
    }
    let violations = |log: &str| log.lines().filter(|l| l.contains("CSP violation")).count();
    // The log is written out by its own thread, at least every second.
    assert!(
        eventually(Duration::from_secs(5), || violations(&s.gw.log()) == 1),
        "{}",
        s.gw.log()
    );
    let summary = "4 violation lines suppressed in the last minute by the log rate limit";
    assert!(
        eventually(Duration::from_secs(90), || s.gw.log().contains(summary)),
        "no summary at the end of the minute:\n{}",
        s.gw.log()
    );
    assert!(
        s.gw.log()
            .lines()
            .any(|l| l.contains(summary) && l.contains("WARN helmgate::reports")),
        "{}",
        s.gw.log()
    );
    assert_eq!(violations(&s.gw.log()), 1, "{}", s.gw.log());
}
