//! Requests refused before they become requests: heads the front door won't
//! take (too large, too many fields, too slow) and heads Pingora's own
//! checks reject (unparseable, a repeated `Host`, bad `Content-Length` or
//! `Transfer-Encoding`, `CONNECT`). Each gets the gateway's own decorated
//! answer, a counter, an access-log line, and at most a rate-limited INFO
//! line: a client sending garbage is routine, not an ERROR, and its bytes
//! never reach the log unescaped.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;

use crate::edge::answer::{Answer, GatewayError};
use crate::edge::listener::Listener;
use crate::edge::request::{self, RequestFacts, Target};
use crate::edge::verdict;
use crate::observe::blocked_log::Admit;
use crate::observe::logfmt::{Client, Escaped, Suppressed};
use crate::observe::refused::Refusal;
use crate::state::SharedState;

/// The gateway's answer to a refused request.
pub fn kind(refusal: Refusal) -> GatewayError {
    match refusal {
        Refusal::HeadTooLarge | Refusal::TooManyFields => GatewayError::HeaderTooLarge,
        Refusal::HeadTimeout => GatewayError::RequestTimeout,
        Refusal::Malformed | Refusal::ClosedMidHead | Refusal::Target => GatewayError::BadRequest,
        Refusal::Method => GatewayError::MethodNotAllowed,
    }
}

/// Count and log a refusal. `bytes`: how much of the head had arrived.
pub fn note(state: &SharedState, refusal: Refusal, peer: Option<IpAddr>, bytes: usize) {
    state.metrics.record_refusal(refusal);
    let client = peer.map_or_else(|| "-".to_string(), |ip| ip.to_string());
    if refusal == Refusal::ClosedMidHead {
        log::debug!("client closed the connection mid-head: client={client} bytes={bytes}");
        return;
    }
    let Some(suppressed) = admit_line(state) else {
        return;
    };
    log::info!(
        target: "helmgate::refused",
        "refused request head reason={} status={} client={client} bytes={bytes}{suppressed}",
        refusal.as_str(),
        kind(refusal).status(),
    );
}

/// Count and log a request whose target is refused, with the reason and
/// the target as sent (escaped).
pub fn note_target(state: &SharedState, facts: &RequestFacts, target: &[u8]) {
    let Target::Refused(why) = facts.target else {
        return;
    };
    state.metrics.record_refusal(Refusal::Target);
    let Admit::Log { suppressed_before } = state.client_log.admit(Instant::now()) else {
        return;
    };
    log::info!(
        target: "helmgate::refused",
        "refused request target reason={} status=400 target=\"{}\" client={} request_id={}{}",
        why.as_str(),
        Escaped(target),
        Client(facts.client_ip),
        Escaped(facts.request_id.as_bytes()),
        Suppressed(suppressed_before),
    );
}

/// Log a request cut because its body came too slowly: INFO, rate-limited
/// with the other client-caused lines. `forwarded`: its head had gone
/// upstream (both connections were closed) rather than answered 408.
pub fn note_slow_body(
    state: &SharedState,
    peer: Option<IpAddr>,
    limit: crate::policy::body_pace::Limit,
    bytes: u64,
    forwarded: bool,
) {
    let Some(suppressed) = admit_line(state) else {
        return;
    };
    let client = peer.map_or_else(|| "-".to_string(), |ip| ip.to_string());
    let outcome = if forwarded {
        "closed both connections"
    } else {
        "answered 408"
    };
    log::info!(
        target: "helmgate::refused",
        "request body too slow limit={} client={client} bytes={bytes}: {outcome}{suppressed}",
        limit.as_str(),
    );
}

/// Whether the client-caused-lines limit lets one more through; if so, the
/// suffix saying how many were dropped before it.
fn admit_line(state: &SharedState) -> Option<String> {
    let Admit::Log { suppressed_before } = state.client_log.admit(Instant::now()) else {
        return None;
    };
    Some(if suppressed_before > 0 {
        format!(" ({suppressed_before} similar lines suppressed)")
    } else {
        String::new()
    })
}

/// The facts of a refused request: parsed ones when Pingora got that far,
/// else what the connection alone tells.
fn facts(
    state: &SharedState,
    listener: Listener,
    peer: Option<IpAddr>,
    tls: bool,
    parsed: Option<&RequestHeader>,
) -> RequestFacts {
    let mut facts = match parsed {
        Some(req) => RequestFacts::compute(&state.policy(), peer, tls, req),
        None => RequestFacts::early(peer, tls),
    };
    if listener == Listener::Redirect {
        // HSTS means nothing over the plain-HTTP redirect listener.
        facts.https = false;
    }
    facts
}

/// The refused request's closing entry: counted for every listener, in the
/// access log for the proxy's.
fn log_access(
    state: &SharedState,
    listener: Listener,
    facts: &RequestFacts,
    kind: GatewayError,
    req: Option<&RequestHeader>,
) {
    let policy = state.policy();
    if listener != Listener::Proxy {
        policy
            .route(facts.site)
            .metrics
            .record_request(kind.status());
        return;
    }
    let empty = http::HeaderMap::new();
    let done = verdict::Finished {
        status: kind.status(),
        upstream_status: None,
        body_bytes: kind.body().len(),
        elapsed: std::time::Duration::ZERO,
        seen: verdict::Seen {
            method: req.map_or("-", |r| r.method.as_str()),
            target: req.map_or(&b"-"[..], |r| r.raw_path()),
            headers: req.map_or(&empty, |r| &r.headers),
        },
    };
    verdict::finish(state, &policy, facts, &done);
}

/// The front door's answer to a head it refused, as bytes for the wire.
/// `request_id`: the client's sane id, when it arrived before the refusal.
pub fn answer(
    state: &SharedState,
    listener: Listener,
    refusal: Refusal,
    peer: Option<IpAddr>,
    tls: bool,
    request_id: Option<http::HeaderValue>,
) -> Bytes {
    let mut facts = facts(state, listener, peer, tls, None);
    if let Some(id) = request_id {
        facts.request_id = id;
    }
    let kind = kind(refusal);
    let policy = state.policy();
    let answer = Answer::error_for(kind, &policy.sites[facts.site], &facts);
    log_access(state, listener, &facts, kind, None);
    answer.wire(!policy.server.preserve_header_case)
}

/// `ProxyHttp::request_error_filter` for every listener: answer Pingora's
/// own rejections ourselves, and log them our way (a failed write only at
/// debug: the client went away).
pub async fn request_error(
    state: &SharedState,
    listener: Listener,
    session: &mut ServerSession,
    e: &Error,
) {
    let (peer, tls) = request::connection_of(session);
    let refusal = match e.etype() {
        HTTPStatus(405) => Refusal::Method,
        InvalidHTTPHeader => Refusal::Malformed,
        // The connection broke or timed out mid-head: nobody to answer.
        _ => {
            note(state, Refusal::ClosedMidHead, peer, 0);
            return;
        }
    };
    note(state, refusal, peer, 0);
    let parsed = session.as_http1().is_some_and(|s| s.get_method().is_some()) || session.is_http2();
    let req = parsed.then(|| session.req_header().clone());
    let facts = facts(state, listener, peer, tls, req.as_ref());
    let kind = kind(refusal);
    let policy = state.policy();
    let answer = Answer::error_for(kind, &policy.sites[facts.site], &facts);
    log_access(state, listener, &facts, kind, req.as_ref());
    if let Err(err) = answer.write_error(session).await {
        log::debug!("could not send {} to {peer:?}: {err}", kind.status());
    }
}
