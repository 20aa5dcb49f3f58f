//! Pages and endpoints for the browser tests (tests/it/browser.rs), served by
//! the test upstream under `/e2e/` and `/static/e2e-`.

use super::upstream::Recorded;

/// The cookie `/e2e/set-cookie` sets: host-only, `HttpOnly` (so no page
/// script can read or forge it: only the browser's cookie jar sends it).
pub const E2E_COOKIE: &str = "helmgate_e2e=s3cret";

/// A page like [`HTML_PAGE`] whose first (external) script records every
/// `securitypolicyviolation` event in `window.violations`.
pub const E2E_CSP_PROBE: &str = r#"<!doctype html><html><head><title>csp probe</title><link rel="icon" href="data:,"></head><body>
<script src="/static/e2e-listen.js"></script>
<script>window.inlineRan = true;</script>
<script src="/static/app.js"></script>
</body></html>"#;

/// Three inline scripts: one with the gateway's nonce (written in place of
/// the placeholder), one without a nonce, one with a wrong one. The first
/// also records every `securitypolicyviolation` with its disposition.
pub const E2E_NONCE_PROBE: &str = r#"<!doctype html><html><head><title>nonce probe</title><link rel="icon" href="data:,"></head><body>
<script nonce="__CSP_NONCE__">window.violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.violations.push({ directive: e.effectiveDirective, disposition: e.disposition });
});
window.nonceRan = true;</script>
<script>window.plainRan = true;</script>
<script nonce="d3Jvbmctbm9uY2U=">window.wrongRan = true;</script>
</body></html>"#;

pub const E2E_LISTEN_JS: &str = "window.violations = [];\
document.addEventListener('securitypolicyviolation', function (e) {\
  window.violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI });\
});";

/// A page that loads a script from another origin (`http://127.0.0.1:CDN`,
/// from the query `?cdn=CDN`) and runs an inline script marked with the
/// nonce placeholder (the gateway fills it only once its CSP has a nonce).
pub fn e2e_learn_probe(cdn_port: u16) -> String {
    format!(
        r#"<!doctype html><html><head><title>learn probe</title><link rel="icon" href="data:,"></head><body>
<script src="/static/e2e-listen.js"></script>
<script nonce="__CSP_NONCE__">window.inlineRan = true;</script>
<script src="http://127.0.0.1:{cdn_port}/static/app.js"></script>
</body></html>"#
    )
}

/// A page meant to be framed: its script tells the parent it rendered.
pub const E2E_FRAMED: &str = r#"<!doctype html><html><head><title>framed</title><link rel="icon" href="data:,"></head><body>
framed
<script src="/static/e2e-framed.js"></script>
</body></html>"#;

pub const E2E_FRAMED_JS: &str = "parent.postMessage('rendered:' + location.origin, '*');";

/// The responses under `/e2e/` and `/static/e2e-`, used by the browser tests
/// both as the upstream behind the gateway and as the pages' own servers:
/// - `/e2e/page`: an empty HTML page to run scripts from;
/// - `/e2e/open-cors…`: CORS that allows anything (echoes the `Origin`, the
///   requested method and headers, with credentials), for controls;
/// - `/e2e/set-cookie`: sets [`E2E_COOKIE`] (`SameSite=Lax`, `HttpOnly`);
/// - `/e2e/csp-probe`: [`E2E_CSP_PROBE`]; `/e2e/framed`: [`E2E_FRAMED`];
/// - `/e2e/learn-probe?cdn=PORT`: [`e2e_learn_probe`];
/// - `/static/e2e-listen.js`, `/static/e2e-framed.js`: their scripts;
/// - anything else: 404 (e.g. `/e2e/ws`, where a WebSocket handshake fails
///   after reaching this server).
///
/// Every page names a `data:` icon, so the browser never asks for
/// `/favicon.ico` (a request that would land in the record at any time).
pub fn e2e_response(req: &Recorded) -> Vec<u8> {
    let path = req.path.split('?').next().unwrap_or("");
    let html = "text/html; charset=utf-8";
    let js = "application/javascript";
    let cdn = req
        .path
        .split_once("?cdn=")
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(1);
    let learn_probe = e2e_learn_probe(cdn);
    let (status, extra, content_type, body): (&str, String, &str, &str) = match path {
        "/e2e/learn-probe" => ("200 OK", String::new(), html, &learn_probe),
        "/e2e/page" => (
            "200 OK",
            String::new(),
            html,
            "<!doctype html><html><head><title>e2e</title><link rel=\"icon\" href=\"data:,\"></head><body>e2e</body></html>",
        ),
        p if p.starts_with("/e2e/open-cors") => {
            let origin = req.header("origin").unwrap_or("*");
            let method = req.header("access-control-request-method").unwrap_or("GET");
            let headers = req.header("access-control-request-headers").unwrap_or("");
            (
                "200 OK",
                format!(
                    "Access-Control-Allow-Origin: {origin}\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Methods: {method}\r\nAccess-Control-Allow-Headers: {headers}\r\nVary: Origin\r\n"
                ),
                "text/plain",
                "open",
            )
        }
        "/e2e/set-cookie" => (
            "200 OK",
            format!("Set-Cookie: {E2E_COOKIE}; Path=/; SameSite=Lax; HttpOnly\r\n"),
            html,
            "<!doctype html><title>cookie</title><link rel=\"icon\" href=\"data:,\">cookie set",
        ),
        "/e2e/csp-probe" => ("200 OK", String::new(), html, E2E_CSP_PROBE),
        "/e2e/nonce-probe" => ("200 OK", String::new(), html, E2E_NONCE_PROBE),
        "/e2e/framed" => ("200 OK", String::new(), html, E2E_FRAMED),
        "/static/e2e-listen.js" => ("200 OK", String::new(), js, E2E_LISTEN_JS),
        "/static/e2e-framed.js" => ("200 OK", String::new(), js, E2E_FRAMED_JS),
        _ => ("404 Not Found", String::new(), "text/plain", "no such page"),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}
