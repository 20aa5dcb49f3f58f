//! The violation-report endpoint's HTTP side: method, size, rate and
//! content checks, then `reports::parse` and the counting, for a POST to
//! `[reports] path` on any proxy listener (never forwarded).

use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderName, HeaderValue};
use http::Method;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::{declared_length, Gateway, RequestCtx};
use crate::edge::answer::{Answer, GatewayError};
use crate::edge::refusal;
use crate::observe::metrics::ReportIntake;
use crate::observe::reports::{self, Document};
use crate::policy::body_pace::{BodyPace, Limit, Pace};
use crate::policy::forwarded::ClientView;
use crate::policy::header_edit::Name;
use crate::policy::Policy;

impl Gateway {
    /// The violation-report endpoint: the gateway's own on every route,
    /// outside CORS, never forwarded. `OPTIONS` is answered for browsers
    /// that preflight a cross-origin `application/reports+json` POST.
    pub(super) async fn take_report(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        let method = session.req_header().method.clone();
        if method == Method::OPTIONS {
            let mut answer = Answer::empty(204);
            for (name, value) in report_preflight() {
                answer = answer.with(&Name::new(name), HeaderValue::from_static(value));
            }
            answer
                .decorated(ctx.site(), &ctx.facts)
                .write(session)
                .await?;
            return Ok(true);
        }
        if method != Method::POST {
            let allow = [(
                Name::from_static("allow"),
                HeaderValue::from_static("POST, OPTIONS"),
            )];
            self.write_gateway_error_with(session, ctx, GatewayError::MethodNotAllowed, &allow)
                .await;
            return Ok(true);
        }
        let Some(violations) = self.receive_report(session, ctx).await? else {
            return Ok(true);
        };
        self.state
            .metrics
            .record_report_post(ReportIntake::Accepted);
        self.record_violations(session, ctx, &violations);
        let mut answer = Answer::empty(204).with(
            &Name::new(header::CACHE_CONTROL),
            HeaderValue::from_static("no-store"),
        );
        if session.req_header().headers.contains_key(header::ORIGIN) {
            answer = answer.with(
                &Name::new(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                HeaderValue::from_static("*"),
            );
        }
        answer
            .decorated(ctx.site(), &ctx.facts)
            .write(session)
            .await?;
        Ok(true)
    }

    /// The report's violations, read within the size, rate and pace limits
    /// and parsed; `None` when it was refused (and answered) instead.
    async fn receive_report(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Vec<reports::Violation>>> {
        let metrics = &self.state.metrics;
        let cap = ctx
            .policy
            .reports
            .max_body_bytes
            .min(ctx.policy.server.max_request_body_bytes.unwrap_or(u64::MAX));
        if declared_length(session).is_some_and(|len| len > cap) {
            metrics.record_report_post(ReportIntake::TooLarge);
            self.respond_error(session, ctx, GatewayError::BodyTooLarge)
                .await?;
            return Ok(None);
        }
        if let Some((refused, per_minute)) = self.over_report_rate(ctx) {
            metrics.record_report_post(refused);
            let wait = 60u32.div_ceil(per_minute.max(1)).max(1);
            let retry = [(Name::from_static("retry-after"), HeaderValue::from(wait))];
            self.write_gateway_error_with(session, ctx, GatewayError::TooManyRequests, &retry)
                .await;
            return Ok(None);
        }
        let server = &ctx.policy.server;
        let (deadline, pace) = (server.request_header_timeout, server.request_body);
        let body = match read_capped(session, cap, deadline, &pace).await? {
            Ok(body) => body,
            Err(Cut::TooSlow(limit, bytes)) => {
                self.report_too_slow(session, ctx, limit, bytes).await?;
                return Ok(None);
            }
            Err(Cut::Answer(problem)) => {
                metrics.record_report_post(match problem {
                    GatewayError::BodyTooLarge => ReportIntake::TooLarge,
                    _ => ReportIntake::Invalid,
                });
                self.respond_error(session, ctx, problem).await?;
                return Ok(None);
            }
        };
        let content_type = session
            .req_header()
            .headers
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes);
        match reports::parse(content_type, &body) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                log::debug!("report refused: {}", e.as_str());
                metrics.record_report_post(ReportIntake::Invalid);
                self.respond_error(session, ctx, GatewayError::BadRequest)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Count each violation for the route of the page it is about, and
    /// hand it to the dashboard and the violation log.
    fn record_violations(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        violations: &[reports::Violation],
    ) {
        let policy = &ctx.policy;
        let req = session.req_header();
        let host = ClientView::new(
            &policy.trusted_proxies,
            ctx.facts.peer,
            ctx.facts.tls,
            &req.headers,
            req.uri.authority().map(|a| a.as_str()),
        )
        .host;
        let (now, wall) = (Instant::now(), SystemTime::now());
        let learning = policy.learning_active();
        for v in violations {
            let index = report_site(policy, host, &v.document, ctx.facts.site);
            let site = &policy.sites[index];
            policy.route(index).metrics.record_report(v);
            if learning {
                let client = ctx.facts.client_ip;
                self.state
                    .learning
                    .record_violation(&site.name, v, host, client);
            }
            self.state
                .insight
                .record_report(&site.name, v, now, wall, &policy.report_log);
        }
    }
}

impl Gateway {
    /// Which rate limit refuses this report POST, with its rate. The
    /// client's own bucket is asked first, so a client over its limit
    /// spends nothing of the process-wide cap that the others share.
    fn over_report_rate(&self, ctx: &RequestCtx) -> Option<(ReportIntake, u32)> {
        let settings = &ctx.policy.reports;
        let insight = &self.state.insight;
        let now = Instant::now();
        let per_client = settings.per_client_per_minute;
        if !insight.admit_report_from(ctx.facts.client_ip, per_client, now) {
            return Some((ReportIntake::ClientRateLimited, per_client));
        }
        if !insight.admit_report(settings.per_minute, now) {
            return Some((ReportIntake::RateLimited, settings.per_minute));
        }
        None
    }

    /// A report body that came too slowly: counted, logged, answered 408
    /// (nothing goes upstream from here).
    async fn report_too_slow(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        limit: Limit,
        bytes: u64,
    ) -> Result<bool> {
        let metrics = &self.state.metrics;
        metrics.record_report_post(ReportIntake::Invalid);
        metrics.record_body_timeout(limit);
        refusal::note_slow_body(&self.state, ctx.facts.peer, limit, bytes, false);
        self.respond_error(session, ctx, GatewayError::RequestTimeout)
            .await
    }
}

/// The answer to a preflight of the report endpoint: any origin may POST
/// JSON, without credentials.
fn report_preflight() -> [(HeaderName, &'static str); 5] {
    [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::ACCESS_CONTROL_ALLOW_METHODS, "POST"),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"),
        (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        (header::CONTENT_LENGTH, "0"),
    ]
}

/// Why a report body was not read whole.
enum Cut {
    /// What to answer instead.
    Answer(GatewayError),
    /// It came too slowly for `[server] request_body_*` (by this limit,
    /// after this many bytes).
    TooSlow(Limit, u64),
}

/// Read the whole request body, at most `cap` bytes, within `limit` and at
/// `pace`. `Ok(Err(..))`: what to answer instead; `Err`: the client is gone.
async fn read_capped(
    session: &mut Session,
    cap: u64,
    limit: Duration,
    pace: &BodyPace,
) -> Result<std::result::Result<Vec<u8>, Cut>> {
    // The waits below are the only ones: Pingora's own body read timeout
    // would race them and fail the read as an internal error.
    session.set_read_timeout(None);
    let started = tokio::time::Instant::now();
    let deadline = started + limit;
    let mut body = Vec::new();
    loop {
        let (wait, by) = match pace.next(body.len() as u64, started.elapsed()) {
            Pace::Wait(wait, by) => (wait, by),
            Pace::TooSlow => return Ok(Err(Cut::TooSlow(Limit::MinRate, body.len() as u64))),
        };
        let paced = (tokio::time::Instant::now() + wait).min(deadline);
        let chunk = match tokio::time::timeout_at(paced, session.read_request_body()).await {
            Err(_) if paced < deadline => {
                return Ok(Err(Cut::TooSlow(by, body.len() as u64)));
            }
            Err(_) => return Ok(Err(Cut::Answer(GatewayError::RequestTimeout))),
            Ok(read) => read?,
        };
        let Some(chunk) = chunk else {
            return Ok(Ok(body));
        };
        if (body.len() + chunk.len()) as u64 > cap {
            return Ok(Err(Cut::Answer(GatewayError::BodyTooLarge)));
        }
        body.extend_from_slice(&chunk);
    }
}

/// The route a report counts for: the route the reported page is in, as
/// the host the report was sent to and the page's path select it (the
/// report endpoint is relative, so the page is on that host).
fn report_site(policy: &Policy, host: Option<&[u8]>, doc: &Document, fallback: usize) -> usize {
    let path = doc.path().as_bytes();
    if !path.starts_with(b"/") {
        return fallback;
    }
    crate::policy::path::canonicalize(path)
        .ok()
        .and_then(|canonical| policy.router.route(host, &canonical).ok())
        .unwrap_or(fallback)
}
