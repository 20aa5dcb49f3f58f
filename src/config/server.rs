//! `[server]`, `[log]` and `[admin]`: listeners, TLS files, trusted proxies,
//! limits and logging. Socket-level settings are fixed at start.

use crate::config::problems::{int_setting, secs_setting};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use toml::Spanned;

use super::problems::Validator;
use super::raw;
use crate::policy::body_pace::BodyPace;
use crate::policy::forwarded::TrustedProxies;
use crate::policy::{LogFormat, LogSettings, ServerSettings, TlsFiles, TlsListener};

/// Pingora's default is 64 KiB per connection; 4 KiB holds a typical request
/// head and cuts idle-connection memory by an order of magnitude (the buffer
/// grows for larger heads up to `max_request_header_bytes`).
pub const DEFAULT_CONNECTION_BUFFER_BYTES: i64 = 4096;

/// Logged at start and reload, and printed by `--check`, while
/// `trust_all_proxies = true`.
pub const TRUST_ALL_WARNING: &str = "server.trust_all_proxies = true: every peer is trusted as a proxy, so any client that can connect can forge X-Forwarded-For (spoof its IP address in logs), X-Forwarded-Proto (claim HTTPS and get HSTS) and X-Forwarded-Host (pick the host used for same-origin CORS and routing); this is only safe when nothing but your own proxies can reach helmgate's listeners";

/// The IPv4-mapped block, `::ffff:0:0/96`: every IPv4 address in IPv6 form.
const V4_MAPPED: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);

/// Why two listeners would compete for one socket, if they would: the same
/// port on addresses that intersect. `0.0.0.0` takes the port on every IPv4
/// address, `[::]` on every IPv6 address and, dual-stack as Linux opens it
/// by default (`net.ipv6.bindv6only = 0`), on every IPv4 address too.
pub fn overlap(a: SocketAddr, b: SocketAddr) -> Option<&'static str> {
    if a.port() != b.port() {
        return None;
    }
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    let any_v6 = |ip: IpAddr| ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    match (x, y) {
        _ if x == y => Some("the same address"),
        (IpAddr::V4(p), IpAddr::V4(q)) if p.is_unspecified() || q.is_unspecified() => {
            Some("0.0.0.0 takes the port on every IPv4 address")
        }
        (IpAddr::V6(_), IpAddr::V6(_)) if any_v6(x) || any_v6(y) => {
            Some("[::] takes the port on every IPv6 address")
        }
        (IpAddr::V6(_), IpAddr::V4(_)) if any_v6(x) => {
            Some("[::] is dual-stack on Linux: it takes the port on every IPv4 address too")
        }
        (IpAddr::V4(_), IpAddr::V6(_)) if any_v6(y) => {
            Some("[::] is dual-stack on Linux: it takes the port on every IPv4 address too")
        }
        _ => None,
    }
}

