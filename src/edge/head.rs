//! Reading one HTTP/1 request head for the front door: under a total
//! deadline from its first byte and a byte and field limit, with the request
//! line checked as soon as it is complete, noticing an `Origin` field (for the
//! fast path) and an early `X-Request-Id` (for a refusal's answer).

use std::time::Duration;

use bytes::BytesMut;
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{timeout, timeout_at, Instant};

/// Pingora parses at most this many header fields; more would get its own
/// bare 400, so the front door answers 431 first.
pub const MAX_HEADER_FIELDS: usize = 256;

/// What the front door accepts for one request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// The longest head, request line and blank line included.
    pub max_bytes: usize,
    pub max_fields: usize,
    /// How long to wait for the first byte of a request.
    pub idle: Duration,
    /// How long the whole head may take once its first byte arrived.
    pub total: Duration,
}

/// What came of waiting for one request head.
#[derive(Debug)]
pub enum Head {
    /// A whole head, maybe followed by body bytes; `origin`: it has an
    /// `Origin` field.
    Complete {
        buf: BytesMut,
        origin: bool,
    },
    /// The connection closed, failed or stayed quiet before a first byte:
    /// the normal end of a keep-alive connection.
    Idle,
    /// The client went away half-way through a head.
    ClosedMidHead(usize),
    /// A request line that no HTTP/1.x parser takes (no `HTTP/1.0` or
    /// `HTTP/1.1` version, as in HTTP/0.9's `GET /`): refused at once, not
    /// after waiting for a head that will never come.
    BadRequestLine,
    /// Over the byte or field limit; the client's sane `X-Request-Id`, when
    /// its line arrived whole within the limit, for the 431 to echo.
    TooLarge(Option<HeaderValue>),
    TooManyFields(Option<HeaderValue>),
    /// The head was not complete in time; how many bytes had arrived.
    TimedOut(usize),
}

/// Where a head ends, found incrementally as bytes arrive.
#[derive(Debug, Default)]
struct Scan {
    scanned: usize,
    line_start: usize,
    seen_request_line: bool,
    bad_request_line: bool,
    fields: usize,
    origin: bool,
    /// The first `X-Request-Id` field's value, if its line ended within
    /// `id_limit` bytes.
    request_id: Option<std::ops::Range<usize>>,
    seen_request_id: bool,
    id_limit: usize,
}

/// Exactly `METHOD SP target SP HTTP/1.0|HTTP/1.1` (RFC 9112 3): one
/// space between the parts, none inside them. A lenient parser reads
/// `GET /admin x HTTP/1.1` or a doubled space one way and the upstream
/// another, so the gateway takes no other spelling.
fn has_http1_version(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && known_target_form(method, target)
        && !line.iter().any(|&b| b == b'\t' || b.is_ascii_control())
        && matches!(version, b"HTTP/1.0" | b"HTTP/1.1")
}

/// RFC 9112 3.2: a path, an absolute URL, `*`, or CONNECT's authority; and
/// never a fragment, which clients don't send and Pingora would drop
/// (`#/admin` would reach the upstream as `/`).
fn known_target_form(method: &[u8], target: &[u8]) -> bool {
    if target.contains(&b'#') {
        return false;
    }
    let absolute = |scheme: &[u8]| {
        target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme)
    };
    target.starts_with(b"/")
        || target == b"*"
        || absolute(b"http://")
        || absolute(b"https://")
        || method == b"CONNECT"
}

impl Scan {
    /// The offset just past the blank line that ends the head, if it has
    /// arrived. Bare-LF line ends count too, as Pingora accepts them.
    /// Empty lines before the request line are skipped (RFC 9112 2.2).
    fn end(&mut self, buf: &[u8]) -> Option<usize> {
        // Line by line: a search for the next LF, not a test of each byte.
        while let Some(at) = buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let i = self.scanned + at;
            self.scanned = i + 1;
            let start = self.line_start;
            let line = &buf[start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line_start = i + 1;
            if line.is_empty() {
                if self.seen_request_line {
                    return Some(i + 1);
                }
            } else if self.seen_request_line {
                self.fields += 1;
                self.origin |= line.len() > 7 && line[..7].eq_ignore_ascii_case(b"origin:");
                self.note_request_id(line, start, i);
            } else {
                self.seen_request_line = true;
                if !has_http1_version(line) {
                    self.bad_request_line = true;
                    return None;
                }
            }
        }
        self.scanned = buf.len();
        None
    }

