//! Responses the gateway makes itself on error, from whichever layer
//! decides on them (the front door, Pingora's header checks, the hooks,
//! `fail_to_proxy`): the same status, body and headers, always carrying what
//! a normal response on that connection carries (the route's security
//! headers, HSTS over HTTPS, CORS for an allowed origin, the request id).

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::http::v1::common::title_case_headers_to_wire;
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;

use crate::edge::nonce;
use crate::edge::request::RequestFacts;
use crate::policy::fetch_metadata::{self, FetchMetadataMode};
use crate::policy::header_edit::{self, HeaderEdit, Name};
use crate::policy::headers::Block;
use crate::policy::response_head::new_response;
use crate::policy::vary;
use crate::policy::SitePolicy;

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

const REQUEST_ID: Name = Name::from_static("x-request-id");
const CONTENT_TYPE: Name = Name::from_static("content-type");
const CONTENT_LENGTH: Name = Name::from_static("content-length");
const CACHE_CONTROL: Name = Name::from_static("cache-control");
const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");
const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
const CONNECTION: Name = Name::from_static("connection");
const ALLOW_HEADER: Name = Name::from_static("allow");

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
    header_edit::edit_response(resp, |h| decorate_headers(h, site, facts));
}

fn decorate_headers(resp: &mut dyn HeaderEdit, site: &SitePolicy, facts: &RequestFacts) {
    let minted;
    let nonce = match (&facts.nonce, site.headers.nonce()) {
        (Some(n), _) => Some(n),
        // A response made before the request's facts were known.
        (None, Some(_)) => {
            minted = nonce::mint();
            Some(&minted)
        }
        (None, None) => None,
    };
    site.headers.apply(resp, facts.https, nonce);
    if nonce.is_some() {
        keep_out_of_caches(resp);
    }
    resp.set(&REQUEST_ID, facts.request_id.clone());
}

