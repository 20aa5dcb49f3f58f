//! The front door of every HTTP/1 listener. It reads each request head
//! itself, before Pingora sees it, under a total deadline
//! (`request_header_timeout_secs`, nginx's `client_header_timeout`) and a
//! byte and header-count limit, and answers the heads it refuses with the
//! gateway's own, fully decorated 408 or 431. A complete head is handed to
//! Pingora as a pipelined prefix, so Pingora parses it without reading the
//! socket again.
//!
//! Why here and not in a hook: Pingora restarts its head read timer on every
//! byte and buffers up to 1 MiB before any hook runs, so a trickling client
//! held memory and a connection indefinitely; and while a keep-alive
//! connection waits for its next request Pingora keeps the whole request
//! future (~13 KiB) and a 4 KiB header buffer alive. Waiting here needs a
//! one-byte buffer.
//!
//! Having the head in hand, the front door also answers what never goes
//! upstream, a CORS preflight or a refused origin, itself (`fast`): building
//! Pingora's session and running its hooks cost more than the answer. And
//! it reads pipelined requests (RFC 9112 9.3.2) one after the other, from
//! the bytes already read as much as from the socket.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};

use crate::edge::fast;
use crate::edge::listener::Listener;
use crate::edge::refusal;
use crate::observe::refused::Refusal;
use crate::policy::ServerSettings;
use crate::state::SharedState;

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
        while self.scanned < buf.len() {
            let i = self.scanned;
            self.scanned += 1;
            if buf[i] != b'\n' {
                continue;
            }
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

pub struct FrontDoor<A> {
    app: Arc<A>,
    state: Arc<SharedState>,
    listener: Listener,
}

impl<A> FrontDoor<A> {
    pub fn new(app: Arc<A>, state: Arc<SharedState>, listener: Listener) -> FrontDoor<A> {
        FrontDoor {
            app,
            state,
            listener,
        }
    }

    /// Write one of the front door's own answers and close. `request_id`:
    /// the client's, when it arrived before the head was refused.
    async fn refuse(
        &self,
        mut stream: Stream,
        refusal: Refusal,
        peer: Option<IpAddr>,
        tls: bool,
        request_id: Option<HeaderValue>,
    ) {
        let wire: Bytes =
            refusal::answer(&self.state, self.listener, refusal, peer, tls, request_id);
        let write = async {
            stream.write_all(&wire).await?;
            stream.flush().await?;
            stream.shutdown().await
        };
        if let Err(e) = timeout(Duration::from_secs(5), write)
            .await
            .unwrap_or(Ok(()))
        {
            log::debug!(
                "could not send {} to {peer:?}: {e}",
                refusal::kind(refusal).status()
            );
        }
    }
}

/// The limits of one request head.
fn head_limits(server: &ServerSettings, first_request: bool) -> HeadLimits {
    HeadLimits {
        max_bytes: server.max_request_header_bytes,
        max_fields: MAX_HEADER_FIELDS,
        // A new connection gets the header timeout to say something; a
        // kept-alive one the keep-alive timeout.
        idle: if first_request {
            server.request_header_timeout
        } else {
            server.keepalive_timeout
        },
        total: server.request_header_timeout,
    }
}

/// What a keep-alive connection carries from one request to the next.
struct Connection {
    settings: Option<HttpPersistentSettings>,
    first_request: bool,
    reuses_remaining: Option<u32>,
    /// Bytes read past the previous request: the start of the next head.
    carried: BytesMut,
}

impl Connection {
    fn new(options: Option<&HttpServerOptions>) -> Connection {
        Connection {
            settings: None,
            first_request: true,
            // Pingora's count: the first request is not a reuse.
            reuses_remaining: options.and_then(|o| o.keepalive_request_limit),
            carried: BytesMut::new(),
        }
    }

    fn next_request(&mut self) {
        if !self.first_request {
            if let Some(left) = self.reuses_remaining.as_mut() {
                *left = left.saturating_sub(1);
            }
        }
        self.first_request = false;
    }

    /// Pingora's session for a head the front door has read, set up as
    /// Pingora's own reuse loop would (`vendor/copied/`), plus the facts the
    /// fast path already worked out and the pipelined bytes.
    fn session(
        &mut self,
        stream: Stream,
        server: &ServerView,
        prepared: Option<Box<fast::Prepared>>,
        shutting_down: bool,
        prefix: BytesMut,
    ) -> ServerSession {
        let mut session = ServerSession::new_http1(stream);
        session.set_keepalive(Some(server.keepalive.as_secs()));
        if let Some(s) = self.settings.take() {
            s.apply_to_session(&mut session);
        }
        session.set_keepalive_reuses_remaining(self.reuses_remaining);
        if let Some(prepared) = prepared {
            // Taken by the proxy's first hook (`early_request_filter`).
            session.set_request_context(Some(prepared));
        }
        if shutting_down {
            session.set_keepalive(None);
        }
        // Sequential pipelining (RFC 9112 9.3.2): what Pingora read past
        // this request comes back as the start of the next head.
        session.set_pipelining_enabled(true);
        session.set_pipelined_prefix(prefix);
        session.set_preserve_header_case(server.preserve_header_case);
        session
    }
}

/// The `[server]` settings one request needs, copied out of the policy.
struct ServerView {
    limits: HeadLimits,
    keepalive: Duration,
    preserve_header_case: bool,
}

impl ServerView {
    fn of(server: &ServerSettings, first_request: bool) -> ServerView {
        ServerView {
            limits: head_limits(server, first_request),
            keepalive: server.keepalive_timeout,
            preserve_header_case: server.preserve_header_case,
        }
    }
}

/// Write a fast-path answer. The bytes after its request (the next
/// pipelined one) if the connection goes on, `None` if it is closed.
async fn write_fast(
    stream: &mut Stream,
    fast: &fast::FastAnswer,
    buf: &mut BytesMut,
    server: &ServerView,
) -> Option<BytesMut> {
    let write = async {
        stream.write_all(&fast.wire).await?;
        stream.flush().await
    };
    let written = timeout(server.limits.total, write).await;
    if fast.close || !matches!(written, Ok(Ok(()))) {
        let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
        return None;
    }
    Some(buf.split_off(fast.consumed))
}

impl<A> FrontDoor<A> {
    /// A complete head, with the stream back; or the front door's refusal
    /// written (or nothing, if the client left) and `None`.
    async fn complete(
        &self,
        head: Head,
        stream: Stream,
        peer: Option<IpAddr>,
        tls: bool,
        server: &ServerView,
    ) -> Option<(Stream, BytesMut, bool)> {
        let (refusal, bytes, id) = match head {
            Head::Complete { buf, origin } => return Some((stream, buf, origin)),
            Head::Idle => return None,
            Head::ClosedMidHead(bytes) => {
                refusal::note(&self.state, Refusal::ClosedMidHead, peer, bytes);
                return None;
            }
            Head::BadRequestLine => (Refusal::Malformed, 0, None),
            Head::TooLarge(id) => (Refusal::HeadTooLarge, server.limits.max_bytes, id),
            Head::TooManyFields(id) => (Refusal::TooManyFields, 0, id),
            Head::TimedOut(bytes) => (Refusal::HeadTimeout, bytes, None),
        };
        refusal::note(&self.state, refusal, peer, bytes);
        self.refuse(stream, refusal, peer, tls, id).await;
        None
    }
}

#[async_trait]
impl<A> ServerApp for FrontDoor<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 frames its own headers; Pingora's h2 path as it is.
            return ServerApp::process_new(&self.app, stream, shutdown).await;
        }
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let tls = stream.get_ssl_digest().is_some();
        let mut conn = Connection::new(self.app.server_options());
        let mut shutdown = shutdown.clone();
        loop {
            if *shutdown.borrow() && !conn.first_request {
                return None;
            }
            // `[server]` changes take effect on restart only, so one load of
            // the policy serves this whole request (copied out, so an idle
            // connection doesn't keep a replaced policy alive).
            let server = ServerView::of(&self.state.policy().server, conn.first_request);
            let head = tokio::select! {
                head = read_head(&mut stream, &server.limits, std::mem::take(&mut conn.carried)) => head,
                _ = shutdown.changed(), if !conn.first_request => return None,
            };
            let (returned, mut prefix, origin) =
                self.complete(head, stream, peer, tls, &server).await?;
            stream = returned;
            conn.next_request();
            let mut prepared = None;
            if origin && self.listener == Listener::Proxy {
                let keep_alive = conn.reuses_remaining != Some(0)
                    && !server.keepalive.is_zero()
                    && !*shutdown.borrow();
                match fast::answer(&self.state, &prefix, peer, tls, keep_alive) {
                    fast::Outcome::Answered(fast) => {
                        conn.carried = write_fast(&mut stream, &fast, &mut prefix, &server).await?;
                        continue;
                    }
                    fast::Outcome::Prepared(facts) => prepared = Some(facts),
                    fast::Outcome::Pass => {}
                }
            }
            let session = conn.session(stream, &server, prepared, *shutdown.borrow(), prefix);
            let reused = self.app.process_new_http(session, &shutdown).await?;
            let settings;
            (stream, settings) = reused.consume();
            conn.settings = settings;
            if let Some(next) = conn
                .settings
                .as_mut()
                .and_then(|s| s.take_pipelined_prefix())
            {
                conn.carried = next;
            }
        }
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A file of the vendored Pingora.
    fn vendored(path: &str) -> String {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vendor")
            .join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (if Pingora is no longer vendored, read the crate's source instead)",
                full.display()
            )
        })
    }

    /// The function with signature `sig` that follows `anchor` in `source`,
    /// from its line to its closing brace.
    fn function(source: &str, anchor: &str, sig: &str) -> Option<String> {
        let at = source.find(anchor)?;
        let sig_at = at + source[at..].find(sig)?;
        let start = source[..sig_at].rfind('\n').map_or(0, |i| i + 1);
        let mut depth = 0;
        for (i, c) in source[sig_at..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return Some(source[start..=sig_at + i].to_string()),
                '}' => depth -= 1,
                _ => {}
            }
        }
        None
    }

    /// Code with comments and whitespace differences taken out.
    fn normalized(code: &str) -> String {
        code.lines()
            .map(|l| l.find("//").map_or(l, |i| &l[..i]))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `FrontDoor::process_new` re-implements Pingora's HTTP/1 loop (the
    /// `ServerApp` impl every `HttpServerApp` gets): a new session per
    /// request, keep-alive off once shutting down, `keepalive_request_limit`
    /// with the first request not counted as a reuse, the persistent settings
    /// of the previous session applied to the next; HTTP/2 by ALPN goes to
    /// Pingora's own. vendor/copied/ holds the Pingora code this was copied
    /// from; if a Pingora upgrade changed it, this fails until the front door
    /// is re-checked against the new code and the copy is updated.
    #[test]
    fn pingoras_http1_reuse_loop_is_what_the_front_door_copies() {
        let source = vendored("pingora-core/src/apps/mod.rs");
        let current: Vec<String> = [
            ("impl HttpPersistentSettings", "pub fn apply_to_session("),
            ("impl<T> ServerApp for T", "async fn process_new("),
        ]
        .iter()
        .map(|(anchor, sig)| {
            function(&source, anchor, sig).unwrap_or_else(|| {
                panic!("pingora-core src/apps/mod.rs has no `{sig}` in `{anchor}` any more: re-check src/front.rs against Pingora's HTTP/1 loop")
            })
        })
        .collect();
        let current = current.join("\n\n");
        let copied = vendored("copied/pingora-core-http1-reuse-loop.rs.txt");
        assert!(
            normalized(&current) == normalized(&copied),
            "Pingora's HTTP/1 reuse loop (pingora-core src/apps/mod.rs) is no longer what \
             src/front.rs copies (vendor/copied/pingora-core-http1-reuse-loop.rs.txt): re-check \
             FrontDoor::process_new against it (keep-alive, reuse count, persistent settings, \
             protocol choice), then replace the copy with:\n{current}"
        );
    }
}
