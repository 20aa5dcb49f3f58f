//! The bare response heads the gateway's own answers start from, and
//! header lines built once to be written as they are after a head's fields.

use bytes::Bytes;
use http::header::HeaderMap;
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::protocols::http::v1::common::title_case_headers_to_wire;

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

/// Header lines, each ending in CRLF, in the two spellings a head without a
/// case map is written in: Title-Case (`[server] preserve_header_case` off)
/// and as Pingora writes one (lower case but for a dozen common names).
/// Built once, copied after a head's fields on every response.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    title_case: Bytes,
    as_pingora_writes: Bytes,
}

impl Lines {
    /// `fields` as lines, in the map's order.
    pub fn of(fields: HeaderMap) -> Lines {
        let head = response_with(StatusCode::OK, fields);
        let mut title_case = bytes::BytesMut::with_capacity(256);
        title_case_headers_to_wire(&head.headers, &mut title_case);
        let mut as_pingora_writes = Vec::with_capacity(256);
        head.header_to_h1_wire(&mut as_pingora_writes);
        Lines {
            title_case: title_case.freeze(),
            as_pingora_writes: Bytes::from(as_pingora_writes),
        }
    }

    /// The lines spelled as a head written with (`title_case`) or without
    /// Title-Case names.
    pub fn get(&self, title_case: bool) -> &Bytes {
        if title_case {
            &self.title_case
        } else {
            &self.as_pingora_writes
        }
    }
}

#[cold]
fn unreachable_status(status: u16) -> ResponseHeader {
    panic!("helmgate bug: {status} is not a valid HTTP status")
}
