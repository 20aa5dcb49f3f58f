//! The client's `Connection` header (RFC 9110 7.6.1), read the same way by
//! the fast path and the hooks: did it ask to close, to keep alive, or name
//! other hop-by-hop headers.

use http::Version;

/// What the `Connection` values of one request say.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTokens {
    pub close: bool,
    pub keep_alive: bool,
    /// Any other token (a hop-by-hop nomination), an empty one included.
    pub other: bool,
}

impl ConnectionTokens {
    /// The tokens of every value, in order.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> ConnectionTokens {
        let mut tokens = ConnectionTokens::default();
        for value in values {
            tokens.add(value);
        }
        tokens
    }

    /// Add one `Connection` value's tokens.
    pub fn add(&mut self, value: &[u8]) {
        for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else {
                self.other = true;
            }
        }
    }

    /// Whether the connection may stay open after this request: HTTP/1.1
    /// unless it says `close`, HTTP/1.0 only if it says `keep-alive`.
    pub fn keep_open(self, version: Version) -> bool {
        match version {
            Version::HTTP_10 | Version::HTTP_09 => self.keep_alive,
            Version::HTTP_11 => !self.close,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_case_blind_across_values() {
        let t = ConnectionTokens::of([&b"Keep-Alive"[..], b" CLOSE , x-hop"]);
        assert_eq!(
            t,
            ConnectionTokens {
                close: true,
                keep_alive: true,
                other: true
            }
        );
        assert!(ConnectionTokens::of([&b","[..]]).other);
    }

    #[test]
    fn http10_keeps_open_only_when_asked_and_http11_unless_told() {
        let none = ConnectionTokens::default();
        let keep = ConnectionTokens::of([&b"keep-alive"[..]]);
        let close = ConnectionTokens::of([&b"close"[..]]);
        assert!(!none.keep_open(Version::HTTP_10));
        assert!(keep.keep_open(Version::HTTP_10));
        assert!(none.keep_open(Version::HTTP_11));
        assert!(!close.keep_open(Version::HTTP_11));
    }
}
