//! Parsing and normalising a serialized web origin (`scheme://host[:port]`).
//!
//! One parser serves both config validation and request matching, so what the
//! config accepts and what a request is compared against can never drift apart.
//! The parser is strict on purpose: a browser always sends the canonical ASCII
//! serialization, so anything unusual (userinfo, paths, whitespace, raw UTF-8,
//! leading zeros in a port) is far more likely an attack than a real browser.
//! The entries of `allowed_origins` built on this parser (exact or
//! wildcard) are in `allowed`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod allowed;

pub use allowed::{AllowedOrigin, WildcardOrigin};

/// Longest origin we look at; a longer one is rejected unparsed.
const MAX_ORIGIN_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Why a string is not an origin. Shown to users for config entries and used as
/// a bounded log/metric label for requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("is empty")]
    Empty,
    #[error("is too long (over {MAX_ORIGIN_LEN} bytes)")]
    TooLong,
    #[error("is `null` (sent by sandboxed frames, file: pages and redirects), which can't be allowed safely")]
    Null,
    #[error("contains whitespace, control or non-ASCII bytes")]
    BadBytes,
    #[error("has no scheme: write it as `https://host` or `http://host`")]
    NoScheme,
    #[error("has a scheme other than http or https")]
    UnsupportedScheme,
    #[error("is a wildcard")]
    Wildcard,
    #[error("has `*` somewhere other than the whole leftmost label of a host name")]
    BadWildcard,
    #[error("has a path, query or fragment (or a trailing slash): an origin is only `scheme://host[:port]`")]
    HasPath,
    #[error("has user info (`user@`), which an origin never carries")]
    HasUserInfo,
    #[error("has an empty or invalid host")]
    BadHost,
    #[error("has an invalid port (must be 1-65535 without leading zeros)")]
    BadPort,
}

/// A validated origin in canonical form: lower-case scheme and host, default
/// port dropped, IP literals in their standard serialization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: Host,
    /// `None` when the port is the scheme's default.
    port: Option<u16>,
    canonical: Box<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(Box<str>),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Origin {
    /// Parse and normalise. Returns the canonical origin.
    pub fn parse(input: &str) -> Result<Origin, OriginError> {
        Self::parse_bytes(input.as_bytes())
    }

    pub fn parse_bytes(input: &[u8]) -> Result<Origin, OriginError> {
        let parts = split(input)?;
        let canonical = if parts.is_canonical {
            // Safe: split() checked every byte is printable ASCII.
            String::from_utf8_lossy(input).into_owned()
        } else {
            render(parts.scheme, &parts.host, parts.port)
        };
        Ok(Origin {
            scheme: parts.scheme,
            host: parts.host.to_host(),
            port: parts.port,
            canonical: canonical.into_boxed_str(),
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// True for the loopback names a developer's browser uses: `localhost`,
    /// `127.0.0.1` and `[::1]`, on any port, over http or https.
    pub fn is_local_dev(&self) -> bool {
        match &self.host {
            Host::Name(name) => &**name == "localhost",
            Host::V4(ip) => *ip == Ipv4Addr::LOCALHOST,
            Host::V6(ip) => *ip == Ipv6Addr::LOCALHOST,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// The canonical text of an origin without building an [`Origin`] when the
/// input already is canonical (the common case for real browsers): the hot
/// path can then look it up without allocating.
pub enum CanonicalText<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl CanonicalText<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            CanonicalText::Borrowed(s) => s,
            CanonicalText::Owned(s) => s,
        }
    }
}

/// Validate `input` and return its canonical text plus whether it is a local
/// development origin.
pub fn canonicalize(input: &[u8]) -> Result<(CanonicalText<'_>, bool), OriginError> {
    canonical_parts(input).map(|c| (c.text, c.local))
}

/// A request's origin in canonical form, with the parts matching needs.
pub struct Canonical<'a> {
    pub text: CanonicalText<'a>,
    /// `localhost`, `127.0.0.1` or `[::1]`.
    pub local: bool,
    pub scheme: Scheme,
    /// `None` for the scheme's default port.
    pub port: Option<u16>,
    /// Whether the host is a name (not an IP literal).
    pub host_is_name: bool,
    host_end: usize,
}

impl Canonical<'_> {
    /// The host, lower-case (IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.text.as_str()[self.scheme.as_str().len() + 3..self.host_end]
    }
}

