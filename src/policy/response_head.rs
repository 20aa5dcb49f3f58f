//! The bare response heads the gateway's own answers start from.

use http::header::HeaderMap;
use http::StatusCode;
use pingora::http::ResponseHeader;

/// A response head with no headers yet, without a case map: its names go
/// out in Title-Case on HTTP/1.1 (unless `[server] preserve_header_case`),
/// whichever layer writes it, and lower case on HTTP/2.
pub fn new_response(status: u16, size_hint: usize) -> ResponseHeader {
    match ResponseHeader::build_no_case(status, Some(size_hint)) {
        Ok(resp) => resp,
        // Only fails for an invalid status code, and ours are constants.
        Err(_) => unreachable_status(status),
    }
}

/// A response head holding `headers`, without a case map, as
/// `new_response` makes it; built from the map directly because
/// `insert_header` parses every name again from its bytes (the fast path's
/// preflights and 403s pay that per header).
pub fn response_with(status: StatusCode, headers: HeaderMap) -> ResponseHeader {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.headers = headers;
    ResponseHeader::from(parts)
}

#[cold]
fn unreachable_status(status: u16) -> ResponseHeader {
    panic!("helmgate bug: {status} is not a valid HTTP status")
}
