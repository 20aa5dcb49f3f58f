//! The per-report learning path (issue 21): what a violation report or a
//! refused CORS origin costs on top of parsing it. `cargo bench --bench
//! learning`. Target: at most 2 µs a report.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use helmgate::observe::learning::{Learning, RouteLearning};
use helmgate::observe::reports::{
    blocked, document_of, Directive, Disposition, ReportType, Violation,
};

fn violation(blocked_uri: &str) -> Violation {
    Violation {
        kind: ReportType::CspViolation,
        directive: Directive::parse("script-src-elem"),
        disposition: Disposition::Report,
        blocked: blocked(blocked_uri),
        document: document_of("https://app.example.com/checkout"),
    }
}

fn bench(c: &mut Criterion) {
    let learning = Learning::default();
    let v = violation("https://cdn.example.com/lib.js");
    let host = Some(&b"app.example.com"[..]);
    let client: Option<IpAddr> = Some("203.0.113.7".parse().unwrap());
    c.bench_function("learning: a report of a source already seen", |b| {
        b.iter(|| learning.record_violation(black_box("default"), black_box(&v), host, client))
    });

    // A full table, every report a new source from another network: the
    // eviction scan, the worst case a flood can cause.
    let flood: Vec<Violation> = (0..4096)
        .map(|i| violation(&format!("https://flood-{i}.example/x.js")))
        .collect();
    let mut tables = RouteLearning::default();
    let mut i = 0usize;
    c.bench_function(
        "learning: a report of a new source into a full table",
        |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let v = &flood[i % flood.len()];
                tables.learn_violation(black_box(v), host, (i as u128) << 8 | 1 << 64, 1);
            })
        },
    );

    let origin: &[u8] = b"https://partner.example";
    c.bench_function("learning: a refused CORS origin", |b| {
        b.iter(|| {
            learning.record_refused_origin(black_box("default"), &[black_box(origin)], client)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
