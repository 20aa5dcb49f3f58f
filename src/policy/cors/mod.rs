//! CORS at the edge: decide what a request is, then render the headers.
//!
//! The gateway owns CORS entirely: whatever `Access-Control-*` the upstream
//! sends is dropped and ours are set once. Every header value is built when
//! the policy is built; per request we only clone `HeaderValue`s. In report
//! mode the gateway stays out of CORS and only records what it would refuse.
//!
//! One file a concern, as tower-http's `cors/`: `allow_origin` (which
//! origins pass), `decision` (what a request is), `preflight` (the 204 and
//! its headers), `actual` (the headers an allowed response carries),
//! `refusal` (the 403). Every header value is built in `CorsPolicy::new`.

mod actual;
mod allow_origin;
mod decision;
mod preflight;
mod refusal;
#[cfg(test)]
mod tests;

use http::header::HeaderValue;
use http::Method;

use crate::policy::header_edit::Name;
use crate::policy::origin::AllowedOrigin;

pub use decision::{CorsDecision, Grant, OwnOrigin, RejectReason};
pub use refusal::REJECTED_BODY;

use allow_origin::Wildcards;

pub const DEFAULT_METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];
pub const DEFAULT_ALLOWED_HEADERS: &[&str] = &[
    "Content-Type",
    "Authorization",
    "x-admin-api-key",
    "x-user-id",
    "x-request-id",
];

const VARY_ACTUAL: &[&str] = &["Origin"];
const ALLOW_CREDENTIALS: Name = Name::from_static("access-control-allow-credentials");

/// Whether the gateway enforces CORS or only reports what it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsMode {
    Enforce,
    /// Forward everything, leave the upstream's `Access-Control-*` alone,
    /// record what enforce mode would have refused.
    Report,
}

impl CorsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CorsMode::Enforce => "enforce",
            CorsMode::Report => "report",
        }
    }
}

/// What the user configured, already validated.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allowed_origins: Vec<AllowedOrigin>,
    pub allow_localhost: bool,
    /// `Access-Control-Allow-Origin: *` for everyone; never with credentials.
    pub allow_any_origin: bool,
    pub allow_credentials: bool,
    pub allowed_methods: Vec<Method>,
    /// Validated header names, kept in the user's spelling: browsers compare
    /// them case-insensitively, people reading responses don't.
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u64,
    pub mode: CorsMode,
}

impl Default for CorsSettings {
    /// Production's defaults with no origins listed.
    fn default() -> CorsSettings {
        CorsSettings {
            allowed_origins: Vec::new(),
            allow_localhost: false,
            allow_any_origin: false,
            allow_credentials: true,
            allowed_methods: DEFAULT_METHODS
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect(),
            allowed_headers: DEFAULT_ALLOWED_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            expose_headers: Vec::new(),
            max_age_secs: 600,
            mode: CorsMode::Enforce,
        }
    }
}

#[derive(Debug)]
pub struct CorsPolicy {
    settings: CorsSettings,
    /// Canonical origin text; lookups cost the same for 1 or 10,000 entries.
    exact: std::collections::HashSet<Box<str>>,
    /// Wildcard patterns by host suffix: a request origin is looked up once
    /// per label of its host, whatever the number of patterns.
    wildcards: Wildcards,
    preflight: Vec<(Name, HeaderValue)>,
    /// Sent on allowed actual responses besides the origin.
    actual: Vec<(Name, HeaderValue)>,
    vary_actual: HeaderValue,
    vary_preflight: HeaderValue,
    proxied: actual::ProxiedLines,
}

impl CorsPolicy {
    pub fn new(settings: CorsSettings) -> CorsPolicy {
        let (exact, wildcards) = allow_origin::origin_sets(&settings.allowed_origins);
        let credentials = settings.allow_credentials && !settings.allow_any_origin;
        let actual = actual::headers(&settings, credentials);
        CorsPolicy {
            exact,
            wildcards,
            preflight: preflight::headers(&settings, credentials),
            proxied: actual::proxied_lines(&actual),
            actual,
            vary_actual: join(VARY_ACTUAL),
            vary_preflight: join(preflight::VARY),
            settings,
        }
    }

    pub fn settings(&self) -> &CorsSettings {
        &self.settings
    }

    pub fn mode(&self) -> CorsMode {
        self.settings.mode
    }

    /// Whether credentials are sent (never together with `*`).
    pub fn sends_credentials(&self) -> bool {
        self.settings.allow_credentials && !self.settings.allow_any_origin
    }
}

/// A list header value from validated tokens.
fn join<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> HeaderValue {
    let items: Vec<S> = items.into_iter().collect();
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    HeaderValue::from_str(&items.join(", ")).expect("validated header tokens")
}
