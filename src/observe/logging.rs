//! env_logger set up for a service: `info` unless RUST_LOG says otherwise,
//! stderr or `[log] error_log_path` (`log_files`), one line per record.
//! Access lines bypass it for a buffer of their own (src/access_log.rs).
//!
//! Every line must be ours, so records from the libraries underneath
//! (Pingora, rustls, h2) pass through a filter first: their text is escaped
//! (they can quote client bytes such as a Host or an SNI name), and the ones
//! a client causes (a failed TLS or HTTP/2 handshake, a client leaving
//! mid-response) are not errors: they go down to INFO or DEBUG, with a rate
//! limit, like every other line about what clients do.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::time::Instant;

use log::{Level, Log, Metadata, Record};

use crate::observe::blocked_log::{Admit, BlockedLogLimiter};
use crate::observe::log_files;
use crate::policy::LogSettings;

pub fn init(settings: &LogSettings) {
    log_files::start(settings);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    // Stderr or `[log] error_log_path`, through a buffer that never blocks.
    builder.target(env_logger::Target::Pipe(Box::new(
        log_files::ErrorLogWriter,
    )));
    builder.format(|buf, record| {
        writeln!(
            buf,
            "[{} {} {}] {}",
            buf.timestamp_millis(),
            record.level(),
            record.target(),
            record.args()
        )
    });
    let inner = builder.build();
    let max = inner.filter();
    let logger = Gatekeeper {
        inner,
        client_lines: BlockedLogLimiter::new(20, 60),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
}

/// The logger in front of env_logger.
struct Gatekeeper {
    inner: env_logger::Logger,
    /// One bucket for every client-caused library line.
    client_lines: BlockedLogLimiter,
}

/// Where a library record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a library line: as it is.
    Ours,
    /// A library line: escaped, at its own level.
    Library,
    /// Caused by a client: escaped, at this level, rate-limited.
    ClientCaused(Level),
}

/// Library log lines a client causes, by target and the start of the text.
/// Anything else from a library keeps its level (an upstream failing or a
/// full file table is the operator's business).
const CLIENT_CAUSED: &[(&str, &str, Level)] = &[
    // A scanner, a client giving up, plain HTTP on a TLS port.
    (
        "pingora_core::services::listening",
        "Downstream handshake",
        Level::Info,
    ),
    ("pingora_core::apps", "H2 handshake error", Level::Info),
    // The client left before the end of the response.
    (
        "pingora_proxy::proxy_h1",
        "Error finish sending body to downstream",
        Level::Debug,
    ),
    (
        "pingora_proxy::proxy_h2",
        "Error finish sending body to downstream",
        Level::Debug,
    ),
    (
        "pingora_proxy",
        "failed to send error response to downstream",
        Level::Debug,
    ),
    // rustls on a malformed ClientHello (it quotes the SNI bytes).
    ("rustls", "", Level::Debug),
];

const LIBRARIES: &[&str] = &["pingora", "rustls", "h2", "tokio", "hyper"];

pub fn classify(target: &str, text: &str) -> Verdict {
    if !LIBRARIES.iter().any(|l| target.starts_with(l)) {
        return Verdict::Ours;
    }
    CLIENT_CAUSED
        .iter()
        .find(|(t, prefix, _)| target.starts_with(t) && text.starts_with(prefix))
        .map_or(Verdict::Library, |(_, _, level)| {
            Verdict::ClientCaused(*level)
        })
}

/// Control characters, DEL and anything outside ASCII (C1 controls, bidi
/// overrides such as U+202E) as `\xNN`, so a quoted client byte can neither
/// break a line nor reorder what a terminal shows.
pub struct Sanitized<'a>(pub &'a str);

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.as_bytes() {
            if (0x20..0x7f).contains(&b) {
                f.write_char(b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl Log for Gatekeeper {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !LIBRARIES.iter().any(|l| record.target().starts_with(l)) {
            self.inner.log(record);
            return;
        }
        let text = record.args().to_string();
        let verdict = classify(record.target(), &text);
        let level = match verdict {
            Verdict::Ours | Verdict::Library => record.level(),
            Verdict::ClientCaused(level) => level.max(record.level()),
        };
        let relevelled = Metadata::builder()
            .level(level)
            .target(record.target())
            .build();
        if !self.inner.enabled(&relevelled) {
            return;
        }
        let mut suppressed = String::new();
        if matches!(verdict, Verdict::ClientCaused(_)) {
            match self.client_lines.admit(Instant::now()) {
                Admit::Suppress => return,
                Admit::Log { suppressed_before } if suppressed_before > 0 => {
                    suppressed = format!(" ({suppressed_before} similar lines suppressed)");
                }
                Admit::Log { .. } => {}
            }
        }
        self.inner.log(
            &Record::builder()
                .metadata(relevelled)
                .args(format_args!("{}{suppressed}", Sanitized(&text)))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caused_library_lines_are_not_errors() {
        assert_eq!(
            classify(
                "pingora_core::services::listening",
                "Downstream handshake error from 1.2.3.4: TLS"
            ),
            Verdict::ClientCaused(Level::Info)
        );
        assert_eq!(
            classify("pingora_core::services::listening", "Accept() failed"),
            Verdict::Library
        );
        assert_eq!(classify("helmgate::cors", "x"), Verdict::Ours);
        assert_eq!(classify("access", "x"), Verdict::Ours);
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        let s = Sanitized("Host: evil\u{202e}moc.\u{85}x\r\ny \"ok\"").to_string();
        assert_eq!(
            s,
            "Host: evil\\xe2\\x80\\xaemoc.\\xc2\\x85x\\x0d\\x0ay \"ok\""
        );
    }
}
