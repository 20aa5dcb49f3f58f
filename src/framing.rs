//! Request framing we refuse even where Pingora would accept it, because an
//! upstream might frame the request differently (request smuggling), plus the
//! request-head size cap.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::Version;
use pingora::proxy::Session;

use crate::proxy::GatewayError;

/// `None` when the request may proceed.
pub fn check(session: &Session, max_header_bytes: usize) -> Option<GatewayError> {
    let downstream = session.as_downstream();
    if let Some(h1) = downstream.as_http1() {
        if h1.get_headers_raw_bytes().len() > max_header_bytes {
            return Some(GatewayError::HeaderTooLarge);
        }
    }
    let req = session.req_header();
    check_head(
        req.version,
        downstream.is_http2(),
        req.headers.get_all(HOST).iter().count(),
        req.headers.contains_key(CONTENT_LENGTH),
        req.headers.contains_key(TRANSFER_ENCODING),
    )
}

/// The pure rule, for tests.
pub fn check_head(
    version: Version,
    http2: bool,
    host_headers: usize,
    has_content_length: bool,
    has_transfer_encoding: bool,
) -> Option<GatewayError> {
    // RFC 9112 6.1: a request with both is a smuggling vector; nginx refuses it.
    if has_content_length && has_transfer_encoding {
        return Some(GatewayError::BadRequest);
    }
    if !http2 {
        // RFC 9112 3.2: HTTP/1.1 requires exactly one Host; more than one is
        // always an error.
        if host_headers > 1 || (version == Version::HTTP_11 && host_headers == 0) {
            return Some(GatewayError::BadRequest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_with_transfer_encoding_is_refused() {
        assert_eq!(
            check_head(Version::HTTP_11, false, 1, true, true),
            Some(GatewayError::BadRequest)
        );
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert_eq!(
            check_head(Version::HTTP_11, false, 0, false, false),
            Some(GatewayError::BadRequest)
        );
        assert_eq!(
            check_head(Version::HTTP_11, false, 2, false, false),
            Some(GatewayError::BadRequest)
        );
        assert_eq!(check_head(Version::HTTP_11, false, 1, false, false), None);
        assert_eq!(check_head(Version::HTTP_10, false, 0, false, false), None);
    }
}