    /// Remember where the first `X-Request-Id` value is (the line starts at
    /// `start`, its LF is at `lf`), so a 431 can echo it like every other
    /// answer.
    fn note_request_id(&mut self, line: &[u8], start: usize, lf: usize) {
        const NAME: &[u8] = b"x-request-id:";
        if self.seen_request_id
            || line.len() < NAME.len()
            || !line[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            return;
        }
        self.seen_request_id = true;
        // The whole line, LF included, within the byte limit.
        if lf < self.id_limit {
            self.request_id = Some(start + NAME.len()..start + line.len());
        }
    }

    /// The sane id noted, for a 431.
    fn request_id(&self, buf: &[u8]) -> Option<HeaderValue> {
        let value = buf.get(self.request_id.clone()?)?;
        let value = value.trim_ascii();
        crate::edge::request_id::is_sane(value)
            .then(|| HeaderValue::from_bytes(value).ok())
            .flatten()
    }
}

/// Wait for and read one request head. `carried`: bytes already read past
/// the previous request (pipelined), the start of this one.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &HeadLimits,
    carried: BytesMut,
) -> Head {
    let mut buf = carried;
    if buf.is_empty() {
        let mut first = [0u8; 1];
        match timeout(limits.idle, stream.read(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return Head::Idle,
        }
        buf.reserve(limits.max_bytes.clamp(1, 2048));
        buf.extend_from_slice(&first);
    }
    let deadline = Instant::now() + limits.total;
    let mut scan = Scan {
        id_limit: limits.max_bytes,
        ..Scan::default()
    };
    loop {
        let end = scan.end(&buf);
        if scan.bad_request_line {
            return Head::BadRequestLine;
        }
        if scan.fields > limits.max_fields {
            return Head::TooManyFields(scan.request_id(&buf));
        }
        if let Some(end) = end {
            if end > limits.max_bytes {
                return Head::TooLarge(scan.request_id(&buf));
            }
            return Head::Complete {
                buf,
                origin: scan.origin,
            };
        }
        if buf.len() > limits.max_bytes {
            return Head::TooLarge(scan.request_id(&buf));
        }
        if buf.len() == buf.capacity() {
            // Double, but never beyond what the limit lets through (plus one
            // byte, to tell "exactly at the limit" from "over it").
            let room = (limits.max_bytes + 1).saturating_sub(buf.len()).max(1);
            buf.reserve(buf.len().min(room));
        }
        match timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Head::ClosedMidHead(buf.len()),
            Ok(Ok(_)) => {}
            Err(_) => return Head::TimedOut(buf.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 64,
        max_fields: 3,
        idle: Duration::from_millis(200),
        total: Duration::from_millis(300),
    };

    async fn feed(chunks: &[&[u8]], pause: Duration) -> Head {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for c in chunks {
                client.write_all(&c).await.unwrap();
                tokio::time::sleep(pause).await;
            }
            client
        });
        let head = read_head(&mut server, &LIMITS, BytesMut::new()).await;
        drop(writer);
        head
    }

    fn complete(h: Head) -> Vec<u8> {
        match h {
            Head::Complete { buf, .. } => buf.to_vec(),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_head_split_anywhere_is_read_whole_with_what_follows() {
        let got = complete(
            feed(
                &[b"GET / HT", b"TP/1.1\r\nHost: a\r", b"\n\r\nbody"],
                Duration::ZERO,
            )
            .await,
        );
        assert_eq!(got, b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody");
        let got = complete(feed(&[b"\r\nGET / HTTP/1.1\nHost: a\n\n"], Duration::ZERO).await);
        assert_eq!(got, b"\r\nGET / HTTP/1.1\nHost: a\n\n");
    }

    #[tokio::test]
    async fn an_origin_field_is_noticed_and_carried_bytes_start_the_head() {
        let origin = |chunks: &'static [&'static [u8]]| async move {
            match feed(chunks, Duration::ZERO).await {
                Head::Complete { origin, .. } => origin,
                other => panic!("expected a complete head, got {other:?}"),
            }
        };
        assert!(origin(&[b"GET / HTTP/1.1\r\nHost: a\r\nORIGIN: https://a\r\n\r\n"]).await);
        assert!(!origin(&[b"GET / HTTP/1.1\r\nHost: a\r\nOrigins: x\r\n\r\n"]).await);
        assert!(!origin(&[b"GET /origin: HTTP/1.1\r\nHost: origin:\r\n\r\n"]).await);

        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"st: a\r\n\r\n").await.unwrap();
        let carried = BytesMut::from(&b"GET / HTTP/1.1\r\nHo"[..]);
        let got = complete(read_head(&mut server, &LIMITS, carried).await);
        assert_eq!(got, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[tokio::test]
    async fn limits_on_bytes_fields_and_time() {
        let big = [b'a'; 80];
        assert!(matches!(
            feed(&[b"GET / HTTP/1.1\r\nX: ", &big], Duration::ZERO).await,
            Head::TooLarge(None)
        ));
        // Arriving whole or not, a head with too many fields is refused.
        let many = b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n\r\n";
        assert!(matches!(
            feed(&[many], Duration::ZERO).await,
            Head::TooManyFields(None)
        ));
        let three = b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\n\r\n";
        assert!(matches!(
            feed(&[three], Duration::ZERO).await,
            Head::Complete { origin: false, .. }
        ));
        // A trickle resets no timer: the deadline counts from the first byte.
        let trickle: Vec<&[u8]> = vec![b"G", b"E", b"T", b" ", b"/", b" "];
        assert!(
            matches!(feed(&trickle, Duration::from_millis(100)).await, Head::TimedOut(n) if (3..6).contains(&n))
        );
    }

    #[tokio::test]
    async fn a_request_line_without_an_http1_version_is_refused_at_once() {
        for line in [
            &b"GET /\r\n"[..],
            b"GET /\n",
            b"GET / HTTP/2.0\r\n",
            b"GET / HTTP/1.1 \r\n",
            b"GET HTTP/1.1\r\n",
            b"\r\nGARBAGE\r\n",
            b"GET /admin x HTTP/1.1\r\n",
            b"GET  /admin HTTP/1.1\r\n",
            b"GET /admin\tHTTP/1.1\r\n",
            b"GET ?/admin HTTP/1.1\r\n",
            b"GET #/admin HTTP/1.1\r\n",
            b"GET /a#b HTTP/1.1\r\n",
            b"GET admin HTTP/1.1\r\n",
        ] {
            // No more bytes follow: the answer must not wait for them.
            let got = feed(&[line], Duration::from_secs(5)).await;
            assert!(matches!(got, Head::BadRequestLine), "{line:?}: {got:?}");
        }
        for line in [&b"GET / HTTP/1.1\r\n"[..], b"GET /a HTTP/1.0\n"] {
            let got = feed(&[line], Duration::ZERO).await;
            assert!(matches!(got, Head::TimedOut(_)), "{line:?}: {got:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_head_keeps_a_sane_request_id_that_arrived_within_the_limit() {
        let big = [b'a'; 80];
        let id = |h: Head| match h {
            Head::TooLarge(id) | Head::TooManyFields(id) => id,
            other => panic!("expected a refused head, got {other:?}"),
        };
        let got = id(feed(
            &[b"GET / HTTP/1.1\r\nx-request-ID:  r-1 \r\nX: ", &big],
            Duration::ZERO,
        )
        .await);
        assert_eq!(got, Some(HeaderValue::from_static("r-1")));
        // Not sane, or its line not whole within the 64 bytes: none.
        let got = id(feed(
            &[b"GET / HTTP/1.1\r\nX-Request-Id: a b\r\nX: ", &big],
            Duration::ZERO,
        )
        .await);
        assert_eq!(got, None);
        let late = b"GET / HTTP/1.1\r\nX: 0123456789012345678901234567890\r\nX-Request-Id: r-2\r\n";
        assert_eq!(id(feed(&[late, &big], Duration::ZERO).await), None);
        let many = b"GET / HTTP/1.1\r\nX-Request-Id: r-3\r\nb: 1\r\nc: 1\r\nd: 1\r\n\r\n";
        assert_eq!(
            id(feed(&[many], Duration::ZERO).await),
            Some(HeaderValue::from_static("r-3"))
        );
    }

    #[tokio::test]
    async fn quiet_or_closed_connections_are_idle_or_cut() {
        assert!(matches!(feed(&[], Duration::ZERO).await, Head::Idle));
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(matches!(
            read_head(&mut server, &LIMITS, BytesMut::new()).await,
            Head::Idle
        ));
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        drop(client);
        assert!(matches!(
            read_head(&mut server, &LIMITS, BytesMut::new()).await,
            Head::ClosedMidHead(16)
        ));
    }
}
