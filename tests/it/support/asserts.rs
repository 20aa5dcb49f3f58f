//! Assertions shared by the suites.

use super::client::Response;

/// Security headers every production response must carry (HSTS aside).
pub const CSP_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";

pub fn assert_production_headers(r: &Response) {
    assert_production_headers_with_csp(r, CSP_PRODUCTION);
}

/// The production set from a gateway with `[reports]` on (plain HTTP): the
/// CSP names the collector.
pub fn assert_production_headers_reporting(r: &Response) {
    assert_production_headers_with_csp(
        r,
        &format!("{CSP_PRODUCTION}; report-uri /.helmgate/reports"),
    );
}

pub fn assert_production_headers_with_csp(r: &Response, csp: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(csp),
        "CSP on {r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{r:?}"
    );
    assert_eq!(
        r.header("cross-origin-embedder-policy"),
        Some("require-corp"),
        "{r:?}"
    );
    assert!(!r.has("x-powered-by"), "{r:?}");
}
