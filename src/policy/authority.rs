//! The host a request names, checked before routing. The router and the
//! upstream must cut a `Host` the same way: `a.example.com:80:80` is cut at
//! the last colon by one server and at the first by another, and
//! `.example.com` has an empty label that no certificate or route names.
//! So a host must be a plain name or IP literal with at most one port.

use http::header::{HeaderMap, HOST};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRefusal {
    /// Not a name of dot-separated labels (letters, digits, `-`, `_`), an
    /// IPv4 address or a bracketed IPv6 address.
    Malformed,
    /// A port that is not 1-65535, or more than one.
    BadPort,
    /// The request target's authority and `Host` (or HTTP/2 `:authority`
    /// and `host`) name different hosts.
    Mismatch,
}

impl HostRefusal {
    /// For log lines: `reason=...`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostRefusal::Malformed => "host_malformed",
            HostRefusal::BadPort => "host_bad_port",
            HostRefusal::Mismatch => "host_mismatch",
        }
    }
}

/// Checks the host the request is routed on (`routed`: `Host`, the
/// authority, or a trusted proxy's `X-Forwarded-Host`) and that the target's
/// authority agrees with `Host` when both are sent.
pub fn check(
    routed: Option<&[u8]>,
    authority: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), HostRefusal> {
    if let Some(host) = routed {
        well_formed(host)?;
    }
    if let (Some(authority), Some(host)) = (authority, headers.get(HOST)) {
        well_formed(authority.as_bytes())?;
        if !authority.as_bytes().eq_ignore_ascii_case(host.as_bytes()) {
            return Err(HostRefusal::Mismatch);
        }
    }
    Ok(())
}

/// `name[:port]`, `IPv4[:port]` or `[IPv6][:port]`.
pub fn well_formed(host: &[u8]) -> Result<(), HostRefusal> {
    let (name, port) = if let Some(rest) = host.strip_prefix(b"[") {
        let close = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(HostRefusal::Malformed)?;
        let literal = std::str::from_utf8(&rest[..close]).map_err(|_| HostRefusal::Malformed)?;
        literal
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| HostRefusal::Malformed)?;
        let after = &rest[close + 1..];
        match after.split_first() {
            None => return Ok(()),
            Some((b':', port)) => (None, Some(port)),
            Some(_) => return Err(HostRefusal::Malformed),
        }
    } else {
        let mut parts = host.splitn(2, |&b| b == b':');
        (parts.next(), parts.next())
    };
    if let Some(name) = name {
        labels(name)?;
    }
    match port {
        None => Ok(()),
        Some(port) if valid_port(port) => Ok(()),
        Some(_) => Err(HostRefusal::BadPort),
    }
}

/// Dot-separated labels, none empty; one trailing dot (a fully qualified
/// name) is fine.
fn labels(name: &[u8]) -> Result<(), HostRefusal> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(HostRefusal::Malformed);
    }
    for label in name.split(|&b| b == b'.') {
        let fine = (1..=63).contains(&label.len())
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !fine {
            return Err(HostRefusal::Malformed);
        }
    }
    Ok(())
}

/// 1-65535 in decimal digits: no sign, no second colon, not empty.
fn valid_port(port: &[u8]) -> bool {
    (1..=5).contains(&port.len())
        && port.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(port)
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| (1..=65535).contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::assert_refused;

    #[test]
    fn plain_hosts_pass() {
        for ok in [
            "example.com",
            "api.example.com:8443",
            "EXAMPLE.com.",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "localhost",
            "my_host.internal:1",
            "a.example.com:65535",
        ] {
            assert_eq!(well_formed(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn ambiguous_hosts_are_refused() {
        let bad_port = [
            "secure.example.com:80:80",
            "example.com:",
            "example.com:0",
            "example.com:65536",
            "example.com:+80",
            "example.com:080000",
            "[::1]:99999",
        ];
        let malformed = [
            ".example.com",
            "a..example.com",
            "example.com..",
            "",
            "user@example.com",
            "exa mple.com",
            "example.com/x",
            "[::1",
            "[::1]x",
            "[nothex]",
            ":80",
        ];
        assert_refused(
            |host| well_formed(host.as_bytes()),
            &[
                (HostRefusal::BadPort, &bad_port),
                (HostRefusal::Malformed, &malformed),
            ],
        );
    }

    #[test]
    fn authority_and_host_must_agree() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "a.example.com".parse().unwrap());
        assert_eq!(
            check(Some(b"a.example.com"), Some("A.example.com"), &headers),
            Ok(())
        );
        assert_eq!(
            check(Some(b"a.example.com"), Some("b.example.com"), &headers),
            Err(HostRefusal::Mismatch)
        );
        assert_eq!(check(Some(b"a.example.com"), None, &headers), Ok(()));
    }
}
