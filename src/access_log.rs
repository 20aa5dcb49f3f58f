//! One line per request, as text or JSON. Client-supplied values are escaped
//! so a crafted header can't forge a line.

use std::net::IpAddr;
use std::time::Duration;

use crate::logfmt::{Escaped, JsonEscaped};
use crate::policy::LogFormat;

/// The `log` target of access lines: `RUST_LOG=access=off` silences them.
pub const TARGET: &str = "access";

pub struct Entry<'a> {
    pub client: Option<IpAddr>,
    pub method: &'a str,
    pub path: &'a [u8],
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub bytes: usize,
    pub duration: Duration,
    pub origin: Option<&'a [u8]>,
    pub cors: &'static str,
    pub route: &'a str,
    pub request_id: &'a [u8],
}

pub fn write(format: LogFormat, e: &Entry<'_>) {
    let client = e
        .client
        .map_or_else(|| "-".to_string(), |ip| ip.to_string());
    let upstream = e
        .upstream_status
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let ms = e.duration.as_secs_f64() * 1000.0;
    match format {
        LogFormat::Text => log::info!(
            target: TARGET,
            "client={} method={} path=\"{}\" status={} upstream_status={} bytes={} duration_ms={:.3} origin=\"{}\" cors={} route={} request_id=\"{}\"",
            client,
            Escaped(e.method.as_bytes()),
            Escaped(e.path),
            e.status,
            upstream,
            e.bytes,
            ms,
            Escaped(e.origin.unwrap_or(b"-")),
            e.cors,
            e.route,
            Escaped(e.request_id),
        ),
        LogFormat::Json => log::info!(
            target: TARGET,
            "{{\"client\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{},\"upstream_status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"origin\":{},\"cors\":\"{}\",\"route\":\"{}\",\"request_id\":\"{}\"}}",
            client,
            JsonEscaped(e.method.as_bytes()),
            JsonEscaped(e.path),
            e.status,
            e.upstream_status.map_or_else(|| "null".to_string(), |s| s.to_string()),
            e.bytes,
            ms,
            e.origin.map_or_else(|| "null".to_string(), |o| format!("\"{}\"", JsonEscaped(o))),
            e.cors,
            e.route,
            JsonEscaped(e.request_id),
        ),
    }
}
