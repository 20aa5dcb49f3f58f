//! The CORS answers the gateway gives itself, never asking the upstream: the
//! 204 to an allowed preflight and the 403 to a refused origin, with their
//! counters and the blocked-origin line; and the request's closing entry
//! (metrics, access log). One place, whether the request came through
//! Pingora's hooks or the front door's fast path.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};

use crate::edge::answer::Answer;
use crate::edge::isolation;
use crate::edge::request::RequestFacts;
pub use crate::edge::request::Seen;
use crate::observe::access_log;
use crate::observe::blocked_log::Admit;
use crate::observe::logfmt::Escaped;
use crate::policy::cors::{self, CorsDecision, RejectReason};
use crate::state::Active;
use crate::state::SharedState;

/// The gateway's own answer to this request, before `answer::decorate`:
/// CORS's (a preflight's 204, a refused origin's 403) first, then
/// `[fetch_metadata]`'s 403. The caller decorates it: the hooks with
/// `Answer::decorated`, the front door with the route's pre-built header
/// bytes where it can.
pub fn own_answer(
    state: &SharedState,
    policy: &Active,
    facts: &RequestFacts,
    seen: &Seen<'_>,
) -> Option<Answer> {
    cors_answer(state, policy, facts, seen).or_else(|| isolation::answer(policy, facts, seen))
}

/// CORS's answer to this request, if it makes one. Report mode only
/// records what it would have refused.
fn cors_answer(
    state: &SharedState,
    policy: &Active,
    facts: &RequestFacts,
    seen: &Seen<'_>,
) -> Option<Answer> {
    let site = &policy.sites[facts.site];
    match &facts.cors {
        CorsDecision::Preflight(grant) => {
            let head = site.cors.preflight_response(grant);
            policy.route(facts.site).metrics.record_preflight();
            Some(Answer::from_head(head, Bytes::new()))
        }
        CorsDecision::Rejected(reason) => {
            note_refused(state, policy, facts, *reason, false, seen);
            policy.route(facts.site).metrics.record_blocked(*reason);
            let head = site.cors.rejected_response();
            Some(Answer::from_head(
                head,
                Bytes::from_static(cors::REJECTED_BODY),
            ))
        }
        CorsDecision::Observed(Some(reason)) => {
            // Report mode: forwarded untouched; say what enforce would do.
            note_refused(state, policy, facts, *reason, true, seen);
            policy.route(facts.site).metrics.record_would_block(*reason);
            None
        }
        CorsDecision::NotCors | CorsDecision::Allowed(_) | CorsDecision::Observed(None) => None,
    }
}

/// Count the refused origin for the dashboard and write the rate-limited
/// WARN line (`CORS blocked origin ...` or, in report mode, `CORS would
/// block origin ...`).
pub fn note_refused(
    state: &SharedState,
    policy: &Active,
    facts: &RequestFacts,
    reason: RejectReason,
    would_block: bool,
    seen: &Seen<'_>,
) {
    let now = Instant::now();
    let origins: Vec<&[u8]> = seen
        .headers
        .get_all(header::ORIGIN)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let origin = origins.join(&b", "[..]);
    state
        .insight
        .record_refused_origin(&origin, would_block, now);
    let Admit::Log { suppressed_before } = policy.blocked_log.admit(now) else {
        return;
    };
    let client = facts
        .client_ip
        .map_or_else(|| "-".to_string(), |ip| ip.to_string());
    let suppressed = if suppressed_before > 0 {
        format!(" ({suppressed_before} similar lines suppressed)")
    } else {
        String::new()
    };
    log::warn!(
        target: "helmgate::cors",
        "CORS {} origin \"{}\" reason={} method={} path=\"{}\" client={} route={} request_id={}{}",
        if would_block { "would block" } else { "blocked" },
        Escaped(&origin),
        reason.as_str(),
        Escaped(seen.method.as_bytes()),
        Escaped(seen.target),
        client,
        policy.sites[facts.site].name,
        Escaped(facts.request_id.as_bytes()),
        suppressed
    );
}

/// What a finished request leaves behind: its counters and access line.
pub struct Finished<'a> {
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub body_bytes: usize,
    pub elapsed: Duration,
    pub seen: Seen<'a>,
}

pub fn finish(state: &SharedState, policy: &Active, facts: &RequestFacts, done: &Finished<'_>) {
    let site = &policy.sites[facts.site];
    policy.route(facts.site).metrics.record_request(done.status);
    state.metrics.record_duration(done.elapsed);
    if !policy.log.access_log || !log::log_enabled!(target: access_log::TARGET, log::Level::Info) {
        return;
    }
    access_log::write(
        policy.log.format,
        &access_log::Entry {
            client: facts.client_ip,
            method: done.seen.method,
            path: done.seen.target,
            status: done.status,
            upstream_status: done.upstream_status,
            bytes: done.body_bytes,
            duration: done.elapsed,
            origin: done
                .seen
                .headers
                .get(header::ORIGIN)
                .map(HeaderValue::as_bytes),
            cors: facts.cors.as_str(),
            route: &site.name,
            request_id: facts.request_id.as_bytes(),
        },
    );
}
