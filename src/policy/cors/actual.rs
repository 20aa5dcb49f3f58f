//! What an allowed actual response carries: the origin, credentials and
//! `Access-Control-Expose-Headers`, with the upstream's `Access-Control-*`
//! dropped and `Vary: Origin` merged in.

use http::header::{HeaderName, HeaderValue};

use super::preflight::ALLOW_ORIGIN;
use super::{join, CorsDecision, CorsPolicy, CorsSettings, ALLOW_CREDENTIALS, VARY_ACTUAL};
use crate::policy::header_edit::{HeaderEdit, Name};
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

impl CorsPolicy {
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
