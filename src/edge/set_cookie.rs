//! The upstream's `Set-Cookie` headers under the route's `[cookies]` rules,
//! in the proxied response hook. A response without `Set-Cookie`, or a
//! route without rules, costs one lookup or none.

use std::time::Instant;

use http::header::{self, HeaderValue};
use pingora::http::ResponseHeader;

use crate::edge::request::RequestFacts;
use crate::observe::blocked_log::Admit;
use crate::observe::logfmt::{Escaped, Suppressed};
use crate::policy::cookies::Rewrite;
use crate::state::Active;

/// Rewrite the response's cookies; count and log (rate-limited) those that
/// break their prefix rules or can't be parsed.
pub fn harden(policy: &Active, facts: &RequestFacts, resp: &mut ResponseHeader) {
    let rules = &policy.sites[facts.site].cookies;
    if !rules.is_active() || !resp.headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let mut changed = false;
    let mut values: Vec<HeaderValue> = Vec::new();
    for value in resp.headers.get_all(header::SET_COOKIE) {
        let out = match rules.rewrite(value.as_bytes(), facts.https) {
            Rewrite::Malformed => {
                note(policy, facts, value.as_bytes(), None);
                None
            }
            Rewrite::Unchanged(violation) => {
                if let Some(v) = violation {
                    note(policy, facts, value.as_bytes(), Some(v.as_str()));
                }
                None
            }
            Rewrite::Changed(new, violation) => {
                if let Some(v) = violation {
                    note(policy, facts, &new, Some(v.as_str()));
                }
                HeaderValue::from_bytes(&new).ok()
            }
        };
        changed |= out.is_some();
        values.push(out.unwrap_or_else(|| value.clone()));
    }
    if !changed {
        return;
    }
    resp.remove_header(&header::SET_COOKIE);
    for v in values {
        // Only fails for an invalid name; SET_COOKIE is a constant.
        let _ = resp.append_header(header::SET_COOKIE, v);
    }
}

/// Count and log one cookie: `violation` names the broken prefix rule;
/// `None` means it could not be parsed. Only the name goes to the log,
/// never the value (a session token).
fn note(policy: &Active, facts: &RequestFacts, cookie: &[u8], violation: Option<&str>) {
    let metrics = &policy.route(facts.site).metrics;
    match violation {
        Some(_) => metrics.record_cookie_prefix_violation(),
        None => metrics.record_cookie_malformed(),
    }
    let Admit::Log { suppressed_before } = policy.cookie_log.admit(Instant::now()) else {
        return;
    };
    let route = &policy.sites[facts.site].name;
    let request_id = Escaped(facts.request_id.as_bytes());
    match violation {
        Some(rule) => {
            let name = cookie.split(|&b| b == b'=').next().unwrap_or_default();
            log::warn!(
                target: "helmgate::cookies",
                "cookie \"{}\" breaks its prefix rule ({rule}): browsers will drop it route={route} request_id={request_id}{}",
                Escaped(name.trim_ascii()),
                Suppressed(suppressed_before),
            );
        }
        None => log::warn!(
            target: "helmgate::cookies",
            "malformed Set-Cookie passed unchanged ({} bytes) route={route} request_id={request_id}{}",
            cookie.len(),
            Suppressed(suppressed_before),
        ),
    }
}
