//! The preflight's answer: 204 with `Access-Control-Allow-Methods`,
//! `-Allow-Headers`, `-Max-Age`, `-Allow-Credentials` and a `Vary` on the
//! request headers a preflight is decided by.

use http::header::{HeaderMap, HeaderValue};
use http::StatusCode;
use pingora::http::ResponseHeader;

use super::refusal::CONTENT_LENGTH;
use super::{join, CorsPolicy, CorsSettings, Grant, ALLOW_CREDENTIALS};
use crate::policy::header_edit::Name;
use crate::policy::response_head::response_with;
use crate::policy::vary;

pub(super) const VARY: &[&str] = &[
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
];

pub(super) const ALLOW_ORIGIN: Name = Name::from_static("access-control-allow-origin");

/// What a preflight answer carries besides the origin and `Vary`.
pub(super) fn headers(settings: &CorsSettings, credentials: bool) -> Vec<(Name, HeaderValue)> {
    let mut preflight = Vec::new();
    if credentials {
        preflight.push((ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
    }
    let methods = join(&settings.allowed_methods);
    preflight.push((Name::from_static("access-control-allow-methods"), methods));
    if !settings.allowed_headers.is_empty() {
        let headers = join(&settings.allowed_headers);
        preflight.push((Name::from_static("access-control-allow-headers"), headers));
    }
    preflight.push((
        Name::from_static("access-control-max-age"),
        HeaderValue::from(settings.max_age_secs),
    ));
    preflight
}

impl CorsPolicy {
    /// The 204 answer to an allowed preflight.
    pub fn preflight_response(&self, grant: &Grant) -> ResponseHeader {
        // Room for the security headers decoration adds after these.
        let mut headers = HeaderMap::with_capacity(self.preflight.len() + 16);
        headers.insert(ALLOW_ORIGIN.header.clone(), grant.allow_origin.clone());
        for (name, value) in &self.preflight {
            headers.insert(name.header.clone(), value.clone());
        }
        headers.insert(vary::VARY_NAME.header.clone(), self.vary_preflight.clone());
        headers.insert(CONTENT_LENGTH.header.clone(), HeaderValue::from_static("0"));
        response_with(StatusCode::NO_CONTENT, headers)
    }
}
