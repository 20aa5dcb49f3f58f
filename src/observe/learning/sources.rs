//! What a report or a refused origin says, reduced to what a policy can
//! say: a CSP source expression (scheme + host, port when not the default;
//! `'inline'`, `'eval'`, `data:`, `blob:`), a CORS origin, or a noise class
//! that is counted and never suggested. Pure.

use std::net::IpAddr;

use crate::observe::reports::Violation;
use crate::policy::origin::Origin;

/// What a blocked resource reduces to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduced {
    /// A source expression worth learning (it may still never be
    /// suggested, e.g. `'inline'` or a scheme-only source).
    Source(String),
    /// Counted by class, never suggested.
    Noise(Noise),
}

/// Why a report or an origin is noise. A closed set, so the count per class
/// is a fixed table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Noise {
    /// `chrome-extension:`, `moz-extension:`, `safari-web-extension:`.
    Extension,
    /// `about:` (blank, srcdoc).
    About,
    /// The reported page is not on the host the report was sent to, or is
    /// not a URL at all.
    ForeignDocument,
    /// Nothing a source expression can name (`none`, `other`, `javascript:`,
    /// trusted types, a scheme not fetched over the network).
    Unreadable,
    /// A CORS `Origin` that names no single origin (`null`, several, a
    /// malformed one).
    OpaqueOrigin,
}

