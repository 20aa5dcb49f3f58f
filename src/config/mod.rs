//! Turning the file users write into a validated [`Policy`]. Every problem is
//! collected (with its key, the bad value and, where known, line and column)
//! before failing, so one `--check` run shows them all.

pub mod raw;

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Method;
use ipnet::IpNet;
use toml::Spanned;

use crate::blocked_log::BlockedLogLimiter;
use crate::cors::{CorsPolicy, CorsSettings};
use crate::env::{self, EnvVars, Environment};
use crate::forwarded::TrustedProxies;
use crate::headers::{HeaderSettings, SecurityHeaders};
use crate::origin::{Origin, OriginError};
use crate::policy::{
    LogFormat, LogSettings, Policy, ServerSettings, TlsListener, UpstreamSettings,
};
use raw::{RawConfig, RawCors, RawHeaders};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/helmgate/helmgate.toml";

pub const DEFAULT_METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];
pub const DEFAULT_ALLOWED_HEADERS: &[&str] = &[
    "Content-Type",
    "Authorization",
    "x-admin-api-key",
    "x-user-id",
    "x-request-id",
];

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    /// 1-based line and column in the file, when the value came from it.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => write!(
                f,
                "line {line}, column {col}: {}: {}",
                self.key, self.message
            ),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (point --config or HELMGATE_CONFIG at a readable file)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {} problem(s):\n{}", .problems.len(), list(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the command line contributes to loading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub environment: Option<Environment>,
}

/// Read and validate the file at `path`.
pub fn load_file(path: &Path, overrides: Overrides, vars: &EnvVars) -> Result<Policy, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, overrides, vars)
}

/// Validate configuration text. `path` is only used in messages.
pub fn load_str(
    text: &str,
    path: &Path,
    overrides: Overrides,
    vars: &EnvVars,
) -> Result<Policy, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let mut v = Validator {
        text,
        base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        problems: Vec::new(),
    };
    match v.policy(raw, overrides, vars) {
        Some(policy) if v.problems.is_empty() => Ok(policy),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: v.problems,
        }),
    }
}

