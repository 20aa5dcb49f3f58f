//! Per-request policy work, without Pingora: what helmgate adds on top of a
//! bare proxy. `cargo bench --bench policy`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use helmgate::cors::{CorsDecision, CorsPolicy, CorsSettings, Grant, OwnOrigin};
use helmgate::env::Environment;
use helmgate::forwarded::{upstream_forwarding, ClientView, TrustedProxies};
use helmgate::headers::{HeaderSettings, Preset, SecurityHeaders};
use helmgate::origin::{AllowedOrigin, Scheme};
use helmgate::routes::{HostPattern, RouteMatch, Router};
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
        b.iter(|| black_box(helmgate::vary::merged(&[black_box(&v)], &["Origin"])))
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

criterion_group!(benches, bench, bench_routes);
criterion_main!(benches);
