//! The validated, typed model the runtime uses, and the pure decisions over
//! it. Built once by `config::load`; nothing on the request path parses
//! configuration text again. Nothing here does I/O or holds runtime state
//! (counters, limiters, warn-once flags live in `state`).
//!
//! May use: nothing above it (no `config`, `observe`, `state`, `edge`, `ops`).

/// Helpers for unit tests across the crate.
#[cfg(test)]
pub(crate) mod testing {
    use std::fmt::Debug;

    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// A header map of `(name, value)` pairs, repeated names appended.
    pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// Asserts that `check` refuses every input with the reason it is
    /// listed under.
    pub fn assert_refused<T, E: Copy + PartialEq + Debug>(
        check: impl Fn(&str) -> Result<T, E>,
        cases: &[(E, &[&str])],
    ) {
        for &(why, inputs) in cases {
            for input in inputs {
                assert_eq!(check(input).err(), Some(why), "{input:?}");
            }
        }
    }
}

pub mod acme;
pub mod admin_host;
pub mod auth;
pub mod authority;
pub mod body_pace;
pub mod cookies;
pub mod cors;
pub mod csp;
pub mod env;
pub mod fetch_metadata;
pub mod forwarded;
pub mod header_edit;
pub mod headers;
pub mod origin;
pub mod path;
pub mod reports;
pub mod response_head;
pub mod routes;
pub mod vary;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use crate::policy::admin_host::AdminHosts;
use crate::policy::auth::AdminToken;
use crate::policy::body_pace::BodyPace;
use crate::policy::cookies::CookiePolicy;
use crate::policy::cors::CorsPolicy;
use crate::policy::env::{Environment, EnvironmentSource};
use crate::policy::fetch_metadata::FetchMetadataPolicy;
use crate::policy::forwarded::TrustedProxies;
use crate::policy::headers::{HeaderSettings, SecurityHeaders};
use crate::policy::reports::{LearningSettings, ReportSettings};
use crate::policy::routes::{RouteMatch, Router, DEFAULT_SITE};

#[derive(Debug)]
pub struct Policy {
    pub environment: Environment,
    pub environment_source: EnvironmentSource,
    pub server: ServerSettings,
    pub trusted_proxies: TrustedProxies,
    /// `[server] trust_all_proxies = true`: every peer is trusted (then
    /// `trusted_proxies` is `0.0.0.0/0` and `::/0`).
    pub trust_all_proxies: bool,
    /// Every route's policy; [`DEFAULT_SITE`] is the top-level one, used
    /// when no route matches.
    pub sites: Vec<SitePolicy>,
    pub router: Router,
    /// Every upstream some site uses, the top-level `[upstream]` first.
    pub upstreams: Vec<Arc<Upstream>>,
    pub log: LogSettings,
    pub admin_listen: Option<SocketAddr>,
    /// Required on every admin path but `/healthz` when set.
    pub admin_token: Option<AdminToken>,
    /// `[admin] hosts`: the Host values the admin listener answers besides
    /// its own IP address and `localhost`.
    pub admin_hosts: AdminHosts,
    /// `[reports]`: the violation-report endpoint.
    pub reports: ReportSettings,
    /// `[learning]`: policy suggestions.
    pub learning: LearningSettings,
    /// Not fatal, but worth a WARN line at start and reload.
    pub warnings: Vec<String>,
    /// The files the configuration was read from: the main one, then each
    /// included one, in the order read.
    pub files: Vec<std::path::PathBuf>,
}

/// Everything that applies to the requests of one route.
#[derive(Debug)]
pub struct SitePolicy {
    /// The route's name; `default` for the top-level policy.
    pub name: Box<str>,
    /// `None` for the default site.
    pub route: Option<RouteMatch>,
    pub cors: CorsPolicy,
    pub header_settings: HeaderSettings,
    pub headers: SecurityHeaders,
    pub upstream: Arc<Upstream>,
    /// `[fetch_metadata]`: cross-site requests that are not navigations.
    pub fetch_metadata: FetchMetadataPolicy,
    /// `[cookies]`: attributes added to the upstream's `Set-Cookie`.
    pub cookies: CookiePolicy,
}

/// A validated upstream with its Pingora peer, built once.
#[derive(Debug)]
pub struct Upstream {
    /// `default` for `[upstream]`, else the NAME of `[upstreams.NAME]`.
    pub name: Box<str>,
    pub settings: UpstreamSettings,
    pub peer: pingora::upstreams::peer::HttpPeer,
}

impl Upstream {
    pub fn new(name: &str, settings: UpstreamSettings) -> Upstream {
        Upstream {
            name: name.into(),
            peer: settings.peer(),
            settings,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub listen: SocketAddr,
    /// The certificate files; `None` on a listener that serves only the
    /// certificates `[server.acme]` obtains.
    pub files: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: Vec<SocketAddr>,
    pub tls: Vec<TlsListener>,
    pub https_redirect_listen: Vec<SocketAddr>,
    pub threads: usize,
    pub work_stealing: bool,
    pub keepalive_timeout: Duration,
    pub grace_period: Duration,
    pub max_request_header_bytes: usize,
    /// The whole request head must arrive within this, from its first byte
    /// (and a new connection must start one within it).
    pub request_header_timeout: Duration,
    pub max_request_body_bytes: Option<u64>,
    /// How slowly a request body may arrive.
    pub request_body: BodyPace,
    pub connection_buffer_bytes: usize,
    /// Pass request headers with `_` in their name (dropped by default).
    pub allow_underscores_in_headers: bool,
    /// Keep HTTP/1 header-name case both ways (off by default, names go on
    /// in Title-Case: a case map per head costs about 12% of a proxied
    /// request's instructions).
    pub preserve_header_case: bool,
    /// `[server.acme]`: certificates obtained from an ACME CA.
    pub acme: Option<crate::policy::acme::AcmeSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// As written in the config, for messages.
    pub display: String,
    pub address: SocketAddr,
    pub tls: bool,
    pub sni: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
}

impl UpstreamSettings {
    /// The Pingora peer, built once per policy and cloned per request.
    pub fn peer(&self) -> pingora::upstreams::peer::HttpPeer {
        let mut peer =
            pingora::upstreams::peer::HttpPeer::new(self.address, self.tls, self.sni.clone());
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.total_connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.write_timeout = Some(self.write_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        peer
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub access_log: bool,
    pub blocked_origin_burst: u32,
    pub blocked_origin_per_minute: u32,
    /// `None`: stderr.
    pub access_log_path: Option<std::path::PathBuf>,
    pub error_log_path: Option<std::path::PathBuf>,
}

impl Policy {
    /// The port HTTPS redirects point at: the first TLS listener's.
    pub fn https_port(&self) -> Option<u16> {
        self.server.tls.first().map(|t| t.listen.port())
    }

    /// Whether the gateway learns (issue 21): `[learning] enabled`, and
    /// violation reports on or a route's CORS in report mode.
    pub fn learning_active(&self) -> bool {
        self.learning.enabled
            && (self.reports.enabled
                || self
                    .sites
                    .iter()
                    .any(|s| s.cors.mode() == crate::policy::cors::CorsMode::Report))
    }

    /// The top-level policy, for requests no route matches.
    pub fn default_site(&self) -> &SitePolicy {
        &self.sites[DEFAULT_SITE]
    }
}
