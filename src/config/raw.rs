//! The configuration file as users write it: a serde mirror of the TOML.
//! Nothing here is validated beyond types; `config::load` turns it into a
//! `Policy`. Unknown keys are refused everywhere so a typo can't silently
//! leave a setting at its default.

use serde::Deserialize;
use toml::Spanned;

use crate::env::Environment;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub environment: Option<Environment>,
    #[serde(default)]
    pub server: RawServer,
    pub upstream: Option<RawUpstream>,
    #[serde(default)]
    pub cors: RawCors,
    #[serde(default)]
    pub headers: RawHeaders,
    #[serde(default)]
    pub production: RawProfile,
    #[serde(default)]
    pub development: RawProfile,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub admin: RawAdmin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    #[serde(default)]
    pub tls: Vec<RawTls>,
    #[serde(default)]
    pub https_redirect_listen: Vec<Spanned<String>>,
    pub threads: Option<Spanned<i64>>,
    pub work_stealing: Option<bool>,
    pub keepalive_timeout_secs: Option<Spanned<i64>>,
    pub grace_period_secs: Option<Spanned<i64>>,
    pub max_request_header_bytes: Option<Spanned<i64>>,
    pub max_request_body_bytes: Option<Spanned<i64>>,
    pub connection_buffer_bytes: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub listen: Spanned<String>,
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub address: Spanned<String>,
    #[serde(default)]
    pub tls: bool,
    pub sni: Option<String>,
    pub connect_timeout_secs: Option<Spanned<f64>>,
    pub read_timeout_secs: Option<Spanned<f64>>,
    pub write_timeout_secs: Option<Spanned<f64>>,
    pub idle_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub allowed_origins: Option<Vec<Spanned<String>>>,
    pub allowed_methods: Option<Vec<Spanned<String>>>,
    pub allowed_headers: Option<Vec<Spanned<String>>>,
    pub expose_headers: Option<Vec<Spanned<String>>>,
    pub allow_localhost: Option<bool>,
    pub max_age_secs: Option<Spanned<i64>>,
}

/// Each value replaces the profile's default; an empty string turns the
/// header off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaders {
    pub content_security_policy: Option<Spanned<String>>,
    pub strict_transport_security: Option<Spanned<String>>,
    pub x_frame_options: Option<Spanned<String>>,
    pub x_content_type_options: Option<Spanned<String>>,
    pub referrer_policy: Option<Spanned<String>>,
    pub cross_origin_embedder_policy: Option<Spanned<String>>,
    pub remove_x_powered_by: Option<bool>,
}

/// `[production]` / `[development]`: overrides that apply to one profile only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    #[serde(default)]
    pub cors: RawCors,
    #[serde(default)]
    pub headers: RawHeaders,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub access_log: Option<bool>,
    pub blocked_origin_burst: Option<Spanned<i64>>,
    pub blocked_origin_per_minute: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<Spanned<String>>,
}
