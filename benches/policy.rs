//! Per-request policy work, without Pingora: what helmgate adds on top of a
//! bare proxy. `cargo bench --bench policy`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use helmgate::policy::cors::{CorsDecision, CorsPolicy, CorsSettings, Grant, OwnOrigin};
use helmgate::policy::env::Environment;
use helmgate::policy::forwarded::{upstream_forwarding, ClientView, TrustedProxies};
use helmgate::policy::headers::{HeaderSettings, Preset, SecurityHeaders};
use helmgate::policy::origin::{AllowedOrigin, Scheme};
use helmgate::policy::routes::{EscapedSlashes, HostPattern, RouteMatch, Router};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use pingora::http::ResponseHeader;

fn policy(n: usize) -> CorsPolicy {
    let mut origins: Vec<AllowedOrigin> = (0..n.saturating_sub(1))
        .map(|i| AllowedOrigin::parse(&format!("https://app{i}.example.com")).unwrap())
        .collect();
    origins.push(AllowedOrigin::parse("https://app.example.com").unwrap());
    CorsPolicy::new(CorsSettings {
        allowed_origins: origins,
        allow_localhost: false,
        allowed_methods: vec![Method::GET, Method::POST],
        allowed_headers: vec!["Content-Type".into()],
        expose_headers: vec![],
        max_age_secs: 600,
        ..CorsSettings::default()
    })
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn upstream_response() -> ResponseHeader {
    let mut r = ResponseHeader::build(200, Some(8)).unwrap();
    r.insert_header("Content-Type", "text/plain").unwrap();
    r.insert_header("Content-Length", "2").unwrap();
    r.insert_header("X-Powered-By", "Express").unwrap();
    r
}

fn bench(c: &mut Criterion) {
    let own = OwnOrigin {
        scheme: Scheme::Https,
        host: Some(b"gateway.example.com"),
    };
    let allowed = headers(&[
        ("host", "gateway.example.com"),
        ("origin", "https://app.example.com"),
    ]);
    let plain = headers(&[("host", "gateway.example.com")]);
    for n in [1usize, 1000] {
        let p = policy(n);
        c.bench_function(&format!("evaluate allowed origin, {n} allowed"), |b| {
            b.iter(|| black_box(p.evaluate(&Method::GET, black_box(&allowed), own)))
        });
    }
    let p = policy(1);
    let evil = headers(&[("origin", "https://app.example.com.evil.com")]);
    c.bench_function("evaluate rejected origin", |b| {
        b.iter(|| black_box(p.evaluate(&Method::GET, black_box(&evil), own)))
    });
    c.bench_function("evaluate no origin", |b| {
        b.iter(|| black_box(p.evaluate(&Method::GET, black_box(&plain), own)))
    });

    let security = SecurityHeaders::build(&HeaderSettings::defaults(
        Environment::Production,
        Preset::Seed,
    ))
    .unwrap();
    let allowed = CorsDecision::Allowed(Grant {
        allow_origin: HeaderValue::from_static("https://app.example.com"),
    });
    c.bench_function("response: CORS + security headers, allowed origin", |b| {
        b.iter_batched(
            upstream_response,
            |mut r| {
                p.apply_to_response(&mut r, &allowed);
                security.apply(&mut r, true, None);
                r
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("response: CORS + security headers, no origin", |b| {
        b.iter_batched(
            upstream_response,
            |mut r| {
                p.apply_to_response(&mut r, &CorsDecision::NotCors);
                security.apply(&mut r, false, None);
                r
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("vary merge with upstream Vary", |b| {
        let v = HeaderValue::from_static("Accept-Encoding");
        b.iter(|| {
            black_box(helmgate::policy::vary::merged(
                &[black_box(&v)],
                &["Origin"],
            ))
        })
    });

    let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
    let via_proxy = headers(&[
        ("host", "internal"),
        ("x-forwarded-for", "198.51.100.7, 10.0.0.5"),
        ("x-forwarded-proto", "https"),
    ]);
    let proxy_peer: IpAddr = "10.1.2.3".parse().unwrap();
    c.bench_function("x-forwarded-for from a trusted proxy", |b| {
        b.iter(|| {
            let view = ClientView::new(
                &trusted,
                Some(proxy_peer),
                false,
                black_box(&via_proxy),
                None,
            );
            black_box(view.client_ip(&trusted, &via_proxy));
            black_box(upstream_forwarding(&view, false, &via_proxy))
        })
    });
    let client: IpAddr = "203.0.113.9".parse().unwrap();
    c.bench_function("x-forwarded-for from an untrusted client", |b| {
        b.iter(|| {
            let view = ClientView::new(&trusted, Some(client), false, black_box(&plain), None);
            black_box(upstream_forwarding(&view, false, &plain))
        })
    });
}

/// `n` routes: a mix of exact hosts, wildcard hosts and path prefixes, the
/// shape of a large real config.
fn router(n: usize) -> Router {
    let specs: Vec<(usize, RouteMatch)> = (0..n)
        .map(|i| {
            let hosts = match i % 3 {
                0 => vec![HostPattern::Exact(format!("app{i}.example.com").into())],
                1 => vec![HostPattern::Wildcard(format!("t{i}.example.com").into())],
                _ => vec![],
            };
            (
                i + 1,
                RouteMatch {
                    hosts,
                    path_prefix: format!("/svc{i}/v1").into(),
                    escaped_slashes: EscapedSlashes::Reject,
                },
            )
        })
        .collect();
    Router::new(&specs).unwrap()
}

fn bench_routes(c: &mut Criterion) {
    // 3 routes: one exact host, one wildcard host, one path-only route;
    // 200 routes: the same three kinds, many of each.
    for n in [3, 200] {
        let r = router(n);
        c.bench_function(&format!("route select, {n} route(s), no match"), |b| {
            b.iter(|| {
                black_box(r.select(
                    Some(black_box(b"www.example.com")),
                    black_box(b"/api/v2/users/42"),
                ))
            })
        });
        c.bench_function(
            &format!("route select, {n} route(s), wildcard host match"),
            |b| {
                b.iter(|| {
                    black_box(r.select(
                        Some(black_box(b"acme.t1.example.com:443")),
                        black_box(b"/svc1/v1/users/42"),
                    ))
                })
            },
        );
    }
}

/// The dashboard's bookkeeping per refused origin and per report: a top-K
/// update and a timeline bump under a mutex.
fn bench_insight(c: &mut Criterion) {
    use helmgate::observe::blocked_log::BlockedLogLimiter;
    use helmgate::observe::insight::Insight;
    use std::time::{Instant, SystemTime};
    let insight = Insight::default();
    let now = Instant::now();
    c.bench_function("insight: refused origin, same origin", |b| {
        b.iter(|| insight.record_refused_origin(black_box(b"https://evil.example"), false, now))
    });
    let mut i = 0u64;
    c.bench_function(
        "insight: refused origin, a new origin each time (full top-K)",
        |b| {
            b.iter(|| {
                i += 1;
                let origin = format!("https://scan-{i}.example");
                insight.record_refused_origin(black_box(origin.as_bytes()), false, now)
            })
        },
    );
    let body = br#"{"csp-report":{"document-uri":"https://app.example.com/checkout?x=1","effective-directive":"script-src-elem","blocked-uri":"https://cdn.example.net/a.js","disposition":"enforce"}}"#;
    c.bench_function("report: parse a report-uri body", |b| {
        b.iter(|| {
            helmgate::observe::reports::parse(Some(b"application/csp-report"), black_box(body))
        })
    });
    let violation =
        helmgate::observe::reports::parse(Some(b"application/csp-report"), body).unwrap();
    let quiet = BlockedLogLimiter::new(1, 1);
    c.bench_function("report: record one (deduplicated, no line)", |b| {
        b.iter(|| insight.record_report("default", &violation[0], now, SystemTime::now(), &quiet))
    });
}

criterion_group!(benches, bench, bench_routes, bench_insight);
criterion_main!(benches);
