//! `helmgate healthcheck`: one HTTP/1.0 GET to the admin listener, for
//! container images that have neither curl nor a shell. Plain blocking std
//! I/O under one overall deadline; no HTTP client dependency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long the whole probe (resolve, connect, request, status line) may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The most bytes read while looking for the status line.
const MAX_STATUS_LINE: usize = 1024;

/// Where to send the probe, parsed from an `http://HOST[:PORT][/PATH]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `HOST:PORT` as given (brackets kept for IPv6), for the socket address
    /// and the `Host` header.
    authority: String,
    path: String,
}

/// What the probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The endpoint answered 200.
    Healthy,
    /// The endpoint answered with another status.
    Unhealthy(u16),
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{url:?} is not an http://HOST[:PORT][/PATH] URL: {reason}")]
    BadUrl { url: String, reason: &'static str },
    #[error("{authority}: cannot resolve: {source}")]
    Resolve {
        authority: String,
        source: std::io::Error,
    },
    #[error("{authority}: resolves to no address")]
    NoAddress { authority: String },
    #[error("{addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: no answer within {}s", TIMEOUT.as_secs())]
    Timeout { addr: SocketAddr },
    #[error("{addr}: the reply has no HTTP status line")]
    NotHttp { addr: SocketAddr },
}

impl Target {
    /// Parses `http://HOST[:PORT][/PATH]`. The port defaults to 80 and the path
    /// to `/`. No https, userinfo, query or fragment: a health probe needs none.
    pub fn parse(url: &str) -> Result<Target, ProbeError> {
        let bad = |reason| ProbeError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if path.contains(['?', '#']) || !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("the path must be plain printable ASCII without ? or #"));
        }
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains('@') || !authority.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("the host must be HOST[:PORT]"));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close + 1..].starts_with(':'),
            None => authority.contains(':'),
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            authority,
            path: path.to_owned(),
        })
    }

    /// Sends `GET PATH HTTP/1.0` and reads the status line, all within
    /// `timeout`.
    pub fn probe(&self, timeout: Duration) -> Result<Health, ProbeError> {
        let deadline = Instant::now() + timeout;
        let addr = self.resolve()?;
        let io = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ProbeError::Timeout { addr }
            }
            _ => ProbeError::Io { addr, source },
        };
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(ProbeError::Timeout { addr })
        };
        let mut stream = TcpStream::connect_timeout(&addr, left()?).map_err(io)?;
        stream.set_write_timeout(Some(left()?)).map_err(io)?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: helmgate-healthcheck\r\n\r\n",
            self.path, self.authority
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
            stream.set_read_timeout(Some(left()?)).map_err(io)?;
            let n = stream.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        match status_code(&head) {
            Some(200) => Ok(Health::Healthy),
            Some(code) => Ok(Health::Unhealthy(code)),
            None => Err(ProbeError::NotHttp { addr }),
        }
    }

    fn resolve(&self) -> Result<SocketAddr, ProbeError> {
        self.authority
            .to_socket_addrs()
            .map_err(|source| ProbeError::Resolve {
                authority: self.authority.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| ProbeError::NoAddress {
                authority: self.authority.clone(),
            })
    }
}

/// The status code of an HTTP/1.x status line at the start of `head`.
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next()?;
    let code = parts.next()?;
    let code = code.strip_suffix(b"\r").unwrap_or(code);
    if !version.starts_with(b"HTTP/1.") || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(authority: &str, path: &str) -> Target {
        Target {
            authority: authority.to_owned(),
            path: path.to_owned(),
        }
    }

    #[test]
    fn parses_host_port_and_path_with_defaults_port_80_and_root() {
        for (url, authority, path) in [
            (
                "http://127.0.0.1:9901/healthz",
                "127.0.0.1:9901",
                "/healthz",
            ),
            ("http://localhost", "localhost:80", "/"),
            ("http://[::1]/readyz", "[::1]:80", "/readyz"),
            ("http://[::1]:9901/healthz", "[::1]:9901", "/healthz"),
        ] {
            assert_eq!(
                Target::parse(url).unwrap(),
                target(authority, path),
                "{url}"
            );
        }
    }

    #[test]
    fn refuses_what_a_probe_does_not_need() {
        for url in [
            "https://127.0.0.1:9901/healthz",
            "127.0.0.1:9901/healthz",
            "http:///healthz",
            "http://user@127.0.0.1/healthz",
            "http://127.0.0.1/healthz?x=1",
            "http://127.0.0.1/he althz",
        ] {
            assert!(
                matches!(Target::parse(url), Err(ProbeError::BadUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn reads_the_status_code() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"HTTP/1.1 204\r\n"), Some(204));
    }

    #[test]
    fn refuses_what_is_not_a_status_line() {
        for head in [
            "",
            "SSH-2.0-OpenSSH\r\n",
            "HTTP/2 200\r\n",
            "HTTP/1.1 20 OK\r\n",
            "HTTP/1.1 2000 OK\r\n",
        ] {
            assert_eq!(status_code(head.as_bytes()), None, "{head:?}");
        }
    }
}