struct Validator<'t> {
    text: &'t str,
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn location(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn problem<T>(
        &mut self,
        key: impl Into<String>,
        at: Option<&Spanned<T>>,
        message: impl Into<String>,
    ) {
        let location = at.map(|s| self.location(s.span().start));
        self.problems.push(Problem {
            key: key.into(),
            location,
            message: message.into(),
        });
    }

    fn policy(&mut self, raw: RawConfig, overrides: Overrides, vars: &EnvVars) -> Option<Policy> {
        let choice = match env::choose(overrides.environment, vars, raw.environment) {
            Ok(c) => Some(c),
            Err(message) => {
                self.problems.push(Problem {
                    key: "HELMGATE_ENV".into(),
                    location: None,
                    message,
                });
                None
            }
        };
        let environment = choice
            .as_ref()
            .map_or(Environment::Production, |c| c.environment);
        let mut warnings = choice
            .as_ref()
            .map(|c| c.warnings.clone())
            .unwrap_or_default();

        let server = self.server(&raw.server);
        let trusted_proxies = self.trusted_proxies(&raw.server.trusted_proxies);
        let upstream = self.upstream(raw.upstream.as_ref());
        let profile = match environment {
            Environment::Production => &raw.production,
            Environment::Development => &raw.development,
        };
        let section = environment.as_str();
        let cors = self.cors(environment, &raw.cors, &profile.cors, section, vars);
        let header_settings = self.header_settings(environment, &raw.headers, &profile.headers);
        let headers = match SecurityHeaders::build(&header_settings) {
            Ok(h) => Some(h),
            Err((key, message)) => {
                self.problem::<()>(format!("headers.{key}"), None, message);
                None
            }
        };
        let log = self.log(&raw.log);
        let admin_listen = raw
            .admin
            .listen
            .as_ref()
            .and_then(|s| self.socket_addr("admin.listen", s));

        if let (Some(server), Some(admin)) = (&server, admin_listen) {
            self.check_unique_addresses(server, Some(admin));
        } else if let Some(server) = &server {
            self.check_unique_addresses(server, None);
        }
        if let Some(cors) = &cors {
            if environment == Environment::Production && cors.settings().allowed_origins.is_empty()
            {
                warnings.push(
                    "production has no allowed origins: every cross-origin request will get 403 (set cors.allowed_origins or CORS_ALLOWED_ORIGINS)"
                        .into(),
                );
            }
        }
        let choice = choice?;
        let log = log?;
        Some(Policy {
            environment,
            environment_source: choice.source,
            server: server?,
            trusted_proxies: trusted_proxies?,
            upstream_peer: upstream.as_ref()?.peer(),
            upstream: upstream?,
            cors: cors?,
            header_settings,
            headers: headers?,
            blocked_log: BlockedLogLimiter::new(
                log.blocked_origin_burst,
                log.blocked_origin_per_minute,
            ),
            log,
            admin_listen,
            warnings,
        })
    }

    fn socket_addr(&mut self, key: &str, raw: &Spanned<String>) -> Option<SocketAddr> {
        match raw.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    key,
                    Some(raw),
                    format!(
                        "{:?} is not an IP:PORT address; write e.g. \"0.0.0.0:8080\" or \"[::]:8080\"",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn addresses(&mut self, key: &str, raw: &[Spanned<String>]) -> Option<Vec<SocketAddr>> {
        let before = self.problems.len();
        let addrs: Vec<SocketAddr> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.socket_addr(&format!("{key}[{i}]"), s))
            .collect();
        (self.problems.len() == before).then_some(addrs)
    }

    fn int(
        &mut self,
        key: &str,
        raw: Option<&Spanned<i64>>,
        default: i64,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let Some(s) = raw else { return Some(default) };
        let v = *s.get_ref();
        if v < min || v > max {
            self.problem(
                key,
                Some(s),
                format!("{v} is out of range; use a value from {min} to {max}"),
            );
            return None;
        }
        Some(v)
    }

    fn secs(&mut self, key: &str, raw: Option<&Spanned<f64>>, default: f64) -> Option<Duration> {
        let Some(s) = raw else {
            return Some(Duration::from_secs_f64(default));
        };
        let v = *s.get_ref();
        if !(v > 0.0 && v <= 86_400.0) {
            self.problem(
                key,
                Some(s),
                format!("{v} is not a timeout; use seconds above 0 and at most 86400"),
            );
            return None;
        }
        Some(Duration::from_secs_f64(v))
    }

    fn server(&mut self, raw: &raw::RawServer) -> Option<ServerSettings> {
        let listen = self.addresses("server.listen", &raw.listen);
        let redirect = self.addresses("server.https_redirect_listen", &raw.https_redirect_listen);
        let before = self.problems.len();
        let tls: Vec<TlsListener> = raw
            .tls
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.tls_listener(i, t))
            .collect();
        let tls_ok = self.problems.len() == before;
        if raw.listen.is_empty() && raw.tls.is_empty() {
            self.problem::<()>(
                "server.listen",
                None,
                "nothing to listen on: add server.listen = [\"127.0.0.1:8080\"] or a [[server.tls]] listener",
            );
        }
        if !raw.https_redirect_listen.is_empty() && raw.tls.is_empty() {
            self.problem::<()>(
                "server.https_redirect_listen",
                None,
                "redirects to HTTPS need a [[server.tls]] listener to point at",
            );
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let threads = self.int("server.threads", raw.threads.as_ref(), cpus, 1, 1024);
        let keepalive = self.int(
            "server.keepalive_timeout_secs",
            raw.keepalive_timeout_secs.as_ref(),
            60,
            0,
            86_400,
        );
        let grace = self.int(
            "server.grace_period_secs",
            raw.grace_period_secs.as_ref(),
            30,
            0,
            3_600,
        );
        let header_bytes = self.int(
            "server.max_request_header_bytes",
            raw.max_request_header_bytes.as_ref(),
            64 * 1024,
            1024,
            1024 * 1024,
        );
        let body_bytes = match &raw.max_request_body_bytes {
            None => Some(None),
            Some(s) => self
                .int("server.max_request_body_bytes", Some(s), 0, 1, i64::MAX)
                .map(|v| Some(v as u64)),
        };
        let buffer = self.int(
            "server.connection_buffer_bytes",
            raw.connection_buffer_bytes.as_ref(),
            DEFAULT_CONNECTION_BUFFER_BYTES,
            1024,
            1024 * 1024,
        );
        Some(ServerSettings {
            listen: listen?,
            tls: tls_ok.then_some(tls)?,
            https_redirect_listen: redirect?,
            threads: threads? as usize,
            work_stealing: raw.work_stealing.unwrap_or(false),
            keepalive_timeout: Duration::from_secs(keepalive? as u64),
            grace_period: Duration::from_secs(grace? as u64),
            max_request_header_bytes: header_bytes? as usize,
            max_request_body_bytes: body_bytes?,
            connection_buffer_bytes: buffer? as usize,
        })
    }

    fn resolve(&self, raw: &str) -> PathBuf {
        let p = PathBuf::from(raw);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }

    fn tls_listener(&mut self, i: usize, t: &raw::RawTls) -> Option<TlsListener> {
        let key_prefix = format!("server.tls[{i}]");
        let listen = self.socket_addr(&format!("{key_prefix}.listen"), &t.listen);
        let cert = self.resolve(t.cert.get_ref());
        let key = self.resolve(t.key.get_ref());
        let before = self.problems.len();
        for (name, path, span) in [("cert", &cert, &t.cert), ("key", &key, &t.key)] {
            if let Err(e) = std::fs::metadata(path) {
                self.problem(
                    format!("{key_prefix}.{name}"),
                    Some(span),
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        }
        if self.problems.len() == before {
            if let Err(message) = crate::tls::load_certified_key(&cert, &key) {
                self.problem(format!("{key_prefix}.cert"), Some(&t.cert), message);
            }
        }
        (self.problems.len() == before).then_some(TlsListener {
            listen: listen?,
            cert,
            key,
        })
    }

    fn check_unique_addresses(&mut self, server: &ServerSettings, admin: Option<SocketAddr>) {
        let mut seen: Vec<SocketAddr> = Vec::new();
        let all = server
            .listen
            .iter()
            .copied()
            .chain(server.tls.iter().map(|t| t.listen))
            .chain(server.https_redirect_listen.iter().copied())
            .chain(admin);
        for addr in all {
            if seen.contains(&addr) {
                self.problem::<()>(
                    "server",
                    None,
                    format!("{addr} is used by more than one listener (proxy, TLS, redirect and admin listeners need their own ports)"),
                );
            }
            seen.push(addr);
        }
    }

    fn trusted_proxies(&mut self, raw: &[Spanned<String>]) -> Option<TrustedProxies> {
        let before = self.problems.len();
        let mut nets = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let text = s.get_ref().trim();
            let parsed = text
                .parse::<IpNet>()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from));
            match parsed {
                Some(net) => nets.push(net.trunc()),
                None => self.problem(
                    format!("server.trusted_proxies[{i}]"),
                    Some(s),
                    format!("{:?} is not a CIDR; write e.g. \"10.0.0.0/8\", \"192.0.2.7/32\" or \"::1/128\"", s.get_ref()),
                ),
            }
        }
        (self.problems.len() == before).then(|| TrustedProxies::new(nets))
    }

    fn upstream(&mut self, raw: Option<&raw::RawUpstream>) -> Option<UpstreamSettings> {
        let Some(raw) = raw else {
            self.problem::<()>(
                "upstream.address",
                None,
                "missing: add [upstream] address = \"127.0.0.1:3000\"",
            );
            return None;
        };
        let text = raw.address.get_ref().trim();
        let address = match text.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => Some(a),
            _ => {
                self.problem(
                    "upstream.address",
                    Some(&raw.address),
                    format!("{text:?} is not a reachable HOST:PORT (it must include the port and resolve), e.g. \"127.0.0.1:3000\""),
                );
                None
            }
        };
        let host = text
            .rsplit_once(':')
            .map_or(text, |(h, _)| h)
            .trim_matches(['[', ']']);
        let sni = raw.sni.clone().unwrap_or_else(|| host.to_string());
        let connect = self.secs(
            "upstream.connect_timeout_secs",
            raw.connect_timeout_secs.as_ref(),
            5.0,
        );
        let read = self.secs(
            "upstream.read_timeout_secs",
            raw.read_timeout_secs.as_ref(),
            60.0,
        );
        let write = self.secs(
            "upstream.write_timeout_secs",
            raw.write_timeout_secs.as_ref(),
            60.0,
        );
        let idle = self.secs(
            "upstream.idle_timeout_secs",
            raw.idle_timeout_secs.as_ref(),
            60.0,
        );
        Some(UpstreamSettings {
            display: text.to_string(),
            address: address?,
            tls: raw.tls,
            sni,
            connect_timeout: connect?,
            read_timeout: read?,
            write_timeout: write?,
            idle_timeout: idle?,
        })
    }

    fn cors(
        &mut self,
        env: Environment,
        shared: &RawCors,
        profile: &RawCors,
        section: &str,
        vars: &EnvVars,
    ) -> Option<CorsPolicy> {
        let before = self.problems.len();
        // The profile's own table wins over the shared one.
        let pick = |f: fn(&RawCors) -> Option<&Vec<Spanned<String>>>| match f(profile) {
            Some(v) => Some((v, format!("{section}.cors"))),
            None => f(shared).map(|v| (v, "cors".to_string())),
        };
        let origins = match vars.cors_allowed_origins.as_deref() {
            Some(list) => self.env_origins(list),
            None => match pick(|c| c.allowed_origins.as_ref()) {
                Some((list, table)) => self.origins(&format!("{table}.allowed_origins"), list),
                None => Vec::new(),
            },
        };
        let methods = match pick(|c| c.allowed_methods.as_ref()) {
            Some((list, table)) => self.methods(&format!("{table}.allowed_methods"), list),
            None => DEFAULT_METHODS
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect(),
        };
        let allowed_headers = match pick(|c| c.allowed_headers.as_ref()) {
            Some((list, table)) => self.header_names(&format!("{table}.allowed_headers"), list),
            None => DEFAULT_ALLOWED_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
        };
        let expose_headers = match pick(|c| c.expose_headers.as_ref()) {
            Some((list, table)) => self.header_names(&format!("{table}.expose_headers"), list),
            None => Vec::new(),
        };
        let default_max_age = match env {
            Environment::Production => 600,
            Environment::Development => 86_400,
        };
        let (max_age_raw, max_age_key) = match (&profile.max_age_secs, &shared.max_age_secs) {
            (Some(p), _) => (Some(p), format!("{section}.cors.max_age_secs")),
            (None, s) => (s.as_ref(), "cors.max_age_secs".to_string()),
        };
        let max_age = self.int(&max_age_key, max_age_raw, default_max_age, 0, 31_536_000);
        let allow_localhost = profile
            .allow_localhost
            .or(shared.allow_localhost)
            .unwrap_or(env == Environment::Development);
        if self.problems.len() != before {
            return None;
        }
        Some(CorsPolicy::new(CorsSettings {
            allowed_origins: origins,
            allow_localhost,
            allowed_methods: methods,
            allowed_headers,
            expose_headers,
            max_age_secs: max_age? as u64,
        }))
    }

    fn origins(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<Origin> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match Origin::parse(s.get_ref()) {
                Ok(o) => out.push(o),
                Err(e) => {
                    let message = origin_message(s.get_ref(), e);
                    self.problem(format!("{key}[{i}]"), Some(s), message);
                }
            }
        }
        out
    }

    fn env_origins(&mut self, list: &str) -> Vec<Origin> {
        let mut out = Vec::new();
        for (i, entry) in list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            match Origin::parse(entry) {
                Ok(o) => out.push(o),
                Err(e) => self.problem::<()>(
                    format!("CORS_ALLOWED_ORIGINS entry {}", i + 1),
                    None,
                    origin_message(entry, e),
                ),
            }
        }
        out
    }

    fn methods(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<Method> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let upper = s.get_ref().trim().to_ascii_uppercase();
            match Method::from_bytes(upper.as_bytes()) {
                Ok(m) if !upper.is_empty() => out.push(m),
                _ => self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    format!("{:?} is not an HTTP method", s.get_ref()),
                ),
            }
        }
        out
    }

    fn header_names(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let name = s.get_ref().trim();
            if name == "*" {
                self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    "`*` is not honoured by browsers for credentialed requests; list the header names",
                );
            } else if HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    format!("{name:?} is not a header name"),
                );
            } else {
                out.push(name.to_string());
            }
        }
        out
    }

    fn header_settings(
        &mut self,
        env: Environment,
        shared: &RawHeaders,
        profile: &RawHeaders,
    ) -> HeaderSettings {
        let mut s = HeaderSettings::defaults(env);
        // Shared first, then the profile's own table on top.
        for (table, raw) in [("headers", shared), (env.as_str(), profile)] {
            let fields: [HeaderField<'_>; 6] = [
                (
                    "content_security_policy",
                    &raw.content_security_policy,
                    &mut s.content_security_policy,
                ),
                (
                    "strict_transport_security",
                    &raw.strict_transport_security,
                    &mut s.strict_transport_security,
                ),
                (
                    "x_frame_options",
                    &raw.x_frame_options,
                    &mut s.x_frame_options,
                ),
                (
                    "x_content_type_options",
                    &raw.x_content_type_options,
                    &mut s.x_content_type_options,
                ),
                (
                    "referrer_policy",
                    &raw.referrer_policy,
                    &mut s.referrer_policy,
                ),
                (
                    "cross_origin_embedder_policy",
                    &raw.cross_origin_embedder_policy,
                    &mut s.cross_origin_embedder_policy,
                ),
            ];
            for (name, value, slot) in fields {
                let Some(v) = value else { continue };
                let text = v.get_ref().trim();
                if HeaderValue::from_str(text).is_err() {
                    let key = if table == "headers" {
                        format!("headers.{name}")
                    } else {
                        format!("{table}.headers.{name}")
                    };
                    self.problem(
                        key,
                        Some(v),
                        "is not a valid header value (control characters or non-ASCII)",
                    );
                    continue;
                }
                *slot = (!text.is_empty()).then(|| text.to_string());
            }
            if let Some(remove) = raw.remove_x_powered_by {
                s.remove_x_powered_by = remove;
            }
        }
        s
    }

    fn log(&mut self, raw: &raw::RawLog) -> Option<LogSettings> {
        let format = match raw.format.as_ref().map(|f| (f, f.get_ref().as_str())) {
            None | Some((_, "text")) => Some(LogFormat::Text),
            Some((_, "json")) => Some(LogFormat::Json),
            Some((span, other)) => {
                self.problem(
                    "log.format",
                    Some(span),
                    format!("{other:?} is not a log format; use \"text\" or \"json\""),
                );
                None
            }
        };
        let burst = self.int(
            "log.blocked_origin_burst",
            raw.blocked_origin_burst.as_ref(),
            20,
            1,
            100_000,
        );
        let per_minute = self.int(
            "log.blocked_origin_per_minute",
            raw.blocked_origin_per_minute.as_ref(),
            60,
            1,
            1_000_000,
        );
        Some(LogSettings {
            format: format?,
            access_log: raw.access_log.unwrap_or(true),
            blocked_origin_burst: burst? as u32,
            blocked_origin_per_minute: per_minute? as u32,
        })
    }
}

