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
use bytes::{Buf, Bytes, BytesMut};
use http::HeaderValue;
use pingora::apps::{
    HttpPersistentSettings, HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp,
};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::edge::fast;
use crate::edge::head::{read_head, Head, HeadLimits, MAX_HEADER_FIELDS};
use crate::edge::listener::Listener;
use crate::edge::refusal;
use crate::observe::refused::Refusal;
use crate::policy::ServerSettings;
use crate::state::SharedState;

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
        match timeout(Duration::from_secs(5), write).await {
            Ok(Ok(())) => linger(&mut stream).await,
            Ok(Err(e)) => log::debug!(
                "could not send {} to {peer:?}: {e}",
                refusal::kind(refusal).status()
            ),
            Err(_) => {}
        }
    }
}

/// After a refusal: how long, and how many bytes, the front door goes on
/// reading (and dropping) what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Read and drop the rest of a refused request before closing (nginx's
/// lingering close). Closing a socket with unread bytes makes the kernel
/// send RST, which can destroy the answer before the client reads it: a
/// client still sending an oversized head would see a reset, not our 431.
async fn linger(stream: &mut Stream) {
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    // On the heap: an array here would grow every connection's future,
    // idle ones included, by its size.
    let mut sink = vec![0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
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

    /// The stream back from Pingora's finished session, with its persistent
    /// settings and the bytes it read past the request (the start of the
    /// next head).
    fn reclaim(&mut self, reused: ReusedHttpStream) -> Stream {
        let (stream, settings) = reused.consume();
        self.settings = settings;
        if let Some(next) = self
            .settings
            .as_mut()
            .and_then(|s| s.take_pipelined_prefix())
        {
            self.carried = next;
        }
        stream
    }

    /// Pingora's session for a head the front door has read, set up as
    /// Pingora's own reuse loop would (`vendor/copied/`), plus the facts the
    /// fast path already worked out and the head: parsed, or as bytes for
    /// Pingora to parse.
    fn session(
        &mut self,
        stream: Stream,
        server: &ServerView,
        prepared: Option<Box<fast::Prepared>>,
        shutting_down: bool,
        head: HandedHead,
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
        session.set_preserve_header_case(server.preserve_header_case);
        match head {
            HandedHead::Parsed(parsed, mut rest) => {
                rest.advance(parsed.head.len());
                session.set_parsed_request(parsed.head, parsed.header, rest);
            }
            HandedHead::Bytes(prefix) => session.set_pipelined_prefix(prefix),
        }
        session
    }
}

/// A head as the front door hands it to Pingora's session.
enum HandedHead {
    /// Parsed by the fast path; with the bytes read, from the head on.
    Parsed(fast::Parsed, BytesMut),
    /// Read, for Pingora to parse.
    Bytes(BytesMut),
}

impl HandedHead {
    /// `read`: the bytes read, from the head on.
    fn new(parsed: Option<fast::Parsed>, read: BytesMut) -> HandedHead {
        match parsed {
            Some(parsed) => HandedHead::Parsed(parsed, read),
            None => HandedHead::Bytes(read),
        }
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
        if let Some(ALPN::Custom(protocol)) = stream.selected_alpn_proto() {
            // acme-tls/1 (RFC 8737) carries no application data: the CA's
            // handshake was the whole validation.
            if protocol.protocol() == crate::policy::acme::ACME_TLS_ALPN {
                return None;
            }
        }
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
            let mut parsed = None;
            if origin && self.listener == Listener::Proxy {
                let keep_alive = conn.reuses_remaining != Some(0)
                    && !server.keepalive.is_zero()
                    && !*shutdown.borrow();
                match fast::answer(&self.state, &prefix, peer, tls, keep_alive) {
                    fast::Outcome::Answered(fast) => {
                        conn.carried = write_fast(&mut stream, &fast, &mut prefix, &server).await?;
                        continue;
                    }
                    fast::Outcome::Prepared(facts, head) => {
                        (prepared, parsed) = (Some(facts), head)
                    }
                    fast::Outcome::Pass => {}
                }
            }
            let head = HandedHead::new(parsed, prefix);
            let session = conn.session(stream, &server, prepared, *shutdown.borrow(), head);
            stream = conn.reclaim(self.app.process_new_http(session, &shutdown).await?);
        }
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
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