/// A nonce must never be reused, so a response carrying one is never
/// stored: `Cache-Control: no-store` in place of whatever the upstream said
/// (`private, max-age=3600` still lets the browser's cache replay it),
/// unless it already said `no-store`; and no CDN-only directives, which
/// would outrank it at a CDN.
fn keep_out_of_caches(resp: &mut dyn HeaderEdit) {
    for cdn_only in [CDN_CACHE_CONTROL, SURROGATE_CONTROL] {
        resp.remove(&cdn_only);
    }
    if cache_directives(resp.headers()).any(|name| name.eq_ignore_ascii_case(b"no-store")) {
        return;
    }
    resp.set(&CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The upstream marked the response cacheable (`public`, `max-age`,
/// `s-maxage`) and did not say `no-store`: with a nonce it won't be, which
/// is worth a WARN (the app probably expects it cached).
pub fn marked_cacheable(resp: &ResponseHeader) -> bool {
    let mut cacheable = false;
    for name in cache_directives(&resp.headers) {
        if name.eq_ignore_ascii_case(b"no-store") {
            return false;
        }
        cacheable |= name.eq_ignore_ascii_case(b"public")
            || name.eq_ignore_ascii_case(b"max-age")
            || name.eq_ignore_ascii_case(b"s-maxage");
    }
    cacheable
}

/// The directive names of every `Cache-Control` header.
fn cache_directives(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(header::CACHE_CONTROL)
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|directive| {
            directive
                .split(|&b| b == b'=')
                .next()
                .unwrap_or_default()
                .trim_ascii()
        })
}

/// The same, plus the CORS headers of the request's verdict: for responses
/// the CORS answer did not already shape (proxied ones and our errors).
pub fn decorate_with_cors(resp: &mut ResponseHeader, site: &SitePolicy, facts: &RequestFacts) {
    header_edit::edit_response(resp, |h| {
        cors_and_vary(h, site, facts);
        decorate_headers(h, site, facts);
    });
}

fn cors_and_vary(h: &mut dyn HeaderEdit, site: &SitePolicy, facts: &RequestFacts) {
    site.cors.apply_to_response(h, &facts.cors);
    if site.fetch_metadata.mode != FetchMetadataMode::Off {
        vary::ensure(h, fetch_metadata::VARY, &fetch_metadata::vary_value());
    }
}

/// `decorate_with_cors` for an upstream's response on its way down. Where
/// the route's security headers are the same for every response, they, the
/// CORS fields and `Vary` (when the upstream sent none of those) and the
/// request id go to the session as lines that Pingora writes after the
/// head's fields (an HTTP/1 session's `set_response_header_block`): copies
/// of lines built at load instead of a map insert and a name spelled out
/// for each field on every response. The upstream's own fields of the
/// block's names are taken off the head first, as `apply` would replace
/// them. An informational head, an HTTP/2 session or a route with nonces
/// gets everything on the head.
pub fn decorate_proxied(
    session: &mut ServerSession,
    resp: &mut ResponseHeader,
    site: &SitePolicy,
    facts: &RequestFacts,
    title_case: bool,
) {
    let block = site
        .headers
        .upstream_block(facts.https)
        .filter(|_| !resp.status.is_informational() && matches!(session, ServerSession::H1(_)));
    let Some(block) = block else {
        decorate_with_cors(resp, site, facts);
        return;
    };
    let fields = block.fields(title_case);
    let mut lines = BytesMut::with_capacity(fields.len() + 256);
    lines.put_slice(fields);
    // Removing needs no trip through the head's parts, only setting does.
    let upstream_set_cors_or_vary = strip(resp, block);
    let fetch_vary = site.fetch_metadata.mode != FetchMetadataMode::Off;
    if upstream_set_cors_or_vary
        || !site
            .cors
            .proxied_lines(&facts.cors, fetch_vary, title_case, &mut lines)
    {
        header_edit::edit_response(resp, |h| cors_and_vary(h, site, facts));
    }
    lines.put_slice(request_id_name(title_case));
    lines.put_slice(facts.request_id.as_bytes());
    lines.put_slice(b"\r\n");
    session.set_response_header_block(lines.freeze());
}

/// `X-Request-Id: ` as a head's own names are written.
fn request_id_name(title_case: bool) -> &'static [u8] {
    if title_case {
        b"X-Request-Id: "
    } else {
        b"x-request-id: "
    }
}

/// Remove the upstream's fields that `block` (and the request id after it)
/// replace, in one pass over its few fields rather than a lookup per name;
/// and tell whether it has a `Vary` or `Access-Control-*` field, which
/// the CORS step must then merge or drop in the head.
fn strip(h: &mut dyn HeaderEdit, block: &Block) -> bool {
    let mut found: Vec<HeaderName> = Vec::new();
    let mut cors_or_vary = false;
    for name in h.headers().keys() {
        if block.strips(name) {
            found.push(name.clone());
        } else if *name == header::VARY || name.as_str().starts_with("access-control-") {
            cors_or_vary = true;
        }
    }
    for name in &found {
        h.remove(name);
    }
    cors_or_vary
}

/// Everything the gateway says itself, whichever layer decides on it: the
/// CORS answers, errors, redirects, the admin listener's pages, the report
/// endpoint's replies. Built by one constructor per kind, finished by the one
/// decoration step (`decorated`, `decorated_with_cors`), written by one
/// writer per layer: `wire` for the front door, `write` / `write_error`
/// through a Pingora session.
#[derive(Debug)]
pub struct Answer {
    /// The status and the answer's own headers (after decoration, all).
    pub head: ResponseHeader,
    pub body: Bytes,
}

impl Answer {
    /// `status` with a body: `Content-Type` and `Content-Length`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
        let body = body.into();
        let mut head = new_response(status, 16);
        set(
            &mut head,
            &CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        set(&mut head, &CONTENT_LENGTH, HeaderValue::from(body.len()));
        Answer { head, body }
    }

    /// A head built by a policy (the CORS answers) and its body.
    pub fn from_head(head: ResponseHeader, body: impl Into<Bytes>) -> Answer {
        Answer {
            head,
            body: body.into(),
        }
    }

    /// An empty answer (`204`): `Content-Length: 0` is Pingora's to add.
    pub fn empty(status: u16) -> Answer {
        Answer::from_head(new_response(status, 16), Bytes::new())
    }

    /// An error, undecorated: plain text, never stored, `Allow` on a 405,
    /// and the connection closed unless only the upstream failed.
    pub fn error(kind: GatewayError) -> Answer {
        let mut answer = Answer::new(kind.status(), TEXT, Bytes::from_static(kind.body()));
        answer = answer.with(&CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if kind == GatewayError::MethodNotAllowed {
            answer = answer.with(&ALLOW_HEADER, HeaderValue::from_static(ALLOW));
        }
        if !kind.keeps_connection() {
            answer = answer.with(&CONNECTION, HeaderValue::from_static("close"));
        }
        answer
    }

    /// An error with the route's headers and the request's CORS verdict.
    pub fn error_for(kind: GatewayError, site: &SitePolicy, facts: &RequestFacts) -> Answer {
        Answer::error(kind).decorated_with_cors(site, facts)
    }

    /// Sets (or replaces) one header.
    pub fn with(mut self, name: &Name, value: HeaderValue) -> Answer {
        header_edit::replace_response(&mut self.head, name, value);
        self
    }

    /// The one decoration step: the route's security headers and the
    /// request id.
    pub fn decorated(mut self, site: &SitePolicy, facts: &RequestFacts) -> Answer {
        decorate(&mut self.head, site, facts);
        self
    }

    /// The same, plus the CORS headers of the request's verdict.
    pub fn decorated_with_cors(mut self, site: &SitePolicy, facts: &RequestFacts) -> Answer {
        decorate_with_cors(&mut self.head, site, facts);
        self
    }

    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    /// As HTTP/1.1 bytes, for the front door (see `to_wire`).
    pub fn wire(&self, title_case: bool) -> Bytes {
        to_wire(&self.head, &self.body, title_case)
    }

    /// Through a Pingora session, from a hook: the head, then the body.
    pub async fn write(self, session: &mut Session) -> pingora::Result<()> {
        drop_proxied_lines(session.as_downstream_mut());
        let end = self.body.is_empty();
        session
            .write_response_header(Box::new(self.head), end)
            .await?;
        if !end {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }

    /// Through Pingora's error writer, which is safe when a response has
    /// already started (it then just closes the connection).
    pub async fn write_error(self, session: &mut ServerSession) -> pingora::Result<()> {
        drop_proxied_lines(session);
        session.write_error_response(self.head, self.body).await
    }
}

/// The gateway's own answer carries everything in its head: lines
/// `decorate_proxied` set for an upstream response that never went out
/// must not follow it (they would repeat its CORS fields).
fn drop_proxied_lines(session: &mut ServerSession) {
    session.set_response_header_block(Bytes::new());
}

/// The plain-text content type of the gateway's own bodies.
pub const TEXT: &str = "text/plain; charset=utf-8";

fn set(resp: &mut ResponseHeader, name: &Name, value: HeaderValue) {
    header_edit::insert_response(resp, name, value);
}

/// An answer as HTTP/1.1 bytes, for the front door, which writes to the
/// connection before Pingora has a session for it.
/// `title_case`: names in Title-Case, as Pingora writes a case-less head
/// when `[server] preserve_header_case` is off, so an answer is spelled the
/// same whichever layer writes it.
pub fn to_wire(resp: &ResponseHeader, body: &[u8], title_case: bool) -> Bytes {
    let out = head_to_wire(resp, body.len(), title_case);
    end_to_wire(out, body)
}

/// The bytes `decorate` and then `to_wire` give, for a route whose security
/// headers are one pre-built block (`SecurityHeaders::answer_block`), with
/// the front door's `Connection` after the request id.
pub fn to_wire_with_block(
    resp: &ResponseHeader,
    block: &[u8],
    request_id: &HeaderValue,
    connection: &str,
    body: &[u8],
    title_case: bool,
) -> Bytes {
    let mut out = head_to_wire(resp, block.len() + body.len(), title_case);
    out.put_slice(block);
    out.put_slice(request_id_name(title_case));
    out.put_slice(request_id.as_bytes());
    out.put_slice(b"\r\nConnection: ");
    out.put_slice(connection.as_bytes());
    out.put_slice(b"\r\n");
    end_to_wire(out, body)
}

fn head_to_wire(resp: &ResponseHeader, extra: usize, title_case: bool) -> BytesMut {
    let mut out = BytesMut::with_capacity(512 + extra);
    let status = resp.status;
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    if title_case && !resp.has_case() {
        title_case_headers_to_wire(&resp.headers, &mut out);
    } else {
        resp.header_to_h1_wire(&mut out);
    }
    out
}

fn end_to_wire(mut out: BytesMut, body: &[u8]) -> Bytes {
    out.put_slice(b"Date: ");
    out.put_slice(get_cached_date().as_bytes());
    out.put_slice(b"\r\n\r\n");
    out.put_slice(body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncReadExt;

    #[test]
    fn wire_form_is_a_complete_response() {
        let mut resp = new_response(431, 4);
        resp.insert_header("content-length", "3").unwrap();
        resp.insert_header("x-frame-options", "DENY").unwrap();
        let wire = to_wire(&resp, b"abc", false);
        let text = String::from_utf8(wire.to_vec()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nx-frame-options: DENY\r\n"), "{text}");
        assert!(text.contains("\r\nDate: "), "{text}");
        assert!(text.ends_with("\r\n\r\nabc"), "{text}");
    }

    /// What Pingora's HTTP/1 session puts on the wire for `head` and `body`,
    /// answering `request` on a real socket.
    async fn pingora_writes(
        request: &[u8],
        head: ResponseHeader,
        body: &[u8],
        keep_alive: bool,
        title_case: bool,
    ) -> Vec<u8> {
        let (mut session, mut client) = crate::edge::testing::session_after(request).await;
        session.set_preserve_header_case(!title_case);
        assert!(session.read_request().await.unwrap());
        // As the hooks do: reading the head sets keep-alive from the request.
        session.set_keepalive(keep_alive.then_some(60));
        session.write_response_header(Box::new(head)).await.unwrap();
        session
            .write_response_body(Bytes::copy_from_slice(body), true)
            .await
            .unwrap();
        drop(session.finish().await.unwrap());
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).await.unwrap();
        wire
    }

    /// A response as bytes that must match: the status line, each header
    /// line as spelled (in any order; `Date`'s value may tick over), the body.
    fn comparable(wire: &[u8]) -> (String, Vec<String>, Vec<u8>) {
        let end = wire
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole head");
        let head = String::from_utf8(wire[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default().to_string();
        let mut fields: Vec<String> = lines
            .map(|l| match l.split_once(": ") {
                Some((name, _)) if name.eq_ignore_ascii_case("date") => format!("{name}: <date>"),
                _ => l.to_string(),
            })
            .collect();
        fields.sort();
        (status, fields, wire[end + 4..].to_vec())
    }

    /// The front door writes answers itself (`to_wire`, and fast.rs's
    /// `to_wire_with_block`), copying what Pingora's session does when it
    /// writes the same head: the status line, how names are spelled with and
    /// without `preserve_header_case`, the `Date` and `Connection` it adds,
    /// no body for HEAD or 204. If this fails after a Pingora upgrade, see
    /// what Pingora's writer (pingora-core `v1/server.rs`
    /// `prepare_response_header`, pingora-http `header_to_h1_wire`) does now
    /// and make `to_wire`, `to_wire_with_block` and fast.rs do the same.
    #[tokio::test]
    async fn our_wire_form_is_what_pingoras_session_writes_for_the_same_head() {
        let policy =
            crate::config::testing::load(crate::config::testing::MINIMAL).expect("a valid config");
        let site = policy.default_site();
        for (https, title_case, keep_alive, method) in [false, true]
            .into_iter()
            .flat_map(|h| [false, true].map(move |t| (h, t)))
            .flat_map(|(h, t)| [false, true].map(move |k| (h, t, k)))
            .flat_map(|(h, t, k)| ["GET", "HEAD"].map(move |m| (h, t, k, m)))
        {
            let case =
                format!("https={https} title_case={title_case} keep_alive={keep_alive} {method}");
            let request = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
            let facts = RequestFacts::early(None, https);
            let connection = if keep_alive { "keep-alive" } else { "close" };
            let head_only = |body: &'static [u8]| if method == "HEAD" { &b""[..] } else { body };

            // The front door's refusals (refusal::answer): always closed.
            for kind in [GatewayError::BadRequest, GatewayError::HeaderTooLarge] {
                let head = Answer::error_for(kind, site, &facts).head;
                let ours = to_wire(&head, head_only(kind.body()), title_case);
                let theirs =
                    pingora_writes(request.as_bytes(), head, kind.body(), false, title_case).await;
                assert_eq!(
                    comparable(&ours),
                    comparable(&theirs),
                    "{case} {kind:?}: ours, then Pingora's"
                );
            }

            // The fast path's CORS answers (fast.rs), both ways it writes.
            for (status, body) in [(204, &b""[..]), (403, &b"Forbidden\n"[..])] {
                let mut head = new_response(status, 8);
                head.insert_header("access-control-allow-origin", "https://app.example.com")
                    .unwrap();
                head.insert_header("vary", "Origin").unwrap();
                head.insert_header("content-length", body.len()).unwrap();
                let mut decorated = head.clone();
                decorate(&mut decorated, site, &facts);
                let theirs = pingora_writes(
                    request.as_bytes(),
                    decorated.clone(),
                    body,
                    keep_alive,
                    title_case,
                )
                .await;
                let mut with_connection = decorated;
                header_edit::insert_response(
                    &mut with_connection,
                    &CONNECTION,
                    HeaderValue::from_static(connection),
                );
                let ours = to_wire(&with_connection, head_only(body), title_case);
                assert_eq!(
                    comparable(&ours),
                    comparable(&theirs),
                    "{case} {status}: to_wire"
                );
                let block = site
                    .headers
                    .answer_block(https, title_case)
                    .expect("a production route has a pre-built header block");
                let ours = to_wire_with_block(
                    &head,
                    block,
                    &facts.request_id,
                    connection,
                    head_only(body),
                    title_case,
                );
                assert_eq!(
                    comparable(&ours),
                    comparable(&theirs),
                    "{case} {status}: to_wire_with_block"
                );
            }
        }
    }
}