/// An IPv4-mapped IPv6 net (`::ffff:10.0.0.0/104`) as the IPv4 net it means
/// (`10.0.0.0/8`): peers are compared in their canonical form, so a v4 peer
/// on a dual-stack listener is an IPv4 address, which an IPv6 net never
/// contains.
fn unmap(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() >= 96 && V4_MAPPED.contains(&n.network()) => n
            .network()
            .to_ipv4_mapped()
            .and_then(|a| Ipv4Net::new(a, n.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        other => other,
    }
}

/// Why `net` is too broad to be a list of proxies, if it is: an IPv4 prefix
/// shorter than /8, an IPv6 prefix shorter than /32, an IPv6 net that holds
/// all of the IPv4-mapped block (every IPv4 address), or an IPv4-mapped net
/// whose IPv4 equivalent is shorter than /8.
pub fn too_broad(net: IpNet) -> Option<String> {
    match net {
        IpNet::V6(n) if n.prefix_len() >= 96 && V4_MAPPED.contains(&n.network()) => {
            let v4 = unmap(net);
            too_broad(v4).map(|why| format!("the IPv4-mapped form of {v4}: {why}"))
        }
        IpNet::V4(n) if n.prefix_len() == 0 => Some("it matches every IPv4 address".into()),
        IpNet::V4(n) if n.prefix_len() < 8 => Some(format!(
            "a /{} is shorter than /8, the broadest IPv4 range allowed",
            n.prefix_len()
        )),
        IpNet::V6(n) if n.prefix_len() == 0 => Some(
            "it matches every IPv6 address, and every IPv4 address in its IPv4-mapped form".into(),
        ),
        IpNet::V6(n) if n.prefix_len() < 32 => Some(format!(
            "a /{} is shorter than /32, the broadest IPv6 range allowed",
            n.prefix_len()
        )),
        IpNet::V6(n) if n.contains(&V4_MAPPED) => Some(
            "it contains ::ffff:0:0/96, so it matches every IPv4 address in its IPv4-mapped form"
                .into(),
        ),
        IpNet::V4(_) | IpNet::V6(_) => None,
    }
}

/// `[server]`'s request limits, validated together.
struct RequestLimits {
    header_bytes: usize,
    header_timeout: Duration,
    body_bytes: Option<u64>,
    body_pace: BodyPace,
    buffer_bytes: usize,
}

impl Validator<'_> {
    pub fn server(&mut self, raw: &raw::RawServer) -> Option<ServerSettings> {
        let listeners = self.listeners(raw);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let threads = int_setting!(self, "server", raw, threads, cpus, 1..=1024);
        let keepalive = int_setting!(self, "server", raw, keepalive_timeout_secs, 60, 0..=86_400);
        let grace = int_setting!(self, "server", raw, grace_period_secs, 30, 0..=3_600);
        let limits = self.request_limits(raw);
        let (listen, tls, https_redirect_listen) = listeners?;
        let limits = limits?;
        Some(ServerSettings {
            listen,
            tls,
            https_redirect_listen,
            threads: threads? as usize,
            work_stealing: raw.work_stealing.unwrap_or(false),
            keepalive_timeout: Duration::from_secs(keepalive? as u64),
            grace_period: Duration::from_secs(grace? as u64),
            max_request_header_bytes: limits.header_bytes,
            request_header_timeout: limits.header_timeout,
            max_request_body_bytes: limits.body_bytes,
            request_body: limits.body_pace,
            connection_buffer_bytes: limits.buffer_bytes,
            allow_underscores_in_headers: raw.allow_underscores_in_headers.unwrap_or(false),
            preserve_header_case: raw.preserve_header_case.unwrap_or(false),
            // Set by `policy`, which knows the routes' hosts.
            acme: None,
        })
    }

    /// `(listen, tls, https_redirect_listen)`, and the problems of a server
    /// that listens nowhere or redirects to no TLS listener.
    fn listeners(
        &mut self,
        raw: &raw::RawServer,
    ) -> Option<(Vec<SocketAddr>, Vec<TlsListener>, Vec<SocketAddr>)> {
        let listen = self.addresses("server.listen", &raw.listen);
        let redirect = self.addresses("server.https_redirect_listen", &raw.https_redirect_listen);
        let before = self.count();
        let tls: Vec<TlsListener> = raw
            .tls
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.tls_listener(i, t, raw.acme.is_some()))
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
        Some((listen?, tls_ok.then_some(tls)?, redirect?))
    }

    /// The limits on one request's head and body, and the connection buffer.
    fn request_limits(&mut self, raw: &raw::RawServer) -> Option<RequestLimits> {
        let header_bytes = int_setting!(
            self,
            "server",
            raw,
            max_request_header_bytes,
            64 * 1024,
            1024..=1024 * 1024
        );
        let header_timeout = secs_setting!(self, "server", raw, request_header_timeout_secs, 10.0);
        let body_bytes = match &raw.max_request_body_bytes {
            None => Some(None),
            Some(s) => self
                .int("server.max_request_body_bytes", Some(s), 0, 1, i64::MAX)
                .map(|v| Some(v as u64)),
        };
        let body_timeout = secs_setting!(self, "server", raw, request_body_timeout_secs, 20.0);
        let body_rate = int_setting!(self, "server", raw, request_body_min_rate, 500, 0..=1 << 30);
        let buffer = int_setting!(
            self,
            "server",
            raw,
            connection_buffer_bytes,
            DEFAULT_CONNECTION_BUFFER_BYTES,
            1024..=1024 * 1024
        );
        Some(RequestLimits {
            header_bytes: header_bytes? as usize,
            header_timeout: header_timeout?,
            body_bytes: body_bytes?,
            body_pace: BodyPace {
                timeout: body_timeout?,
                min_rate: body_rate? as u64,
            },
            buffer_bytes: buffer? as usize,
        })
    }

    fn tls_listener(&mut self, i: usize, t: &raw::RawTls, acme: bool) -> Option<TlsListener> {
        let key_prefix = format!("server.tls[{i}]");
        let listen = self.socket_addr(&format!("{key_prefix}.listen"), &t.listen);
        let before = self.count();
        let files = match (&t.cert, &t.key) {
            (Some(cert), Some(key)) => self.tls_files(&key_prefix, cert, key),
            (None, None) if acme => None,
            (None, None) => {
                self.problem(
                    &key_prefix,
                    Some(&t.listen),
                    "needs cert and key files, or [server.acme] to obtain its certificates",
                );
                None
            }
            (Some(s), None) | (None, Some(s)) => {
                self.problem(
                    &key_prefix,
                    Some(s),
                    "set both cert and key, or neither (with [server.acme])",
                );
                None
            }
        };
        (self.count() == before).then_some(TlsListener {
            listen: listen?,
            files,
        })
    }

    fn tls_files(
        &mut self,
        key_prefix: &str,
        cert_raw: &Spanned<String>,
        key_raw: &Spanned<String>,
    ) -> Option<TlsFiles> {
        let cert = self.resolve(cert_raw.get_ref());
        let key = self.resolve(key_raw.get_ref());
        let before = self.count();
        for (name, path, span) in [("cert", &cert, cert_raw), ("key", &key, key_raw)] {
            if let Err(e) = std::fs::metadata(path) {
                self.problem(
                    format!("{key_prefix}.{name}"),
                    Some(span),
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        }
        if self.count() == before {
            if let Err(message) = crate::config::tls::load_certified_key(&cert, &key) {
                self.problem(format!("{key_prefix}.cert"), Some(cert_raw), message);
            }
        }
        (self.count() == before).then_some(TlsFiles { cert, key })
    }

    /// Refuse listeners that would compete for one socket (see [`overlap`]):
    /// they pass validation, then one of them fails to bind at start.
    pub fn check_unique_addresses(
        &mut self,
        server: &raw::RawServer,
        admin: Option<&Spanned<String>>,
    ) {
        let listeners: Vec<(String, &Spanned<String>)> = server
            .listen
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("server.listen[{i}]"), s))
            .chain(
                server
                    .tls
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("server.tls[{i}].listen"), &t.listen)),
            )
            .chain(
                server
                    .https_redirect_listen
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("server.https_redirect_listen[{i}]"), s)),
            )
            .chain(admin.map(|s| ("admin.listen".to_string(), s)))
            .collect();
        // Unparsable addresses were reported already.
        let parsed: Vec<(String, &Spanned<String>, SocketAddr)> = listeners
            .into_iter()
            .filter_map(|(key, s)| Some((key, s, s.get_ref().parse().ok()?)))
            .collect();
        for (j, (key, span, addr)) in parsed.iter().enumerate() {
            let clash = parsed[..j]
                .iter()
                .find_map(|(k, _, a)| overlap(*a, *addr).map(|why| (k, a, why)));
            if let Some((other_key, other, why)) = clash {
                self.problem(
                    key.clone(),
                    Some(*span),
                    format!(
                        "{addr} overlaps {other_key} = {other} ({why}), so one of them could not listen; give each listener (proxy, TLS, redirect, admin) its own port, or addresses that don't overlap"
                    ),
                );
            }
        }
    }

    /// `[server] trusted_proxies`, each entry parsed and checked. An entry
    /// broader than a list of proxies can be (see [`too_broad`]) is refused
    /// unless `trust_all_proxies = true` says every peer is trusted anyway.
    pub fn trusted_proxies(&mut self, raw: &raw::RawServer) -> Option<TrustedProxies> {
        let trust_all = raw.trust_all_proxies.unwrap_or(false);
        let before = self.count();
        let mut nets = Vec::new();
        for (i, s) in raw.trusted_proxies.iter().enumerate() {
            let key = format!("server.trusted_proxies[{i}]");
            let text = s.get_ref().trim();
            let parsed = text
                .parse::<IpNet>()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from));
            let Some(net) = parsed.map(|n| n.trunc()) else {
                self.problem(
                    key,
                    Some(s),
                    format!("{:?} is not a CIDR; write e.g. \"10.0.0.0/8\", \"192.0.2.7/32\" or \"::1/128\"", s.get_ref()),
                );
                continue;
            };
            match too_broad(net) {
                Some(why) if !trust_all => self.problem(
                    key,
                    Some(s),
                    format!(
                        "{:?} is too broad for a list of proxies ({why}): any client could then forge X-Forwarded-For (spoof its IP address), X-Forwarded-Proto (claim HTTPS) and X-Forwarded-Host (pick the host used for same-origin CORS and routing). List only your load balancers' addresses, e.g. \"10.0.3.0/24\", or set server.trust_all_proxies = true if nothing but your own proxies can reach helmgate",
                        s.get_ref()
                    ),
                ),
                _ => nets.push(unmap(net)),
            }
        }
        if trust_all {
            self.warn(TRUST_ALL_WARNING);
            nets = vec![IpNet::V4(Ipv4Net::default()), IpNet::V6(Ipv6Net::default())];
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
        let burst = int_setting!(self, "log", raw, blocked_origin_burst, 20, 1..=100_000);
        let per_minute = int_setting!(
            self,
            "log",
            raw,
            blocked_origin_per_minute,
            60,
            1..=1_000_000
        );
        let access_log_path = self.log_path("log.access_log_path", raw.access_log_path.as_ref());
        let error_log_path = self.log_path("log.error_log_path", raw.error_log_path.as_ref());
        Some(LogSettings {
            format: format?,
            access_log: raw.access_log.unwrap_or(true),
            blocked_origin_burst: burst? as u32,
            blocked_origin_per_minute: per_minute? as u32,
            access_log_path: access_log_path?,
            error_log_path: error_log_path?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_broader_than_v4_slash_8_or_v6_slash_32_are_too_broad() {
        for broad in [
            "0.0.0.0/0",
            "1.0.0.0/7",
            "::/0",
            "2000::/3",
            "2001:db8::/31",
        ] {
            assert!(too_broad(net(broad)).is_some(), "{broad}");
        }
        for narrow in [
            "10.0.0.0/8",
            "192.0.2.7/32",
            "2001:db8::/32",
            "::1/128",
            "::/96",
        ] {
            assert_eq!(too_broad(net(narrow)), None, "{narrow}");
        }
    }

    #[test]
    fn v6_nets_holding_all_of_ipv4_mapped_space_are_too_broad() {
        let why = too_broad(net("::ffff:0:0/96")).unwrap();
        assert!(why.contains("IPv4-mapped form of 0.0.0.0/0"), "{why}");
        assert!(too_broad(net("::ffff:0.0.0.0/100")).is_some());
        let why = too_broad(net("::/64")).unwrap();
        assert!(why.contains("::ffff:0:0/96"), "{why}");
        assert!(too_broad(net("::/80")).is_some());
        assert_eq!(too_broad(net("::ffff:10.0.0.0/104")), None);
    }

    #[test]
    fn ipv4_mapped_nets_become_the_ipv4_nets_they_mean() {
        assert_eq!(unmap(net("::ffff:10.0.0.0/104")), net("10.0.0.0/8"));
        assert_eq!(unmap(net("::ffff:192.0.2.7/128")), net("192.0.2.7/32"));
        assert_eq!(unmap(net("2001:db8::/32")), net("2001:db8::/32"));
        let trusted = TrustedProxies::new(vec![unmap(net("::ffff:10.0.0.0/104"))]);
        assert!(trusted.contains("10.1.2.3".parse().unwrap()));
        assert!(trusted.contains("::ffff:10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn listeners_overlap_on_the_same_port_when_one_address_covers_the_other() {
        for (a, b) in [
            ("127.0.0.1:80", "127.0.0.1:80"),
            ("127.0.0.1:80", "0.0.0.0:80"),
            ("[::1]:80", "[::]:80"),
            ("0.0.0.0:80", "[::]:80"),
            ("[::]:80", "127.0.0.1:80"),
            ("[::ffff:127.0.0.1]:80", "127.0.0.1:80"),
        ] {
            assert!(overlap(addr(a), addr(b)).is_some(), "{a} {b}");
            assert!(overlap(addr(b), addr(a)).is_some(), "{b} {a}");
        }
        for (a, b) in [
            ("127.0.0.1:80", "127.0.0.1:81"),
            ("127.0.0.1:80", "127.0.0.2:80"),
            ("0.0.0.0:80", "[::1]:80"),
            ("[::1]:80", "[2001:db8::1]:80"),
        ] {
            assert_eq!(overlap(addr(a), addr(b)), None, "{a} {b}");
        }
    }
}