/// Validate `input` and split its canonical form. Borrows the input when it
/// already is canonical, so the hot path does not allocate.
pub fn canonical_parts(input: &[u8]) -> Result<Canonical<'_>, OriginError> {
    let parts = split(input)?;
    let local = parts.host.is_loopback_name();
    let text = if parts.is_canonical {
        // split() checked every byte is printable ASCII, so this can't fail.
        match std::str::from_utf8(input) {
            Ok(s) => CanonicalText::Borrowed(s),
            Err(_) => return Err(OriginError::BadBytes),
        }
    } else {
        CanonicalText::Owned(render(parts.scheme, &parts.host, parts.port))
    };
    let port_len = parts.port.map_or(0, |p| 1 + digits(p));
    let host_end = text.as_str().len() - port_len;
    Ok(Canonical {
        local,
        scheme: parts.scheme,
        port: parts.port,
        host_is_name: matches!(parts.host, HostRef::Name(_)),
        host_end,
        text,
    })
}

/// Whether a request's origin is the request's own: `scheme` as the client
/// used it and `authority` the `Host` it addressed (port optional). Compares
/// parts instead of rendering text, so it does not allocate.
pub fn is_same_origin(origin: &Canonical<'_>, scheme: Scheme, authority: &[u8]) -> bool {
    if origin.scheme != scheme || authority.is_empty() {
        return false;
    }
    let Ok((host_raw, port_raw)) = split_host_port(authority) else {
        return false;
    };
    let port = match port_raw {
        None => None,
        Some(p) => match parse_port(p) {
            Ok(p) if p == scheme.default_port() => None,
            Ok(p) => Some(p),
            Err(_) => return false,
        },
    };
    if port != origin.port {
        return false;
    }
    let mut ignored = true;
    match parse_host(host_raw, &mut ignored) {
        Ok(HostRef::Name(name)) => {
            origin.host_is_name && name.eq_ignore_ascii_case(origin.host().as_bytes())
        }
        Ok(HostRef::V4(ip)) => origin.host().parse::<Ipv4Addr>() == Ok(ip),
        Ok(HostRef::V6(ip)) => {
            origin
                .host()
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                == Some(ip)
        }
        Err(_) => false,
    }
}

