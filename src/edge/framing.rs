//! Request framing we refuse even where Pingora would accept it, because an
//! upstream might frame the request differently (request smuggling).
//!
//! Pingora 0.9 drops `Content-Length` from the parsed headers when
//! `Transfer-Encoding` is present, so the check reads the raw request head.

use pingora::proxy::Session;

use crate::edge::answer::GatewayError;

/// Counts of the framing headers as the client sent them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RawHead {
    pub content_length: usize,
    pub transfer_encoding: usize,
    pub host: usize,
    pub http11: bool,
}

impl RawHead {
    /// Scan a raw HTTP/1.x request head (request line plus header lines).
    pub fn scan(head: &[u8]) -> RawHead {
        let mut lines = head.split(|&b| b == b'\n');
        let http11 = lines
            .next()
            .is_some_and(|l| trim_cr(l).ends_with(b"HTTP/1.1"));
        let mut counts = RawHead {
            http11,
            ..RawHead::default()
        };
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = &line[..colon];
            if name.eq_ignore_ascii_case(b"content-length") {
                counts.content_length += 1;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                counts.transfer_encoding += 1;
            } else if name.eq_ignore_ascii_case(b"host") {
                counts.host += 1;
            }
        }
        counts
    }

    /// `None` when the request may proceed.
    pub fn verdict(&self) -> Option<GatewayError> {
        // RFC 9112 6.1: both together is the classic smuggling vector; nginx
        // refuses it too.
        if self.content_length > 0 && self.transfer_encoding > 0 {
            return Some(GatewayError::BadRequest);
        }
        // RFC 9112 3.2: HTTP/1.1 needs exactly one Host; more than one is
        // always an error.
        if self.host > 1 || (self.http11 && self.host == 0) {
            return Some(GatewayError::BadRequest);
        }
        None
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `None` when the request may proceed. HTTP/2 framing is length-delimited
/// by the protocol, so only HTTP/1.x heads are checked. (The head's size was
/// bounded by the front door before Pingora parsed it.)
pub fn check(session: &Session) -> Option<GatewayError> {
    let h1 = session.as_downstream().as_http1()?;
    RawHead::scan(&h1.get_headers_raw_bytes()).verdict()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(head: &[u8]) -> Option<GatewayError> {
        RawHead::scan(head).verdict()
    }

    #[test]
    fn content_length_with_transfer_encoding_is_refused() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(verdict(head), Some(GatewayError::BadRequest));
        let head = b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\ncontent-LENGTH: 4\r\n\r\n";
        assert_eq!(verdict(head), Some(GatewayError::BadRequest));
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert_eq!(
            verdict(b"GET / HTTP/1.1\r\n\r\n"),
            Some(GatewayError::BadRequest)
        );
        assert_eq!(
            verdict(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Some(GatewayError::BadRequest)
        );
        assert_eq!(verdict(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
        assert_eq!(verdict(b"GET / HTTP/1.0\r\n\r\n"), None);
    }

    #[test]
    fn header_values_mentioning_the_names_do_not_count() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Note: content-length: 5\r\n\r\n";
        assert_eq!(RawHead::scan(head).content_length, 0);
    }
}
