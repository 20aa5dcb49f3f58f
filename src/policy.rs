//! The validated, typed model the runtime uses. Built once by `config::load`;
//! nothing on the request path parses configuration text again.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::blocked_log::BlockedLogLimiter;
use crate::cors::CorsPolicy;
use crate::env::{Environment, EnvironmentSource};
use crate::forwarded::TrustedProxies;
use crate::headers::{HeaderSettings, SecurityHeaders};

#[derive(Debug)]
pub struct Policy {
    pub environment: Environment,
    pub environment_source: EnvironmentSource,
    pub server: ServerSettings,
    pub trusted_proxies: TrustedProxies,
    pub upstream: UpstreamSettings,
    pub upstream_peer: pingora::upstreams::peer::HttpPeer,
    pub cors: CorsPolicy,
    pub header_settings: HeaderSettings,
    pub headers: SecurityHeaders,
    pub log: LogSettings,
    pub blocked_log: BlockedLogLimiter,
    pub admin_listen: Option<SocketAddr>,
    /// Not fatal, but worth a WARN line at start and reload.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub listen: SocketAddr,
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
    pub max_request_body_bytes: Option<u64>,
    pub connection_buffer_bytes: usize,
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
}

impl Policy {
    /// The port HTTPS redirects point at: the first TLS listener's.
    pub fn https_port(&self) -> Option<u16> {
        self.server.tls.first().map(|t| t.listen.port())
    }

    /// What `--check` prints: the effective policy, every header and value.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let secs = |d: Duration| format!("{}s", d.as_secs_f64());
        let _ = writeln!(
            out,
            "environment: {} (from {})",
            self.environment, self.environment_source
        );
        let _ = writeln!(out, "listeners:");
        for addr in &self.server.listen {
            let _ = writeln!(out, "  http  {addr}");
        }
        for t in &self.server.tls {
            let _ = writeln!(
                out,
                "  https {} (cert {}, key {})",
                t.listen,
                t.cert.display(),
                t.key.display()
            );
        }
        for addr in &self.server.https_redirect_listen {
            let _ = writeln!(out, "  http  {addr} (redirects to https)");
        }
        if let Some(admin) = self.admin_listen {
            let _ = writeln!(out, "  admin {admin} (/metrics, /healthz, /readyz)");
        }
        let nets: Vec<String> = self
            .trusted_proxies
            .nets()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(out, "trusted_proxies: [{}]", nets.join(", "));
        let u = &self.upstream;
        let _ = writeln!(
            out,
            "upstream: {}://{} ({}) connect {} read {} write {} idle {}",
            if u.tls { "https" } else { "http" },
            u.display,
            u.address,
            secs(u.connect_timeout),
            secs(u.read_timeout),
            secs(u.write_timeout),
            secs(u.idle_timeout)
        );
        let s = &self.server;
        let _ = writeln!(
            out,
            "server: threads {} work_stealing {} keepalive {} grace_period {} max_request_header_bytes {} max_request_body_bytes {} connection_buffer_bytes {}",
            s.threads,
            s.work_stealing,
            secs(s.keepalive_timeout),
            secs(s.grace_period),
            s.max_request_header_bytes,
            s.max_request_body_bytes.map_or("unlimited".to_string(), |b| b.to_string()),
            s.connection_buffer_bytes,
        );
        let c = self.cors.settings();
        let origins: Vec<&str> = c.allowed_origins.iter().map(|o| o.as_str()).collect();
        let _ = writeln!(out, "cors:");
        let _ = writeln!(out, "  allowed_origins: [{}]", origins.join(", "));
        let _ = writeln!(out, "  allow_localhost: {}", c.allow_localhost);
        let _ = writeln!(out, "  same-origin requests: allowed");
        let methods: Vec<&str> = c.allowed_methods.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(
            out,
            "  access-control-allow-methods: {}",
            methods.join(", ")
        );
        let _ = writeln!(
            out,
            "  access-control-allow-headers: {}",
            c.allowed_headers.join(", ")
        );
        if !c.expose_headers.is_empty() {
            let _ = writeln!(
                out,
                "  access-control-expose-headers: {}",
                c.expose_headers.join(", ")
            );
        }
        let _ = writeln!(out, "  access-control-allow-credentials: true");
        let _ = writeln!(out, "  access-control-max-age: {}", c.max_age_secs);
        let _ = writeln!(out, "security headers:");
        for (name, _, value) in self.header_settings.entries() {
            match (name, value) {
                ("strict-transport-security", Some(v)) => {
                    let _ = writeln!(out, "  {name}: {v}   (HTTPS only)");
                }
                (_, Some(v)) => {
                    let _ = writeln!(out, "  {name}: {v}");
                }
                (_, None) => {
                    let _ = writeln!(out, "  {name}: (not sent)");
                }
            }
        }
        let _ = writeln!(
            out,
            "  x-powered-by: {}",
            if self.header_settings.remove_x_powered_by {
                "removed"
            } else {
                "passed through"
            }
        );
        let _ = writeln!(
            out,
            "log: format {} access_log {} blocked-origin lines: burst {} then {}/minute",
            match self.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            self.log.access_log,
            self.log.blocked_origin_burst,
            self.log.blocked_origin_per_minute
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}