fn digits(port: u16) -> usize {
    match port {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

struct Parts<'a> {
    scheme: Scheme,
    host: HostRef<'a>,
    port: Option<u16>,
    is_canonical: bool,
}

fn render(scheme: Scheme, host: &HostRef<'_>, port: Option<u16>) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(scheme.as_str());
    out.push_str("://");
    match host {
        HostRef::Name(name) => out.extend(name.iter().map(|b| b.to_ascii_lowercase() as char)),
        HostRef::V4(ip) => out.push_str(&ip.to_string()),
        HostRef::V6(ip) => {
            out.push('[');
            out.push_str(&ip.to_string());
            out.push(']');
        }
    }
    if let Some(port) = port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out
}

fn split(input: &[u8]) -> Result<Parts<'_>, OriginError> {
    if input.is_empty() {
        return Err(OriginError::Empty);
    }
    if input.len() > MAX_ORIGIN_LEN {
        return Err(OriginError::TooLong);
    }
    if input.iter().any(|&b| !(0x21..=0x7e).contains(&b)) {
        return Err(OriginError::BadBytes);
    }
    if input.eq_ignore_ascii_case(b"null") {
        return Err(OriginError::Null);
    }
    if input == b"*" {
        return Err(OriginError::Wildcard);
    }
    let sep = find(input, b"://").ok_or(OriginError::NoScheme)?;
    let (scheme_raw, rest) = (&input[..sep], &input[sep + 3..]);
    let mut is_canonical = true;
    let scheme = if scheme_raw.eq_ignore_ascii_case(b"https") {
        Scheme::Https
    } else if scheme_raw.eq_ignore_ascii_case(b"http") {
        Scheme::Http
    } else {
        return Err(OriginError::UnsupportedScheme);
    };
    if scheme_raw != scheme.as_str().as_bytes() {
        is_canonical = false;
    }
    if rest.contains(&b'*') {
        return Err(OriginError::BadWildcard);
    }
    if rest.contains(&b'@') {
        return Err(OriginError::HasUserInfo);
    }
    if rest.iter().any(|b| matches!(b, b'/' | b'?' | b'#' | b'\\')) {
        return Err(OriginError::HasPath);
    }
    let (host_raw, port_raw) = split_host_port(rest)?;
    let host = parse_host(host_raw, &mut is_canonical)?;
    let port = match port_raw {
        None => None,
        Some(p) => {
            let port = parse_port(p)?;
            if port == scheme.default_port() {
                is_canonical = false;
                None
            } else {
                Some(port)
            }
        }
    };
    Ok(Parts {
        scheme,
        host,
        port,
        is_canonical,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_host_port(rest: &[u8]) -> Result<(&[u8], Option<&[u8]>), OriginError> {
    if rest.first() == Some(&b'[') {
        let close = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(OriginError::BadHost)?;
        let host = &rest[..=close];
        let after = &rest[close + 1..];
        match after.split_first() {
            None => Ok((host, None)),
            Some((b':', port)) => Ok((host, Some(port))),
            Some(_) => Err(OriginError::BadHost),
        }
    } else {
        match rest.iter().position(|&b| b == b':') {
            None => Ok((rest, None)),
            Some(i) => Ok((&rest[..i], Some(&rest[i + 1..]))),
        }
    }
}

fn parse_port(raw: &[u8]) -> Result<u16, OriginError> {
    if raw.is_empty() || raw.len() > 5 || raw[0] == b'0' || !raw.iter().all(u8::is_ascii_digit) {
        return Err(OriginError::BadPort);
    }
    let value = raw
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).map_err(|_| OriginError::BadPort)
}

/// A host as found in the input, before any allocation: the hot path only
/// needs to know whether it is canonical and whether it is loopback.
enum HostRef<'a> {
    /// LDH labels, possibly with upper-case letters.
    Name(&'a [u8]),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl HostRef<'_> {
    fn is_loopback_name(&self) -> bool {
        match self {
            HostRef::Name(name) => name.eq_ignore_ascii_case(b"localhost"),
            HostRef::V4(ip) => *ip == Ipv4Addr::LOCALHOST,
            HostRef::V6(ip) => *ip == Ipv6Addr::LOCALHOST,
        }
    }

    fn to_host(&self) -> Host {
        match self {
            HostRef::Name(name) => {
                Host::Name(String::from_utf8_lossy(&name.to_ascii_lowercase()).into())
            }
            HostRef::V4(ip) => Host::V4(*ip),
            HostRef::V6(ip) => Host::V6(*ip),
        }
    }
}

fn parse_host<'a>(raw: &'a [u8], is_canonical: &mut bool) -> Result<HostRef<'a>, OriginError> {
    if raw.is_empty() {
        return Err(OriginError::BadHost);
    }
    if raw[0] == b'[' {
        let inner = &raw[1..raw.len() - 1];
        let text = std::str::from_utf8(inner).map_err(|_| OriginError::BadHost)?;
        // Zone ids (`%eth0`) never appear in a browser's origin.
        let ip: Ipv6Addr = text.parse().map_err(|_| OriginError::BadHost)?;
        if ip.to_string().as_bytes() != inner {
            *is_canonical = false;
        }
        return Ok(HostRef::V6(ip));
    }
    // A reg-name in an origin is already IDNA-encoded by the browser; raw
    // UTF-8 was refused above, so only LDH labels remain valid.
    let mut last_label: &[u8] = &[];
    for label in raw.split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
            || !label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        {
            return Err(OriginError::BadHost);
        }
        last_label = label;
    }
    if raw.len() > 253 {
        return Err(OriginError::BadHost);
    }
    // The last label all digits means an IPv4 literal; only the dotted-quad
    // a browser would serialize is accepted (no `127.1`, octal or hex forms).
    if last_label.iter().all(u8::is_ascii_digit) {
        let text = std::str::from_utf8(raw).map_err(|_| OriginError::BadHost)?;
        let ip: Ipv4Addr = text.parse().map_err(|_| OriginError::BadHost)?;
        if ip.to_string() != text {
            return Err(OriginError::BadHost);
        }
        return Ok(HostRef::V4(ip));
    }
    if raw.iter().any(u8::is_ascii_uppercase) {
        *is_canonical = false;
    }
    Ok(HostRef::Name(raw))
}

#[cfg(test)]
mod tests;
