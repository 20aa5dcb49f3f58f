//! The Pingora hooks. Each is a few lines that gather inputs from the session
//! and call the pure policy modules; responses the gateway writes itself are
//! finished here because they never pass through `response_filter`.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::ErrorSource;

use crate::edge::answer::{self, GatewayError};
use crate::edge::connection::ConnectionTokens;
use crate::edge::fast;
use crate::edge::listener::Listener;
use crate::edge::nonce::Replacer;
use crate::edge::refusal;
use crate::edge::request::{self, RequestFacts, Target, Verdict};
use crate::edge::verdict;
use crate::observe::metrics::UpstreamFailure;
use crate::policy::body_pace::{Limit, Pace};
use crate::policy::forwarded::{self, ClientView};
use crate::policy::header_edit::{self, HeaderEdit, Name};
use crate::policy::headers::NonceUse;
use crate::policy::origin::Scheme;
use crate::policy::SitePolicy;
use crate::state::{Active, InFlight, OnceWarning, RouteState, SharedState};

// The request headers the gateway sets toward the upstream.
mod errors;
mod report_intake;

use errors::{answer_for, body_pace_cut};

const X_FORWARDED_FOR: Name = Name::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: Name = Name::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: Name = Name::from_static("x-forwarded-host");
const REQUEST_ID: Name = Name::from_static("x-request-id");
const CONTENT_LENGTH: Name = Name::from_static("content-length");

pub struct Gateway {
    state: Arc<SharedState>,
}

impl Gateway {
    pub fn new(state: Arc<SharedState>) -> Gateway {
        Gateway { state }
    }
}

/// Per-request state. The policy is pinned at the start so a reload never
/// changes the rules half-way through a request.
pub struct RequestCtx {
    policy: Arc<Active>,
    started: Instant,
    facts: RequestFacts,
    upstream_status: Option<u16>,
    /// Request body bytes received so far.
    body_bytes: u64,
    /// When the head went upstream and the body started to be read
    /// (`None`: not forwarded yet).
    body_started: Option<Instant>,
    /// The limit the current body read timeout comes from.
    body_wait: Limit,
    /// Set when `request_body_filter` cut the body for its pace.
    body_cut: Option<Limit>,
    /// Writes the nonce into an HTML body in place of the placeholder.
    html_nonce: Option<Replacer>,
    /// `facts` came with the request from the front door.
    prepared: bool,
    _in_flight: InFlight,
}