/// A header's config key, its raw value and the slot it overrides.
type HeaderField<'a> = (
    &'static str,
    &'a Option<Spanned<String>>,
    &'a mut Option<String>,
);

/// Pingora's default is 64 KiB per connection; 4 KiB holds a typical request
/// head and cuts idle-connection memory by an order of magnitude (the buffer
/// grows for larger heads up to `max_request_header_bytes`).
pub const DEFAULT_CONNECTION_BUFFER_BYTES: i64 = 4096;

fn origin_message(entry: &str, e: OriginError) -> String {
    let trimmed = entry.trim();
    let hint = match e {
        OriginError::HasPath => {
            let scheme_end = trimmed.find("://").map_or(0, |i| i + 3);
            let end = trimmed[scheme_end..]
                .find(['/', '?', '#', '\\'])
                .map_or(trimmed.len(), |i| scheme_end + i);
            format!("; write {:?}", &trimmed[..end])
        }
        OriginError::NoScheme => format!("; write \"https://{trimmed}\""),
        OriginError::Wildcard => "; list each allowed origin explicitly".to_string(),
        _ => String::new(),
    };
    format!("{entry:?} is not a valid origin: it {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
environment = "production"
[server]
listen = ["127.0.0.1:8080"]
[upstream]
address = "127.0.0.1:3000"
[cors]
allowed_origins = ["https://app.example.com"]
"#;

    fn load(text: &str) -> Result<Policy, ConfigError> {
        load_str(
            text,
            Path::new("test.toml"),
            Overrides::default(),
            &EnvVars::default(),
        )
    }

    fn problems(text: &str) -> Vec<Problem> {
        match load(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_loads_with_production_defaults() {
        let p = load(MINIMAL).unwrap();
        assert_eq!(p.environment, Environment::Production);
        assert_eq!(p.cors.settings().max_age_secs, 600);
        assert!(!p.cors.settings().allow_localhost);
        assert_eq!(p.upstream.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load(&format!("{MINIMAL}\n[server2]\nx = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server2"), "{err}");
        let err = load(&MINIMAL.replace("[cors]", "[cors]\nallowed_orgins = []"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowed_orgins"), "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = load("environment = \n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn bad_origins_are_each_named_with_a_fix() {
        let text = MINIMAL.replace(
            "[\"https://app.example.com\"]",
            "[\"https://ok.example.com\", \"https://a.example.com/\", \"b.example.com\", \"*\", \"https://c.example.com/path\"]",
        );
        let ps = problems(&text);
        assert_eq!(ps.len(), 4, "{ps:?}");
        assert!(
            ps[0].key.ends_with("allowed_origins[1]")
                && ps[0].message.contains("\"https://a.example.com\"")
        );
        assert!(ps[1].message.contains("https://b.example.com"));
        assert!(ps[2].message.contains("wildcard"));
        assert!(ps[3].message.contains("\"https://c.example.com\""));
        assert_eq!(ps[0].location.map(|l| l.0), Some(8));
    }

    #[test]
    fn all_problems_are_reported_together() {
        let text = r#"
[server]
listen = ["nope"]
trusted_proxies = ["10.0.0.0/33"]
[upstream]
address = "127.0.0.1:3000"
read_timeout_secs = -1.0
[log]
format = "xml"
"#;
        let keys: Vec<String> = problems(text).into_iter().map(|p| p.key).collect();
        for want in [
            "server.listen[0]",
            "server.trusted_proxies[0]",
            "upstream.read_timeout_secs",
            "log.format",
        ] {
            assert!(keys.iter().any(|k| k == want), "missing {want} in {keys:?}");
        }
    }

    #[test]
    fn profile_tables_override_shared_ones() {
        let text = format!(
            "{MINIMAL}\n[headers]\nx_frame_options = \"SAMEORIGIN\"\n[development.cors]\nallowed_origins = [\"https://dev.example.com\"]\n[production.headers]\nreferrer_policy = \"no-referrer\"\n"
        );
        let prod = load(&text).unwrap();
        assert_eq!(
            prod.header_settings.x_frame_options.as_deref(),
            Some("SAMEORIGIN")
        );
        assert_eq!(
            prod.header_settings.referrer_policy.as_deref(),
            Some("no-referrer")
        );
        assert_eq!(
            prod.cors.settings().allowed_origins[0].as_str(),
            "https://app.example.com"
        );
        let dev = load_str(
            &text,
            Path::new("t"),
            Overrides {
                environment: Some(Environment::Development),
            },
            &EnvVars::default(),
        )
        .unwrap();
        assert_eq!(
            dev.cors.settings().allowed_origins[0].as_str(),
            "https://dev.example.com"
        );
        assert_eq!(
            dev.header_settings.referrer_policy.as_deref(),
            Some("strict-origin-when-cross-origin")
        );
        assert_eq!(dev.cors.settings().max_age_secs, 86_400);
    }

    #[test]
    fn empty_header_value_turns_it_off() {
        let p = load(&format!(
            "{MINIMAL}\n[headers]\ncontent_security_policy = \"\"\n"
        ))
        .unwrap();
        assert_eq!(p.header_settings.content_security_policy, None);
    }

    #[test]
    fn cors_allowed_origins_env_replaces_the_list() {
        let vars = EnvVars {
            cors_allowed_origins: Some("https://x.example.com, https://y.example.com".into()),
            ..EnvVars::default()
        };
        let p = load_str(MINIMAL, Path::new("t"), Overrides::default(), &vars).unwrap();
        let list: Vec<&str> = p
            .cors
            .settings()
            .allowed_origins
            .iter()
            .map(|o| o.as_str())
            .collect();
        assert_eq!(list, ["https://x.example.com", "https://y.example.com"]);
        let bad = EnvVars {
            cors_allowed_origins: Some("https://x.example.com/".into()),
            ..EnvVars::default()
        };
        let err = load_str(MINIMAL, Path::new("t"), Overrides::default(), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CORS_ALLOWED_ORIGINS"), "{err}");
    }

    #[test]
    fn production_without_origins_warns() {
        let p = load(&MINIMAL.replace("[\"https://app.example.com\"]", "[]")).unwrap();
        assert!(p.warnings.iter().any(|w| w.contains("no allowed origins")));
    }

    #[test]
    fn missing_tls_files_name_the_key() {
        let text = format!("{MINIMAL}\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n");
        let keys: Vec<String> = problems(&text).into_iter().map(|p| p.key).collect();
        assert!(keys.contains(&"server.tls[0].cert".to_string()), "{keys:?}");
        assert!(keys.contains(&"server.tls[0].key".to_string()), "{keys:?}");
    }

    #[test]
    fn every_shipped_example_config_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Err(e) = load_file(&path, Overrides::default(), &EnvVars::default()) {
                    panic!("{}: {e}", path.display());
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 3,
            "expected the three example configs, found {checked}"
        );
    }
}
