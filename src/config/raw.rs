//! The configuration file as users write it: a serde mirror of the TOML.
//! Nothing here is validated beyond types; `config::load` turns it into a
//! `Policy`. Unknown keys are refused everywhere so a typo can't silently
//! leave a setting at its default.

use std::collections::BTreeMap;

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
    /// Named upstreams that routes refer to.
    #[serde(default)]
    pub upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
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
    #[serde(default)]
    pub reports: RawReports,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Trust every peer as a proxy; also what lets `trusted_proxies` hold a
    /// range broader than /8 (IPv4) or /32 (IPv6).
    pub trust_all_proxies: Option<bool>,
    #[serde(default)]
    pub tls: Vec<RawTls>,
    #[serde(default)]
    pub https_redirect_listen: Vec<Spanned<String>>,
    pub threads: Option<Spanned<i64>>,
    pub work_stealing: Option<bool>,
    pub keepalive_timeout_secs: Option<Spanned<i64>>,
    pub grace_period_secs: Option<Spanned<i64>>,
    pub max_request_header_bytes: Option<Spanned<i64>>,
    pub request_header_timeout_secs: Option<Spanned<f64>>,
    pub max_request_body_bytes: Option<Spanned<i64>>,
    pub connection_buffer_bytes: Option<Spanned<i64>>,
    pub allow_underscores_in_headers: Option<bool>,
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

/// `[[route]]`: which requests it takes, and what it changes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub hosts: Option<Vec<Spanned<String>>>,
    pub path_prefix: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    pub cors: Option<RawCors>,
    pub headers: Option<RawHeaders>,
    #[serde(default)]
    pub production: RawProfile,
    #[serde(default)]
    pub development: RawProfile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub allowed_origins: Option<Vec<Spanned<String>>>,
    pub allowed_methods: Option<Vec<Spanned<String>>>,
    pub allowed_headers: Option<Vec<Spanned<String>>>,
    pub expose_headers: Option<Vec<Spanned<String>>>,
    pub allow_localhost: Option<bool>,
    pub allow_credentials: Option<Spanned<bool>>,
    pub allow_any_origin: Option<Spanned<bool>>,
    pub max_age_secs: Option<Spanned<i64>>,
    pub mode: Option<Spanned<String>>,
}

/// The named security-header keys, in the order of `headers::TABLE` (a unit
/// test keeps the two equal). Each value replaces the profile's default; an
/// empty string turns the header off.
macro_rules! raw_headers {
    ($($key:ident),* $(,)?) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawHeaders {
            pub preset: Option<Spanned<String>>,
            $(pub $key: Option<Spanned<String>>,)*
            pub remove_x_powered_by: Option<bool>,
            /// `[headers.custom]`: any other response header, by name.
            pub custom: Option<BTreeMap<String, Spanned<String>>>,
            pub remove: Option<Vec<Spanned<String>>>,
            pub nonce_request_header: Option<Spanned<String>>,
            pub nonce_html_placeholder: Option<Spanned<String>>,
        }

        impl RawHeaders {
            /// The value of a named header key, by its config name.
            pub fn named(&self, key: &str) -> Option<&Spanned<String>> {
                match key {
                    $(stringify!($key) => self.$key.as_ref(),)*
                    _ => None,
                }
            }
        }

        /// Every named header key `RawHeaders` accepts.
        pub const NAMED_HEADER_KEYS: &[&str] = &[$(stringify!($key)),*];
    };
}

raw_headers!(
    content_security_policy,
    content_security_policy_report_only,
    strict_transport_security,
    x_frame_options,
    x_content_type_options,
    referrer_policy,
    cross_origin_embedder_policy,
    cross_origin_opener_policy,
    cross_origin_resource_policy,
    permissions_policy,
    origin_agent_cluster,
    x_dns_prefetch_control,
    x_download_options,
    x_permitted_cross_domain_policies,
    x_xss_protection,
);

/// `[production]` / `[development]`: overrides that apply to one profile only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub cors: Option<RawCors>,
    pub headers: Option<RawHeaders>,
}

impl RawProfile {
    pub const EMPTY: RawProfile = RawProfile {
        cors: None,
        headers: None,
    };
}

impl RawConfig {
    pub fn profile(&self, env: Environment) -> &RawProfile {
        match env {
            Environment::Production => &self.production,
            Environment::Development => &self.development,
        }
    }
}

impl RawRoute {
    pub fn profile(&self, env: Environment) -> &RawProfile {
        match env {
            Environment::Production => &self.production,
            Environment::Development => &self.development,
        }
    }
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
    pub token: Option<Spanned<String>>,
}

/// `[reports]`: the violation-report endpoint (global: the path is the same
/// on every route).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReports {
    pub enabled: Option<bool>,
    pub path: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub per_minute: Option<Spanned<i64>>,
}
