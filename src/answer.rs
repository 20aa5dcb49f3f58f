//! Responses the gateway makes itself on error, from whichever layer
//! decides on them (the front door, Pingora's header checks, the hooks,
//! `fail_to_proxy`): the same status, body and headers, always carrying what
//! a normal response on that connection carries (the route's security
//! headers, HSTS over HTTPS, CORS for an allowed origin, the request id).

use bytes::{BufMut, Bytes};
use http::header::{self, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::protocols::http::date::get_cached_date;

use crate::cors;
use crate::header_edit;
use crate::policy::SitePolicy;
use crate::request::RequestFacts;
use crate::request_id::X_REQUEST_ID;

/// Why the gateway answered with an error of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayError {
    BadRequest,
    MethodNotAllowed,
    RequestTimeout,
    BodyTooLarge,
    HeaderTooLarge,
    /// Over a rate limit (the report endpoint's).
    TooManyRequests,
    Internal,
    BadGateway,
    GatewayTimeout,
}

/// The methods the gateway proxies: everything but CONNECT (and TRACE,
/// which no app behind a security gateway should answer).
const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

impl GatewayError {
    pub fn status(self) -> u16 {
        match self {
            GatewayError::BadRequest => 400,
            GatewayError::MethodNotAllowed => 405,
            GatewayError::RequestTimeout => 408,
            GatewayError::BodyTooLarge => 413,
            GatewayError::HeaderTooLarge => 431,
            GatewayError::TooManyRequests => 429,
            GatewayError::Internal => 500,
            GatewayError::BadGateway => 502,
            GatewayError::GatewayTimeout => 504,
        }
    }

    /// A fixed body: never an internal error text.
    pub fn body(self) -> &'static [u8] {
        match self {
            GatewayError::BadRequest => b"Bad Request\n",
            GatewayError::MethodNotAllowed => b"Method Not Allowed\n",
            GatewayError::RequestTimeout => b"Request Timeout\n",
            GatewayError::BodyTooLarge => b"Payload Too Large\n",
            GatewayError::HeaderTooLarge => b"Request Header Fields Too Large\n",
            GatewayError::TooManyRequests => b"Too Many Requests\n",
            GatewayError::Internal => b"Internal Server Error\n",
            GatewayError::BadGateway => b"Bad Gateway\n",
            GatewayError::GatewayTimeout => b"Gateway Timeout\n",
        }
    }

    /// Whether the connection stays usable after this answer: only when the
    /// request itself was fine and the upstream failed.
    fn keeps_connection(self) -> bool {
        matches!(
            self,
            GatewayError::BadGateway | GatewayError::GatewayTimeout
        )
    }
}

/// The security headers and request id every response of a request gets.
pub fn decorate(resp: &mut ResponseHeader, site: &SitePolicy, facts: &RequestFacts) {
    site.headers.apply(resp, facts.https);
    header_edit::replace_response(resp, &X_REQUEST_ID, facts.request_id.clone());
}

/// The same, plus the CORS headers of the request's verdict: for responses
/// the CORS answer did not already shape (proxied ones and our errors).
pub fn decorate_with_cors(resp: &mut ResponseHeader, site: &SitePolicy, facts: &RequestFacts) {
    site.cors.apply_to_response(resp, &facts.cors);
    decorate(resp, site, facts);
}

/// The head of an error answer, fully decorated.
pub fn error_head(kind: GatewayError, site: &SitePolicy, facts: &RequestFacts) -> ResponseHeader {
    let body = kind.body();
    let mut resp = cors::new_response(kind.status(), 16);
    let _ = resp.insert_header(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let _ = resp.insert_header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let _ = resp.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if kind == GatewayError::MethodNotAllowed {
        let _ = resp.insert_header(header::ALLOW, HeaderValue::from_static(ALLOW));
    }
    if !kind.keeps_connection() {
        let _ = resp.insert_header(header::CONNECTION, HeaderValue::from_static("close"));
    }
    decorate_with_cors(&mut resp, site, facts);
    resp
}

/// An answer as HTTP/1.1 bytes, for the front door, which writes to the
/// connection before Pingora has a session for it.
pub fn to_wire(resp: &ResponseHeader, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(512 + body.len());
    let status = resp.status;
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    resp.header_to_h1_wire(&mut out);
    out.put_slice(b"date: ");
    out.put_slice(get_cached_date().as_bytes());
    out.put_slice(b"\r\n\r\n");
    out.put_slice(body);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_a_complete_response() {
        let mut resp = cors::new_response(431, 4);
        resp.insert_header("content-length", "3").unwrap();
        resp.insert_header("x-frame-options", "DENY").unwrap();
        let wire = to_wire(&resp, b"abc");
        let text = String::from_utf8(wire.to_vec()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nx-frame-options: DENY\r\n"), "{text}");
        assert!(text.contains("\r\ndate: "), "{text}");
        assert!(text.ends_with("\r\n\r\nabc"), "{text}");
    }
}