impl Noise {
    pub const ALL: [Noise; 5] = [
        Noise::Extension,
        Noise::About,
        Noise::ForeignDocument,
        Noise::Unreadable,
        Noise::OpaqueOrigin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Noise::Extension => "browser-extension",
            Noise::About => "about",
            Noise::ForeignDocument => "foreign-document",
            Noise::Unreadable => "unreadable",
            Noise::OpaqueOrigin => "opaque-origin",
        }
    }

    pub fn parse(s: &str) -> Option<Noise> {
        Noise::ALL.into_iter().find(|n| n.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

const EXTENSION_SCHEMES: [&str; 3] = ["chrome-extension", "moz-extension", "safari-web-extension"];

/// Longest source kept: a DNS name (253) with scheme and port.
pub const MAX_SOURCE: usize = 280;

/// The source expression for what a report says was blocked (`blocked` as
/// `reports::blocked` sanitised it: an origin or a keyword).
pub fn reduce_blocked(blocked: &str) -> Reduced {
    match blocked {
        "inline" => return Reduced::Source("'inline'".into()),
        "eval" | "wasm-eval" => return Reduced::Source("'eval'".into()),
        "data" => return Reduced::Source("data:".into()),
        "blob" => return Reduced::Source("blob:".into()),
        "about" => return Reduced::Noise(Noise::About),
        "http" | "https" | "ws" | "wss" => return Reduced::Source(format!("{blocked}:")),
        _ => {}
    }
    let Some((scheme, _)) = blocked.split_once("://") else {
        return Reduced::Noise(Noise::Unreadable);
    };
    if EXTENSION_SCHEMES.contains(&scheme) {
        return Reduced::Noise(Noise::Extension);
    }
    match source_of_origin(blocked) {
        Some(s) => Reduced::Source(s),
        None => Reduced::Noise(Noise::Unreadable),
    }
}

/// `scheme://host[:port]` of an http(s) or ws(s) origin, the port dropped
/// when it is the scheme's default.
fn source_of_origin(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let default_port = match scheme {
        "http" | "ws" => "80",
        "https" | "wss" => "443",
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) || origin.len() > MAX_SOURCE {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    match port {
        None => host_ok(host).then(|| format!("{scheme}://{host}")),
        Some(p) if p == default_port => host_ok(host).then(|| format!("{scheme}://{host}")),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('0') => {
            host_ok(host).then(|| origin.to_string())
        }
        Some(_) => None,
    }
}

/// `host` and `port` of `host[:port]`, brackets kept around IPv6.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, tail) = authority.split_at(end + 1);
        return match tail {
            "" => Some((host, None)),
            _ => tail.strip_prefix(':').map(|p| (host, Some(p))),
        };
    }
    Some(match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// A host a CSP host-source can name: a DNS name or an IPv4 address (CSP
/// has no syntax for IPv6 literals, and no `_` or trailing dot).
fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['-', '.'])
        && !host.contains("..")
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Whether a stored source is one this module could have produced (state
/// files come from elsewhere: never trust them further than this).
pub fn is_source(s: &str) -> bool {
    match s {
        "'inline'" | "'eval'" | "data:" | "blob:" | "http:" | "https:" | "ws:" | "wss:" => true,
        _ => source_of_origin(s).is_some_and(|r| r == s),
    }
}

/// Whether the page a report is about is on the host the report was sent
/// to (the report endpoint is relative, so a real one always is). `host` is
/// the report request's `Host`, port ignored on both sides.
pub fn document_on_host(v: &Violation, host: Option<&[u8]>) -> bool {
    let Some(authority) = v.document.authority() else {
        return false;
    };
    let Some(host) = host else {
        return true;
    };
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    strip_port(authority).eq_ignore_ascii_case(strip_port(host))
}

fn strip_port(authority: &str) -> &str {
    split_host_port(authority).map_or(authority, |(h, _)| h)
}

/// A CORS origin to learn, or the noise class of one that names none.
pub fn reduce_origin(raw: &[u8]) -> Result<String, Noise> {
    let scheme = raw.split(|&b| b == b':').next().unwrap_or(b"");
    if EXTENSION_SCHEMES
        .iter()
        .any(|e| e.as_bytes().eq_ignore_ascii_case(scheme))
    {
        return Err(Noise::Extension);
    }
    let origin = Origin::parse_bytes(raw).map_err(|_| Noise::OpaqueOrigin)?;
    let text = origin.as_str();
    let scheme = text.split("://").next().unwrap_or("");
    if !matches!(scheme, "http" | "https") || text.len() > MAX_SOURCE {
        return Err(Noise::OpaqueOrigin);
    }
    Ok(text.to_string())
}

/// Whether a stored CORS origin is canonical (state files: see `is_source`).
pub fn is_origin(s: &str) -> bool {
    reduce_origin(s.as_bytes()).is_ok_and(|o| o == s)
}

/// The host of a source or origin (`https://a.example:8443` → `a.example`).
pub fn host_of(source: &str) -> Option<&str> {
    let rest = source.split_once("://")?.1;
    Some(strip_port(rest))
}

/// True when the host is itself a public suffix (`github.io`, `co.uk`):
/// anyone can register names under it, and what is seen there says nothing
/// about who runs it. Single-label names (`localhost`) and IP literals are
/// not.
pub fn is_public_suffix(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_err()
        && psl::suffix(host.as_bytes())
            .is_some_and(|s| s.is_known() && s.as_bytes() == host.as_bytes())
}

/// The client network a report or request counts for: the /24 of an IPv4
/// address, the /48 of an IPv6 one; 0 when unknown (one network).
pub fn network_of(ip: Option<IpAddr>) -> u128 {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => (1 << 64) | u128::from(u32::from(v4) & 0xffff_ff00),
        Some(IpAddr::V6(v6)) => (u128::from(v6) & !((1u128 << 80) - 1)) | 2,
        None => 0,
    }
}

/// A network as text: `203.0.113.0/24`, `2001:db8:1::/48`, `unknown`.
pub fn network_text(n: u128) -> String {
    if n == 0 {
        return "unknown".into();
    }
    if n >> 64 == 1 {
        return format!("{}/24", std::net::Ipv4Addr::from((n & 0xffff_ffff) as u32));
    }
    format!("{}/48", std::net::Ipv6Addr::from(n & !3))
}

/// The inverse of [`network_text`], refusing anything it would not write.
pub fn parse_network(s: &str) -> Option<u128> {
    if s == "unknown" {
        return Some(0);
    }
    let n = if let Some(v4) = s.strip_suffix("/24") {
        network_of(Some(IpAddr::V4(v4.parse().ok()?)))
    } else {
        let v6: std::net::Ipv6Addr = s.strip_suffix("/48")?.parse().ok()?;
        if v6.to_ipv4_mapped().is_some() {
            return None;
        }
        network_of(Some(IpAddr::V6(v6)))
    };
    (network_text(n) == s).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `check` holds for each of `yes` and for none of `no`.
    fn assert_says(check: fn(&str) -> bool, yes: &[&str], no: &[&str]) {
        for s in yes {
            assert!(check(s), "{s}");
        }
        for s in no {
            assert!(!check(s), "{s}");
        }
    }

    #[test]
    fn blocked_urls_reduce_to_source_expressions() {
        for (blocked, want) in [
            (
                "https://cdn.example:443",
                Reduced::Source("https://cdn.example".into()),
            ),
            (
                "http://cdn.example:80",
                Reduced::Source("http://cdn.example".into()),
            ),
            (
                "https://cdn.example:8443",
                Reduced::Source("https://cdn.example:8443".into()),
            ),
            (
                "http://127.0.0.1:9",
                Reduced::Source("http://127.0.0.1:9".into()),
            ),
            ("wss://[::1]:9", Reduced::Noise(Noise::Unreadable)),
            ("https://a_b.example", Reduced::Noise(Noise::Unreadable)),
            ("https://cdn.example.", Reduced::Noise(Noise::Unreadable)),
            ("inline", Reduced::Source("'inline'".into())),
            ("eval", Reduced::Source("'eval'".into())),
            ("wasm-eval", Reduced::Source("'eval'".into())),
            ("data", Reduced::Source("data:".into())),
            ("blob", Reduced::Source("blob:".into())),
            ("https", Reduced::Source("https:".into())),
            (
                "chrome-extension://abcdef",
                Reduced::Noise(Noise::Extension),
            ),
            ("moz-extension://x", Reduced::Noise(Noise::Extension)),
            ("safari-web-extension://x", Reduced::Noise(Noise::Extension)),
            ("about", Reduced::Noise(Noise::About)),
            ("none", Reduced::Noise(Noise::Unreadable)),
            ("other", Reduced::Noise(Noise::Unreadable)),
            ("javascript", Reduced::Noise(Noise::Unreadable)),
            ("ftp://x.example", Reduced::Noise(Noise::Unreadable)),
            ("https://a.example:0", Reduced::Noise(Noise::Unreadable)),
        ] {
            assert_eq!(reduce_blocked(blocked), want, "{blocked}");
        }
    }

    #[test]
    fn stored_sources_and_origins_are_checked_again() {
        assert_says(
            is_source,
            &["https://cdn.example", "'inline'"],
            &[
                "https://cdn.example:443",
                "https://cdn.example\"\n[x]",
                "'unsafe-inline'",
            ],
        );
        assert_says(
            is_origin,
            &["https://partner.example"],
            &["https://partner.example:443", "null"],
        );
        assert_eq!(reduce_origin(b"null"), Err(Noise::OpaqueOrigin));
        assert_eq!(
            reduce_origin(b"chrome-extension://abc"),
            Err(Noise::Extension)
        );
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let a = network_of(Some("203.0.113.7".parse().unwrap()));
        let b = network_of(Some("203.0.113.200".parse().unwrap()));
        let c = network_of(Some("203.0.114.7".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(network_text(a), "203.0.113.0/24");
        let v6 = network_of(Some("2001:db8:1:2::9".parse().unwrap()));
        assert_eq!(v6, network_of(Some("2001:db8:1:ffff::1".parse().unwrap())));
        assert_eq!(network_text(v6), "2001:db8:1::/48");
        for n in [a, v6, 0] {
            assert_eq!(parse_network(&network_text(n)), Some(n));
        }
        assert_eq!(parse_network("203.0.113.5/24"), None);
        assert_eq!(parse_network("::ffff:1.2.3.0/48"), None);
        let mapped = network_of(Some("::ffff:203.0.113.9".parse().unwrap()));
        assert_eq!(mapped, a);
    }

    #[test]
    fn public_suffixes_are_known_ones_only() {
        assert_says(
            is_public_suffix,
            &["github.io", "co.uk"],
            &[
                "example.github.io",
                "localhost",
                "127.0.0.1",
                "cdn.example.com",
            ],
        );
    }
}