impl RequestCtx {
    fn site(&self) -> &SitePolicy {
        &self.policy.sites[self.facts.site]
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            policy: self.state.policy(),
            started: Instant::now(),
            facts: RequestFacts::unknown(),
            upstream_status: None,
            body_bytes: 0,
            body_started: None,
            body_wait: Limit::Idle,
            body_cut: None,
            html_nonce: None,
            prepared: false,
            _in_flight: self.state.track_request(),
        }
    }

    async fn request_error_filter(&self, session: &mut ServerSession, e: &Error) -> Result<()> {
        refusal::request_error(&self.state, Listener::Proxy, session, e).await;
        Ok(())
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The front door's fast path read this head and worked out its facts
        // before handing it over (see `front`): take them, don't recompute.
        let prepared = session
            .as_downstream_mut()
            .take_request_context()
            .and_then(|c| c.downcast::<fast::Prepared>().ok());
        if let Some(prepared) = prepared {
            let fast::Prepared {
                policy,
                facts,
                started,
            } = *prepared;
            ctx.policy = policy;
            ctx.facts = facts;
            ctx.started = started;
            ctx.prepared = true;
            log::trace!("request facts taken from the front door");
        }
        // Keep-alive 0 means none; Pingora would read `Some(0)` as forever.
        // An HTTP/1.0 client that did not ask for keep-alive (or a 1.1 one
        // that said close) reads until the connection closes.
        let keepalive = ctx.policy.server.keepalive_timeout.as_secs();
        let req = session.req_header();
        let connection = req.headers.get_all(header::CONNECTION).iter();
        let wanted =
            ConnectionTokens::of(connection.map(HeaderValue::as_bytes)).keep_open(req.version);
        session.set_keepalive((keepalive > 0 && wanted).then_some(keepalive));
        // The front door read the head: Pingora's reads are body reads.
        session.set_read_timeout(Some(ctx.policy.server.request_body.timeout));
        if ctx.prepared {
            return Ok(());
        }
        let (peer, tls) = request::connection_of(session.as_downstream());
        ctx.facts = RequestFacts::compute(&ctx.policy, peer, tls, session.req_header());
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let verdict = ctx.facts.verdict();
        if let Verdict::BadTarget(_) = verdict {
            crate::edge::refusal::note_target(
                &self.state,
                &ctx.facts,
                session.req_header().raw_path(),
            );
            return self
                .respond_error(session, ctx, GatewayError::BadRequest)
                .await;
        }
        if let Some(problem) = crate::edge::framing::check(session) {
            return self.respond_error(session, ctx, problem).await;
        }
        if verdict == Verdict::Report {
            return self.take_report(session, ctx).await;
        }
        if let Some(limit) = ctx.policy.server.max_request_body_bytes {
            if declared_length(session).is_some_and(|len| len > limit) {
                return self
                    .respond_error(session, ctx, GatewayError::BodyTooLarge)
                    .await;
            }
        }
        let req = session.req_header();
        let seen = verdict::Seen {
            method: req.method.as_str(),
            target: req.raw_path(),
            headers: &req.headers,
        };
        let Some(answer) = verdict::own_answer(&self.state, &ctx.policy, &ctx.facts, &seen) else {
            return Ok(false);
        };
        let site = &ctx.policy.sites[ctx.facts.site];
        answer.decorated(site, &ctx.facts).write(session).await?;
        Ok(true)
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.body_bytes += body.as_ref().map_or(0, |c| c.len() as u64);
        // Content-Length was checked up front; this catches chunked bodies.
        if let Some(limit) = ctx.policy.server.max_request_body_bytes {
            if ctx.body_bytes > limit {
                return Err(Error::new(HTTPStatus(413)));
            }
        }
        if end_of_stream {
            return Ok(());
        }
        let started = *ctx.body_started.get_or_insert_with(Instant::now);
        match ctx
            .policy
            .server
            .request_body
            .next(ctx.body_bytes, started.elapsed())
        {
            Pace::Wait(wait, limit) => {
                // The next read gives up after `wait`: a Downstream
                // ReadTimedout that `fail_to_proxy` turns into the cut.
                session.set_read_timeout(Some(wait));
                ctx.body_wait = limit;
                Ok(())
            }
            Pace::TooSlow => {
                ctx.body_cut = Some(Limit::MinRate);
                Error::e_explain(ReadTimedout, "request body below request_body_min_rate")
                    .map_err(|e| e.into_down())
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let mut peer = ctx.site().upstream.peer.clone();
        peer.options.preserve_h1_header_case = ctx.policy.server.preserve_header_case;
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        _ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // One upstream per route, so retrying a refused connection just
        // hammers it; answer 502 at once (stale pooled connections are
        // retried elsewhere).
        e.set_retry(false);
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The body is read from here on: its pace counts from now.
        ctx.body_started = Some(Instant::now());
        let policy = &ctx.policy;
        let tls = ctx.facts.tls;
        let original = session.req_header();
        // What the first hook found, without asking the trusted list again.
        let view = ClientView {
            peer: ctx.facts.peer,
            peer_trusted: ctx.facts.peer_trusted,
            scheme: if ctx.facts.https {
                Scheme::Https
            } else {
                Scheme::Http
            },
            host: original
                .headers
                .get(header::HOST)
                .map(HeaderValue::as_bytes)
                .or(original.uri.authority().map(|a| a.as_str().as_bytes())),
        };
        let f = forwarded::upstream_forwarding(&view, tls, &original.headers);
        let nonce_use = ctx.site().headers.nonce();
        // The forwarding fields and the request id go after the head's fields
        // as lines where they can: inserting each into the map Pingora cloned
        // for the upstream (no room to spare) would grow it.
        let as_lines =
            !policy.server.preserve_header_case && !upstream.has_case() && nonce_use.is_none();
        let dropped = forwarded::headers_to_drop(
            &upstream.headers,
            view.peer_trusted,
            policy.server.allow_underscores_in_headers,
            if as_lines {
                &forwarded::LINE_NAMES
            } else {
                &[]
            },
        );
        single_content_length(upstream)?;
        if as_lines {
            for name in &dropped {
                upstream.remove(name);
            }
            session.set_upstream_request_header_block(f.lines(&ctx.facts.request_id));
        } else {
            forward_in_head(upstream, &dropped, f, &ctx.facts, nonce_use);
        }
        if let Target::Rewritten(target) = &ctx.facts.target {
            upstream.set_raw_path(target)?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = Some(resp.status.as_u16());
        let uncached = ctx.facts.nonce.is_some() && answer::marked_cacheable(resp);
        let title_case = !ctx.policy.server.preserve_header_case;
        answer::decorate_proxied(
            session.as_downstream_mut(),
            resp,
            ctx.site(),
            &ctx.facts,
            title_case,
        );
        crate::edge::set_cookie::harden(&ctx.policy, &ctx.facts, resp);
        let runtime = ctx.policy.route(ctx.facts.site);
        if uncached && runtime.warn_once(OnceWarning::NonceMadeUncacheable) {
            log::warn!(
                "route {}: the upstream marked a response cacheable, but it carries a CSP nonce, so it is sent with Cache-Control: no-store (a cached nonce could be reused); serve cacheable assets from a route without {{nonce}}",
                ctx.site().name
            );
        }
        if session.req_header().method != http::Method::HEAD {
            ctx.html_nonce = html_nonce(ctx.site(), runtime, ctx.facts.nonce.as_ref(), resp);
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(replacer) = ctx.html_nonce.as_mut() {
            let chunk = body.as_deref().unwrap_or_default();
            let out = replacer.feed(chunk, end_of_stream);
            *body = (!out.is_empty() || body.is_some()).then_some(out);
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if let Some(limit) = body_pace_cut(e, ctx) {
            return self.body_too_slow(session, ctx, limit).await;
        }
        let Some(kind) = answer_for(e) else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        match kind {
            GatewayError::BadGateway => self
                .state
                .metrics
                .record_upstream_failure(UpstreamFailure::Error),
            GatewayError::GatewayTimeout => self
                .state
                .metrics
                .record_upstream_failure(UpstreamFailure::Timeout),
            _ => {}
        }
        let code = match self.unreachable_hint(session, ctx, e) {
            Some(body) => self.write_error_body(session, ctx, kind, body).await,
            None => self.write_gateway_error(session, ctx, kind).await,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        // Whatever the client caused (going away, a malformed or abusive
        // request such as `Connection: X-Forwarded-For`) or a limit we
        // enforce is routine: it shows in the access log and metrics, not as
        // an ERROR line. Upstream failures stay ERRORs.
        *e.esource() == ErrorSource::Downstream || matches!(e.etype(), HTTPStatus(_))
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let req = session.req_header();
        let done = verdict::Finished {
            status: session.response_written().map_or(0, |r| r.status.as_u16()),
            upstream_status: ctx.upstream_status,
            body_bytes: session.body_bytes_sent(),
            elapsed: ctx.started.elapsed(),
            seen: verdict::Seen {
                method: req.method.as_str(),
                target: req.raw_path(),
                headers: &req.headers,
            },
        };
        verdict::finish(&self.state, &ctx.policy, &ctx.facts, &done);
    }
}

/// Set up writing the nonce into this response's HTML body, when the route
/// asks for it and the body is HTML we can read (not content-encoded).
/// The body's length changes, so it goes out chunked.
fn html_nonce(
    site: &SitePolicy,
    runtime: &RouteState,
    nonce: Option<&HeaderValue>,
    resp: &mut ResponseHeader,
) -> Option<Replacer> {
    let placeholder = site.headers.nonce()?.html_placeholder.as_ref()?;
    let nonce = nonce?;
    let html = resp
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().split(|&b| b == b';').next())
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"text/html"));
    if !html || matches!(resp.status.as_u16(), 204 | 304) {
        return None;
    }
    let encoded = resp
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"));
    if encoded {
        if runtime.warn_once(OnceWarning::EncodedHtmlNotRewritten) {
            log::warn!(
                "route {}: an HTML response is content-encoded, so its nonce placeholder can't be replaced and passes unchanged; have the app leave compression to a layer after helmgate, or send the nonce it gets in {}",
                site.name,
                site.header_settings.nonce_request_header
            );
        }
        return None;
    }
    if resp.headers.contains_key(header::CONTENT_LENGTH) {
        resp.remove_header(&header::CONTENT_LENGTH);
        let _ = resp.insert_header(header::TRANSFER_ENCODING, "chunked");
    }
    Some(Replacer::new(
        placeholder,
        Bytes::copy_from_slice(nonce.as_bytes()),
    ))
}

/// The forwarding fields, the request id and the route's nonce set in the
/// upstream head itself (a head with a case map, or a route with a nonce).
fn forward_in_head(
    upstream: &mut RequestHeader,
    dropped: &[http::HeaderName],
    f: forwarded::UpstreamForwarding,
    facts: &RequestFacts,
    nonce_use: Option<&NonceUse>,
) {
    header_edit::edit_request(upstream, |h| {
        for name in dropped {
            h.remove(name);
        }
        header_edit::set_or_remove(h, &X_FORWARDED_FOR, f.x_forwarded_for.value());
        h.set(&X_FORWARDED_PROTO, f.x_forwarded_proto);
        header_edit::set_or_remove(h, &X_FORWARDED_HOST, f.x_forwarded_host);
        h.set(&REQUEST_ID, facts.request_id.clone());
        if let Some(nonce_use) = nonce_use {
            // The app gets the nonce to put into its HTML; a client can't
            // choose it.
            header_edit::set_or_remove(h, &nonce_use.request_header, facts.nonce.clone());
        }
    });
}

/// `Content-Length: 5, 5` or the header twice: Pingora accepts identical
/// values (RFC 9110 8.6) but would forward them as sent, and an upstream
/// that reads them differently could frame the body differently. Send
/// exactly one.
fn single_content_length(upstream: &mut RequestHeader) -> Result<()> {
    let mut values = upstream.headers.get_all(header::CONTENT_LENGTH).iter();
    let (Some(first), more) = (values.next(), values.next().is_some()) else {
        return Ok(());
    };
    if !more && !first.as_bytes().contains(&b',') {
        return Ok(());
    }
    let one = first
        .as_bytes()
        .split(|&b| b == b',')
        .next()
        .map(<[u8]>::trim_ascii)
        .unwrap_or_default();
    let one = HeaderValue::from_bytes(one).or_err(InvalidHTTPHeader, "Content-Length")?;
    header_edit::replace_request(upstream, &CONTENT_LENGTH, Some(one))
}

/// `Content-Length` as declared (the first of identical values; framing
/// already refused conflicting ones).
fn declared_length(session: &Session) -> Option<u64> {
    session
        .req_header()
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
}
