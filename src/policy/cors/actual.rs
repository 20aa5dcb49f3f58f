//! What an allowed actual response carries: the origin, credentials and
//! `Access-Control-Expose-Headers`, with the upstream's `Access-Control-*`
//! dropped and `Vary: Origin` merged in.

use bytes::{BufMut, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::preflight::ALLOW_ORIGIN;
use super::{join, CorsDecision, CorsPolicy, CorsSettings, ALLOW_CREDENTIALS, VARY_ACTUAL};
use crate::policy::fetch_metadata;
use crate::policy::header_edit::{HeaderEdit, Name};
use crate::policy::response_head::Lines;
use crate::policy::vary;

/// What an allowed actual response carries besides the origin and `Vary`.
pub(super) fn headers(settings: &CorsSettings, credentials: bool) -> Vec<(Name, HeaderValue)> {
    let mut actual = Vec::new();
    if credentials {
        actual.push((ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
    }
    if !settings.expose_headers.is_empty() {
        actual.push((
            Name::from_static("access-control-expose-headers"),
            join(&settings.expose_headers),
        ));
    }
    actual
}

/// What `apply_to_response` (and the Fetch Metadata `Vary` after it) adds
/// to a response that has no `Access-Control-*` or `Vary` field of its
/// own, as lines to write after its head: the same fields, without a map
/// insert for each on every proxied response.
#[derive(Debug, Clone)]
pub struct ProxiedLines {
    /// `Access-Control-Allow-Origin: `, the grant's origin to follow.
    allow_origin_name: Lines,
    /// An allowed response's other fields.
    actual: Lines,
    /// `Vary: Origin`, and the same with the Fetch Metadata names merged in.
    vary: Lines,
    vary_with_fetch: Lines,
}

pub(super) fn proxied_lines(actual: &[(Name, HeaderValue)]) -> ProxiedLines {
    let one = |name: &Name, value: HeaderValue| {
        let mut map = HeaderMap::with_capacity(1);
        map.insert(name.header.clone(), value);
        Lines::of(map)
    };
    let vary_actual = join(VARY_ACTUAL);
    let vary_with_fetch = match vary::merged(&[&vary_actual], fetch_metadata::VARY) {
        vary::Merge::Replace(value) => value,
        _ => vary_actual.clone(),
    };
    ProxiedLines {
        allow_origin_name: one(&ALLOW_ORIGIN, HeaderValue::from_static("")),
        actual: Lines::of(
            actual
                .iter()
                .map(|(name, value)| (name.header.clone(), value.clone()))
                .collect(),
        ),
        vary: one(&vary::VARY_NAME, vary_actual),
        vary_with_fetch: one(&vary::VARY_NAME, vary_with_fetch),
    }
}

impl CorsPolicy {
    /// Append to `out` what `apply_to_response` and then, with
    /// `fetch_vary`, `vary::ensure` of the Fetch Metadata names add to a
    /// response without `Access-Control-*` or `Vary` fields, as lines.
    /// `false`, with nothing written, where that depends on the response:
    /// in report mode the upstream keeps its CORS fields.
    pub fn proxied_lines(
        &self,
        decision: &CorsDecision,
        fetch_vary: bool,
        title_case: bool,
        out: &mut BytesMut,
    ) -> bool {
        let lines = &self.proxied;
        match decision {
            CorsDecision::Allowed(grant) => {
                let name = lines.allow_origin_name.get(title_case);
                // The name's line without its CRLF, then the origin's.
                out.put_slice(&name[..name.len() - 2]);
                out.put_slice(grant.allow_origin.as_bytes());
                out.put_slice(b"\r\n");
                out.put_slice(lines.actual.get(title_case));
            }
            CorsDecision::NotCors => {}
            _ => return false,
        }
        let vary = if fetch_vary {
            &lines.vary_with_fetch
        } else {
            &lines.vary
        };
        out.put_slice(vary.get(title_case));
        true
    }

    /// Rewrite an upstream (or gateway-made) response's CORS headers.
    pub fn apply_to_response(&self, resp: &mut dyn HeaderEdit, decision: &CorsDecision) {
        if matches!(decision, CorsDecision::Observed(_)) {
            // Report mode: the upstream still owns CORS.
            return;
        }
        strip_access_control(resp);
        if let CorsDecision::Allowed(grant) | CorsDecision::Preflight(grant) = decision {
            resp.set(&ALLOW_ORIGIN, grant.allow_origin.clone());
            for (name, value) in &self.actual {
                resp.set(name, value.clone());
            }
        }
        // Vary on Origin even without one: the response a cache stores for a
        // plain request must not be served to a CORS request, and vice versa.
        vary::ensure(resp, VARY_ACTUAL, &self.vary_actual);
    }
}

fn strip_access_control(resp: &mut dyn HeaderEdit) {
    let is_ac = |name: &HeaderName| name.as_str().starts_with("access-control-");
    if !resp.headers().keys().any(is_ac) {
        return;
    }
    let names: Vec<HeaderName> = resp
        .headers()
        .keys()
        .filter(|n| is_ac(n))
        .cloned()
        .collect();
    for name in names {
        resp.remove(&name);
    }
}
