//! Which `Host` the admin listener answers: its own IP literal, `localhost`,
//! or a name in `[admin] hosts`. A DNS-rebinding page (a name of the
//! attacker's that first resolves to their server, then to 127.0.0.1) makes
//! the victim's browser send `Host: <that name>` to the loopback listener,
//! and reading the answer is then same-origin for the page. The name is the
//! one thing the page cannot forge, so every other Host gets 421, with or
//! without a token.

use std::net::{IpAddr, Ipv6Addr};

/// `[admin] hosts`, validated: extra names (lower-case) and IP addresses
/// (e.g. the host's address when a container's port is mapped) the admin
/// listener answers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminHosts {
    names: Vec<Box<str>>,
    ips: Vec<IpAddr>,
}

/// What one `[admin] hosts` entry is.
enum Entry {
    Name(Box<str>),
    Ip(IpAddr),
}

impl AdminHosts {
    /// Adds one entry: a DNS name or an IP address (IPv6 with or without
    /// brackets), no port, scheme or wildcard.
    pub fn add(&mut self, raw: &str) -> Result<(), String> {
        match entry(raw) {
            Some(Entry::Name(n)) => self.names.push(n),
            Some(Entry::Ip(ip)) => self.ips.push(ip),
            None => {
                return Err(format!(
                    "{raw:?} is not a host name or IP address: write a name such as \"admin.internal\" or an address such as \"10.0.0.5\" (no scheme, port or wildcard)"
                ))
            }
        }
        Ok(())
    }

    /// Whether to answer a request with this `Host` (`None`: none sent).
    /// `local`: the addresses of the listener (the socket's and the
    /// configured one). HTTP/1.0 needs no Host; HTTP/1.1 does.
    pub fn allows(&self, host: Option<&[u8]>, http10: bool, local: &[IpAddr]) -> bool {
        let Some(host) = host else {
            return http10;
        };
        let Some(name) = host_part(host) else {
            return false;
        };
        match ip_literal(name) {
            Some(ip) => {
                let ip = ip.to_canonical();
                local.iter().any(|l| l.to_canonical() == ip) || self.ips.contains(&ip)
            }
            None => {
                name.eq_ignore_ascii_case(b"localhost")
                    || self
                        .names
                        .iter()
                        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
            }
        }
    }

    /// The configured entries, for `--check`.
    pub fn entries(&self) -> Vec<String> {
        let names = self.names.iter().map(ToString::to_string);
        names
            .chain(self.ips.iter().map(ToString::to_string))
            .collect()
    }
}

fn entry(raw: &str) -> Option<Entry> {
    let trimmed = raw.trim();
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(trimmed);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(Entry::Ip(ip.to_canonical()));
    }
    let name = trimmed.to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then(|| Entry::Name(name.into()))
}

/// The host of a `Host` value, without its port: `None` when it is not
/// `host[:port]` (a second colon, a port that is not 1-65535, an unclosed
/// bracket).
fn host_part(value: &[u8]) -> Option<&[u8]> {
    let split = if value.starts_with(b"[") {
        value.iter().position(|&b| b == b']')? + 1
    } else {
        value.iter().position(|&b| b == b':').unwrap_or(value.len())
    };
    let (host, port) = value.split_at(split);
    if let Some(digits) = port.strip_prefix(b":") {
        let n = std::str::from_utf8(digits).ok()?.parse::<u16>().ok()?;
        if n == 0 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
    } else if !port.is_empty() {
        return None;
    }
    (!host.is_empty()).then_some(host)
}

/// An IPv4 literal, or an IPv6 one in brackets.
fn ip_literal(host: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(host).ok()?;
    match text.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => text.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AdminHosts {
        let mut h = AdminHosts::default();
        for e in entries {
            h.add(e).unwrap();
        }
        h
    }

    const LOOPBACK: [IpAddr; 1] = [IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)];

    #[test]
    fn the_listener_ip_and_localhost_are_answered_with_or_without_port() {
        let h = AdminHosts::default();
        for ok in ["127.0.0.1", "127.0.0.1:9901", "localhost", "LOCALHOST:9901"] {
            assert!(h.allows(Some(ok.as_bytes()), false, &LOOPBACK), "{ok}");
        }
        let v6 = [IpAddr::V6(Ipv6Addr::LOCALHOST)];
        for ok in ["[::1]", "[::1]:9901", "[0:0:0:0:0:0:0:1]:1"] {
            assert!(h.allows(Some(ok.as_bytes()), false, &v6), "{ok}");
        }
    }

    #[test]
    fn other_hosts_and_malformed_ones_are_refused() {
        let h = hosts(&["admin.internal"]);
        for bad in [
            "evil.example",
            "evil.example:9901",
            "127.0.0.2",
            "127.0.0.1:9901:9901",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:",
            "127.0.0.1:+80",
            "::1",
            "[::1",
            "[::1]x",
            "localhost.",
            "localhost.evil.example",
            "admin.internal.evil.example",
            "",
        ] {
            assert!(!h.allows(Some(bad.as_bytes()), false, &LOOPBACK), "{bad}");
        }
        assert!(!h.allows(None, false, &LOOPBACK));
        assert!(h.allows(None, true, &LOOPBACK));
    }

    #[test]
    fn configured_names_and_addresses_are_answered() {
        let h = hosts(&["Admin.Internal", "[2001:db8::1]", "10.0.0.5"]);
        for ok in [
            "admin.internal",
            "ADMIN.internal:9901",
            "[2001:db8::1]:80",
            "10.0.0.5",
        ] {
            assert!(h.allows(Some(ok.as_bytes()), false, &LOOPBACK), "{ok}");
        }
    }

    #[test]
    fn entries_that_are_not_a_name_or_address_are_refused() {
        for bad in [
            "*.example.com",
            "admin:9901",
            "http://admin",
            "a..b",
            "-a",
            "",
            "a b",
        ] {
            assert!(AdminHosts::default().add(bad).is_err(), "{bad}");
        }
    }
}
