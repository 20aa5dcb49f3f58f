//! The gateway's own error answers from the hooks: which answer a Pingora
//! error gets, writing it (decorated, safe after a response started), the
//! loopback hint for an unreachable upstream, and a body cut for its pace.

use bytes::Bytes;
use http::header::HeaderValue;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, Session};
use pingora::ErrorSource;

use super::{Gateway, RequestCtx, CONTENT_LENGTH};
use crate::edge::answer::{Answer, GatewayError};
use crate::edge::refusal;
use crate::edge::upstream_hint;
use crate::policy::body_pace::Limit;
use crate::policy::header_edit::Name;

/// Map a Pingora error to what the client should see.
pub fn answer_for(e: &Error) -> Option<GatewayError> {
    match e.etype() {
        HTTPStatus(413) => return Some(GatewayError::BodyTooLarge),
        HTTPStatus(400) => return Some(GatewayError::BadRequest),
        ConnectTimedout | ReadTimedout | WriteTimedout if *e.esource() == ErrorSource::Upstream => {
            return Some(GatewayError::GatewayTimeout)
        }
        _ => {}
    }
    match e.esource() {
        ErrorSource::Upstream => Some(GatewayError::BadGateway),
        ErrorSource::Downstream => match e.etype() {
            // The client is gone: nobody to answer.
            WriteError | ReadError | ConnectionClosed | ReadTimedout | WriteTimedout => None,
            _ => Some(GatewayError::BadRequest),
        },
        ErrorSource::Internal | ErrorSource::Unset => Some(GatewayError::Internal),
    }
}

/// Whether this failure is a request body cut for its pace: our own cut,
/// or Pingora's body read timing out (the front door reads every head, so
/// a downstream read timeout is a body read's).
pub(super) fn body_pace_cut(e: &Error, ctx: &RequestCtx) -> Option<Limit> {
    if ctx.body_cut.is_some() {
        return ctx.body_cut;
    }
    (e.etype() == &ReadTimedout && *e.esource() == ErrorSource::Downstream).then_some(ctx.body_wait)
}

impl Gateway {
    /// A request body came too slowly: count it, log it (rate-limited, it
    /// is the client's doing), and answer 408 if nothing went upstream yet;
    /// after that the only honest end is closing both connections.
    pub(super) async fn body_too_slow(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        limit: Limit,
    ) -> FailToProxy {
        self.state.metrics.record_body_timeout(limit);
        let forwarded = ctx.body_started.is_some();
        refusal::note_slow_body(
            &self.state,
            ctx.facts.peer,
            limit,
            ctx.body_bytes,
            forwarded,
        );
        let error_code = if forwarded || session.response_written().is_some() {
            0
        } else {
            self.write_gateway_error(session, ctx, GatewayError::RequestTimeout)
                .await
        };
        FailToProxy {
            error_code,
            can_reuse_downstream: false,
        }
    }

    pub(super) async fn respond_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        kind: GatewayError,
    ) -> Result<bool> {
        self.write_gateway_error(session, ctx, kind).await;
        Ok(true)
    }

    /// Write a gateway-made error with the full header set. Safe to call
    /// after a response has started: Pingora then just closes the connection.
    pub(super) async fn write_gateway_error(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        kind: GatewayError,
    ) -> u16 {
        self.write_gateway_error_with(session, ctx, kind, &[]).await
    }

    /// The same, with headers of its own (`Retry-After`, `Allow`) set last.
    pub(super) async fn write_gateway_error_with(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        kind: GatewayError,
        extra: &[(Name, HeaderValue)],
    ) -> u16 {
        let mut answer = Answer::error_for(kind, ctx.site(), &ctx.facts);
        for (name, value) in extra {
            answer = answer.with(name, value.clone());
        }
        send_error(session, answer).await;
        kind.status()
    }

    /// The same with a body of its own (the loopback hint).
    pub(super) async fn write_error_body(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        kind: GatewayError,
        body: Vec<u8>,
    ) -> u16 {
        let mut answer = Answer::error_for(kind, ctx.site(), &ctx.facts);
        answer = answer.with(&CONTENT_LENGTH, HeaderValue::from(body.len()));
        answer.body = Bytes::from(body);
        send_error(session, answer).await;
        kind.status()
    }

    /// An upstream that is not there: WARN (rate-limited), and the 502 body
    /// that says so, for a client on this machine only.
    pub(super) fn unreachable_hint(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        e: &Error,
    ) -> Option<Vec<u8>> {
        let what = upstream_hint::unreachable(e)?;
        let site = ctx.site();
        let hint = upstream_hint::Unreachable {
            upstream: &site.upstream,
            what,
            route: &site.name,
            config_path: self.state.config_path(),
        };
        hint.warn(&self.state.upstream_log);
        let local = upstream_hint::local_viewer(ctx.facts.peer, &session.req_header().headers);
        local.then(|| hint.body(GatewayError::BadGateway.body()))
    }
}

/// Send an error answer; Pingora just closes the connection when a
/// response already started.
async fn send_error(session: &mut Session, answer: Answer) {
    let code = answer.status();
    session.set_keepalive(None);
    if let Err(err) = answer.write_error(session.as_downstream_mut()).await {
        log::debug!("could not send {code} to the client: {err}");
    }
}
