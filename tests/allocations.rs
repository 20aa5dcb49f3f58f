//! The per-request policy work must not allocate for a request without an
//! Origin header. Counted with a wrapping global allocator (deterministic,
//! unlike timings).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use helmgate::cors::{CorsPolicy, CorsSettings, OwnOrigin};
use helmgate::origin::{AllowedOrigin, Scheme};
use http::header::{HeaderMap, HeaderValue, HOST, ORIGIN};
use http::Method;

struct Counting;

thread_local! {
    // Per thread: the test harness runs other tests on other threads at the
    // same time, and their allocations must not count here.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn policy() -> CorsPolicy {
    CorsPolicy::new(CorsSettings {
        allowed_origins: (0..1000)
            .map(|i| AllowedOrigin::parse(&format!("https://app{i}.example.com")).unwrap())
            .collect(),
        allow_localhost: false,
        allowed_methods: vec![Method::GET],
        allowed_headers: vec!["Content-Type".into()],
        expose_headers: vec![],
        max_age_secs: 600,
        ..CorsSettings::default()
    })
}

const OWN: OwnOrigin<'static> = OwnOrigin {
    scheme: Scheme::Https,
    host: Some(b"gateway.example.com"),
};

#[test]
fn evaluating_a_request_without_origin_does_not_allocate() {
    let p = policy();
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("gateway.example.com"));
    let n = allocations_in(|| {
        std::hint::black_box(p.evaluate(&Method::GET, &h, OWN));
    });
    assert_eq!(n, 0);
}

#[test]
fn evaluating_a_canonical_allowed_origin_does_not_allocate() {
    let p = policy();
    let mut h = HeaderMap::new();
    h.insert(
        ORIGIN,
        HeaderValue::from_static("https://app500.example.com"),
    );
    let n = allocations_in(|| {
        std::hint::black_box(p.evaluate(&Method::GET, &h, OWN));
    });
    assert_eq!(n, 0);
}

#[test]
fn selecting_a_route_does_not_allocate() {
    use helmgate::routes::{HostPattern, RouteMatch, Router};
    let specs: Vec<(usize, RouteMatch)> = (0..200)
        .map(|i| {
            let hosts = match i % 3 {
                0 => vec![HostPattern::Exact(format!("app{i}.example.com").into())],
                1 => vec![HostPattern::Wildcard(format!("t{i}.example.com").into())],
                _ => vec![],
            };
            let path_prefix = format!("/svc{i}").into();
            (i + 1, RouteMatch { hosts, path_prefix })
        })
        .collect();
    let router = Router::new(&specs).unwrap();
    for (host, path) in [
        (&b"APP0.Example.com:8443"[..], &b"/svc0/x"[..]),
        (b"a.t1.example.com", b"/svc1"),
        (b"none.test", b"/svc2/deep/path/here"),
        (b"none.test", b"/nothing/at/all"),
    ] {
        let n = allocations_in(|| {
            std::hint::black_box(router.select(Some(host), path));
        });
        assert_eq!(n, 0, "{host:?} {path:?}");
    }
}

#[test]
fn normalising_an_already_normal_path_does_not_allocate() {
    let n = allocations_in(|| {
        std::hint::black_box(helmgate::path::normalize(b"/api/v1/users/42").unwrap());
    });
    assert_eq!(n, 0);
}
