//! The gateway's answer to a refused cross-site request (`[fetch_metadata]`):
//! the 403 with the route's security headers and the request id, its
//! counter and its rate-limited WARN line; in report mode only the counter
//! and the line. One place for the front door's fast path and the hooks.

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};

use crate::edge::answer::{Answer, TEXT};
use crate::edge::request::{RequestFacts, Seen};
use crate::observe::blocked_log::Admit;
use crate::observe::logfmt::{Client, Escaped, Suppressed};
use crate::policy::fetch_metadata::{
    FetchDecision, FetchRefusal, REFUSED_BODY, SEC_FETCH_DEST, SEC_FETCH_MODE, SEC_FETCH_SITE,
};
use crate::policy::header_edit::Name;
use crate::state::Active;

const CACHE_CONTROL: Name = Name::from_static("cache-control");

/// The 403 (undecorated) for a refused request; counts and logs a refused
/// or would-be-refused one. `None`: the request goes on.
pub fn answer(policy: &Active, facts: &RequestFacts, seen: &Seen<'_>) -> Option<Answer> {
    let metrics = &policy.route(facts.site).metrics;
    match facts.fetch {
        FetchDecision::Allowed => None,
        FetchDecision::Observed(why) => {
            metrics.record_fetch_would_refuse();
            note(policy, facts, why, true, seen);
            None
        }
        FetchDecision::Refused(why) => {
            metrics.record_fetch_refused();
            note(policy, facts, why, false, seen);
            Some(refused())
        }
    }
}

/// The 403 itself: plain text, never stored.
fn refused() -> Answer {
    Answer::new(403, TEXT, Bytes::from_static(REFUSED_BODY))
        .with(&CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// Every value of a `Sec-Fetch-*` header, as sent, for the log line.
fn sent(headers: &HeaderMap, name: &http::header::HeaderName) -> Vec<u8> {
    let values: Vec<&[u8]> = headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if values.is_empty() {
        b"-".to_vec()
    } else {
        values.join(&b", "[..])
    }
}

/// The rate-limited WARN line: `refused cross-site request` or, in report
/// mode, `would refuse cross-site request`, with `reason=fetch_metadata`.
fn note(policy: &Active, facts: &RequestFacts, why: FetchRefusal, report: bool, seen: &Seen<'_>) {
    let Admit::Log { suppressed_before } = policy.fetch_log.admit(Instant::now()) else {
        return;
    };
    let failed_closed = if matches!(why, FetchRefusal::Invalid(_)) {
        " (a Sec-Fetch-* header is repeated, a list or an unknown value: counted as cross-site)"
    } else {
        ""
    };
    log::warn!(
        target: "helmgate::fetch_metadata",
        "{} cross-site request reason=fetch_metadata why={} site=\"{}\" mode=\"{}\" dest=\"{}\" method={} path=\"{}\" client={} route={} request_id={}{failed_closed}{}",
        if report { "would refuse" } else { "refused" },
        why.as_str(),
        Escaped(&sent(seen.headers, &SEC_FETCH_SITE)),
        Escaped(&sent(seen.headers, &SEC_FETCH_MODE)),
        Escaped(&sent(seen.headers, &SEC_FETCH_DEST)),
        Escaped(seen.method.as_bytes()),
        Escaped(seen.target),
        Client(facts.client_ip),
        policy.sites[facts.site].name,
        Escaped(facts.request_id.as_bytes()),
        Suppressed(suppressed_before),
    );
}
