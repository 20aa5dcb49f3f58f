//! One line per request, as text or JSON, on stderr or into `[log]
//! access_log_path`. Client-supplied values are escaped so a crafted header
//! can't forge a line.
//!
//! Lines go into one bounded buffer instead of a write(2) each
//! (`log_files`): a thread of its own writes it out at least every second,
//! and every way out of the process (graceful drain, SIGINT, an error in
//! main) and every reload flushes it first, so nothing is lost unless the
//! disk stalls. Formatting writes straight into the buffer.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use crate::observe::logfmt::{Escaped, JsonEscaped};
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

/// Write out whatever both logs hold (waiting 2 s at most). Called before
/// the process exits.
pub fn flush() {
    crate::observe::log_files::flush(Duration::from_secs(2));
}

/// `-` (or JSON `null`) for nothing.
struct Or<T>(Option<T>, &'static str);

impl<T: fmt::Display> fmt::Display for Or<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str(self.1),
        }
    }
}

/// A JSON string, or `null`.
struct JsonString<'a>(Option<&'a [u8]>);

impl fmt::Display for JsonString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "\"{}\"", JsonEscaped(v)),
            None => f.write_str("null"),
        }
    }
}

pub fn write(format: LogFormat, e: &Entry<'_>) {
    crate::observe::log_files::access().append(|w| write_line(w, format, e));
}

/// Both formats write the same fields in the same order; each brings its
/// own template, escaping (`esc`), text for a missing upstream status and
/// rendering of the origin. One `writeln!` a line, straight into the buffer.
macro_rules! write_entry {
    ($w:expr, $e:expr, $template:literal, $esc:ident, $no_status:literal, $origin:expr) => {
        writeln!(
            $w,
            $template,
            Or($e.client, "-"),
            $esc($e.method.as_bytes()),
            $esc($e.path),
            $e.status,
            Or($e.upstream_status, $no_status),
            $e.bytes,
            $origin,
            $e.cors,
            $e.route,
            $esc($e.request_id),
        )
    };
}

fn write_line(w: &mut Vec<u8>, format: LogFormat, e: &Entry<'_>) {
    let time = jiff::Timestamp::now();
    let ms = e.duration.as_secs_f64() * 1000.0;
    let _ = match format {
        LogFormat::Text => write_entry!(
            w,
            e,
            "[{time:.3} INFO {TARGET}] client={} method={} path=\"{}\" status={} upstream_status={} bytes={} duration_ms={ms:.3} origin=\"{}\" cors={} route={} request_id=\"{}\"",
            Escaped,
            "-",
            Escaped(e.origin.unwrap_or(b"-"))
        ),
        LogFormat::Json => write_entry!(
            w,
            e,
            "{{\"time\":\"{time:.3}\",\"client\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{},\"upstream_status\":{},\"bytes\":{},\"duration_ms\":{ms:.3},\"origin\":{},\"cors\":\"{}\",\"route\":\"{}\",\"request_id\":\"{}\"}}",
            JsonEscaped,
            "null",
            JsonString(e.origin)
        ),
    };
}
