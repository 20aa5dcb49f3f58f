//! The first run against an upstream that is not there. A bare 502 says
//! nothing to the person trying helmgate out, so a connection the upstream
//! refused is worth a rate-limited WARN naming the address and the config
//! file (and key) that set it. The 502 body says the same, but only to a
//! client on this machine: upstream addresses and file paths are not for the
//! internet, so every other client gets the plain 502.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use http::HeaderMap;
use pingora::{Error, ErrorType};

use crate::config::DEFAULT_NAME;
use crate::observe::blocked_log::{Admit, BlockedLogLimiter};
use crate::observe::logfmt::Suppressed;
use crate::policy::Upstream;

/// What went wrong connecting, in words, when the upstream simply isn't
/// there (nothing listening, no route); `None` for every other failure,
/// which keeps today's answer and log lines.
pub fn unreachable(e: &Error) -> Option<&'static str> {
    match e.etype() {
        ErrorType::ConnectRefused => Some("refused the connection"),
        ErrorType::ConnectNoRoute => Some("is unreachable (no route to host)"),
        _ => None,
    }
}

/// The key that set this upstream's address.
pub fn address_key(upstream: &Upstream) -> String {
    if &*upstream.name == DEFAULT_NAME {
        "[upstream] address".to_string()
    } else {
        format!("[upstreams.{}] address", upstream.name)
    }
}

/// Whether the client is the person on this machine: the TCP peer is a
/// loopback address and no proxy relayed the request for someone else (a
/// local nginx in front adds X-Forwarded-For or Forwarded; its client may
/// be anywhere).
pub fn local_viewer(peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let loopback = peer.is_some_and(|ip| ip.to_canonical().is_loopback());
    let relayed = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name));
    loopback && !relayed
}

/// One failed connection: what the client and the log should learn.
pub struct Unreachable<'a> {
    pub upstream: &'a Upstream,
    pub what: &'static str,
    pub route: &'a str,
    pub config_path: &'a Path,
}

impl Unreachable<'_> {
    /// The file as an absolute path: `--config h.toml` means little in a
    /// log read later, or from another directory.
    fn config_file(&self) -> PathBuf {
        std::path::absolute(self.config_path).unwrap_or_else(|_| self.config_path.to_path_buf())
    }

    /// The WARN, at most as often as `limiter` admits.
    pub fn warn(&self, limiter: &BlockedLogLimiter) {
        let Admit::Log { suppressed_before } = limiter.admit(Instant::now()) else {
            return;
        };
        log::warn!(
            "upstream {} {} (route {}); it is set by {} in {}: start the app there, or point that key at where it listens and reload (SIGHUP){}",
            self.upstream.settings.display,
            self.what,
            self.route,
            address_key(self.upstream),
            self.config_file().display(),
            Suppressed(suppressed_before),
        );
    }

    /// The 502 body for a client on this machine: the plain one, then the
    /// hint.
    pub fn body(&self, plain: &[u8]) -> Vec<u8> {
        let route = if self.route == DEFAULT_NAME {
            String::new()
        } else {
            format!(" (route {})", self.route)
        };
        let hint = format!(
            "\nhelmgate: the upstream {} {}{route}.\nIt is set by {} in {}.\nStart the app there, or point that key at where it listens and reload helmgate (SIGHUP).\nOnly a client on this machine sees this hint; any other gets a plain 502.\n",
            self.upstream.settings.display,
            self.what,
            address_key(self.upstream),
            self.config_file().display(),
        );
        let mut body = plain.to_vec();
        body.extend_from_slice(hint.as_bytes());
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_are_local_unless_a_proxy_relayed_the_request() {
        let none = HeaderMap::new();
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(local_viewer(Some(ip.parse().unwrap()), &none), "{ip}");
        }
        for ip in ["10.0.0.1", "192.168.1.2", "203.0.113.7", "fe80::1", "::"] {
            assert!(!local_viewer(Some(ip.parse().unwrap()), &none), "{ip}");
        }
        assert!(!local_viewer(None, &none));
        for name in ["x-forwarded-for", "forwarded", "x-real-ip"] {
            let mut relayed = HeaderMap::new();
            relayed.insert(name, "203.0.113.7".parse().unwrap());
            assert!(
                !local_viewer(Some("127.0.0.1".parse().unwrap()), &relayed),
                "{name}"
            );
        }
    }

    #[test]
    fn only_a_missing_upstream_gets_the_hint() {
        assert!(unreachable(&Error::new(ErrorType::ConnectRefused)).is_some());
        assert!(unreachable(&Error::new(ErrorType::ConnectTimedout)).is_none());
        assert!(unreachable(&Error::new(ErrorType::InvalidHTTPHeader)).is_none());
    }
}
