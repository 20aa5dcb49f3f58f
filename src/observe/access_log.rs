//! One line per request, as text or JSON, on stderr. Client-supplied values
//! are escaped so a crafted header can't forge a line.
//!
//! Lines go into one buffer instead of a write(2) each: a background thread
//! flushes it every second, and every way out of the process (graceful
//! drain, SIGINT, an error in main) and every reload flushes it first, so
//! nothing is lost. Formatting writes straight into the buffer.

use std::fmt;
use std::io::{BufWriter, Stderr, Write};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, OnceLock};
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

static SINK: OnceLock<Mutex<BufWriter<Stderr>>> = OnceLock::new();

/// Start buffering access lines, flushed at least once a second.
pub fn init() {
    if SINK
        .set(Mutex::new(BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        )))
        .is_ok()
    {
        let _ = std::thread::Builder::new()
            .name("helmgate-access-log".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_secs(1));
                flush();
            });
    }
}

fn sink() -> Option<MutexGuard<'static, BufWriter<Stderr>>> {
    SINK.get().map(|m| match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    })
}

/// Write out whatever is buffered. Called before the process exits.
pub fn flush() {
    if let Some(mut w) = sink() {
        let _ = w.flush();
    }
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
    let Some(mut w) = sink() else { return };
    let time = jiff::Timestamp::now();
    let ms = e.duration.as_secs_f64() * 1000.0;
    let _ = match format {
        LogFormat::Text => writeln!(
            w,
            "[{time:.3} INFO {TARGET}] client={} method={} path=\"{}\" status={} upstream_status={} bytes={} duration_ms={ms:.3} origin=\"{}\" cors={} route={} request_id=\"{}\"",
            Or(e.client, "-"),
            Escaped(e.method.as_bytes()),
            Escaped(e.path),
            e.status,
            Or(e.upstream_status, "-"),
            e.bytes,
            Escaped(e.origin.unwrap_or(b"-")),
            e.cors,
            e.route,
            Escaped(e.request_id),
        ),
        LogFormat::Json => writeln!(
            w,
            "{{\"time\":\"{time:.3}\",\"client\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{},\"upstream_status\":{},\"bytes\":{},\"duration_ms\":{ms:.3},\"origin\":{},\"cors\":\"{}\",\"route\":\"{}\",\"request_id\":\"{}\"}}",
            Or(e.client, "-"),
            JsonEscaped(e.method.as_bytes()),
            JsonEscaped(e.path),
            e.status,
            Or(e.upstream_status, "null"),
            e.bytes,
            JsonString(e.origin),
            e.cors,
            e.route,
            JsonEscaped(e.request_id),
        ),
    };
}
