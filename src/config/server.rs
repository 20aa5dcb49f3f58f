//! `[server]`, `[log]` and `[admin]`: listeners, TLS files, trusted proxies,
//! limits and logging. Socket-level settings are fixed at start.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;

use super::problems::Validator;
use super::raw;
use crate::forwarded::TrustedProxies;
use crate::policy::{LogFormat, LogSettings, ServerSettings, TlsListener};

/// Pingora's default is 64 KiB per connection; 4 KiB holds a typical request
/// head and cuts idle-connection memory by an order of magnitude (the buffer
/// grows for larger heads up to `max_request_header_bytes`).
pub const DEFAULT_CONNECTION_BUFFER_BYTES: i64 = 4096;

impl Validator<'_> {
    pub fn server(&mut self, raw: &raw::RawServer) -> Option<ServerSettings> {
        let listen = self.addresses("server.listen", &raw.listen);
        let redirect = self.addresses("server.https_redirect_listen", &raw.https_redirect_listen);
        let before = self.count();
        let tls: Vec<TlsListener> = raw
            .tls
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.tls_listener(i, t))
            .collect();
        let tls_ok = self.count() == before;
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
        let header_timeout = self.secs(
            "server.request_header_timeout_secs",
            raw.request_header_timeout_secs.as_ref(),
            10.0,
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
            request_header_timeout: header_timeout?,
            max_request_body_bytes: body_bytes?,
            connection_buffer_bytes: buffer? as usize,
            allow_underscores_in_headers: raw.allow_underscores_in_headers.unwrap_or(false),
        })
    }

    fn tls_listener(&mut self, i: usize, t: &raw::RawTls) -> Option<TlsListener> {
        let key_prefix = format!("server.tls[{i}]");
        let listen = self.socket_addr(&format!("{key_prefix}.listen"), &t.listen);
        let cert = self.resolve(t.cert.get_ref());
        let key = self.resolve(t.key.get_ref());
        let before = self.count();
        for (name, path, span) in [("cert", &cert, &t.cert), ("key", &key, &t.key)] {
            if let Err(e) = std::fs::metadata(path) {
                self.problem(
                    format!("{key_prefix}.{name}"),
                    Some(span),
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        }
        if self.count() == before {
            if let Err(message) = crate::tls::load_certified_key(&cert, &key) {
                self.problem(format!("{key_prefix}.cert"), Some(&t.cert), message);
            }
        }
        (self.count() == before).then_some(TlsListener {
            listen: listen?,
            cert,
            key,
        })
    }

    pub fn check_unique_addresses(&mut self, server: &ServerSettings, admin: Option<SocketAddr>) {
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

    pub fn trusted_proxies(&mut self, raw: &[Spanned<String>]) -> Option<TrustedProxies> {
        let before = self.count();
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
        (self.count() == before).then(|| TrustedProxies::new(nets))
    }

    pub fn log(&mut self, raw: &raw::RawLog) -> Option<LogSettings> {
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
