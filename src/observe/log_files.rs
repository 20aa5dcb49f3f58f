//! Where log lines go: stderr (journald, containers), or the files of
//! `[log] access_log_path` and `error_log_path`. SIGUSR1 reopens the files,
//! as `nginx -s reopen` does, so logrotate can move them away.
//!
//! Writing never blocks a request: a line is formatted into a bounded
//! in-memory buffer, and a thread of its own per log writes the buffer out.
//! When the disk stalls, that thread waits, the buffer fills, and further
//! lines are dropped and counted (`helmgate_log_lines_dropped_total`)
//! instead of holding up the request that wrote them.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::policy::LogSettings;

/// Bytes of lines waiting to be written; beyond it lines are dropped.
const CAPACITY: usize = 4 << 20;
/// Wake the writer before its next tick once this much is waiting.
const WRITE_AT: usize = 64 << 10;
/// Lines wait at most this long before they are written.
const TICK: Duration = Duration::from_secs(1);

/// One log: its buffer, where it goes, and its writer thread's progress.
pub struct Sink {
    name: &'static str,
    /// Write each line at once (the error log: rare lines someone may be
    /// watching for), rather than batching them for up to `TICK`.
    prompt: bool,
    state: Mutex<State>,
    /// The writer waits on it; `append` and `flush` wake it.
    wake: Condvar,
    /// A flush waits on it for the writer to have written its lines.
    written: Condvar,
    dropped: AtomicU64,
}

struct State {
    buf: Vec<u8>,
    /// Where lines should go; `None` is stderr.
    path: Option<PathBuf>,
    /// Open `path` again before the next write (SIGUSR1, a new path).
    reopen: bool,
    flush_asked: u64,
    flush_done: u64,
}

static ACCESS: OnceLock<Sink> = OnceLock::new();
static ERROR: OnceLock<Sink> = OnceLock::new();
/// The writers run: a flush has someone to wait for.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The access log (`access_log::write`).
pub fn access() -> &'static Sink {
    ACCESS.get_or_init(|| Sink::new("access", false))
}

/// The error log: everything `log` records but the access lines.
pub fn error() -> &'static Sink {
    ERROR.get_or_init(|| Sink::new("error", true))
}

/// Start both writers on the configured destinations.
pub fn start(settings: &LogSettings) {
    for (sink, path) in [
        (access(), &settings.access_log_path),
        (error(), &settings.error_log_path),
    ] {
        sink.point_at(path.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("helmgate-{}-log", sink.name))
            .spawn(move || sink.run());
        if let Err(e) = spawned {
            eprintln!("helmgate: cannot start the {} log writer: {e}", sink.name);
        }
    }
    STARTED.store(true, Ordering::Release);
}

/// A reload: the paths may have changed.
pub fn configure(settings: &LogSettings) {
    access().point_at(settings.access_log_path.clone());
    error().point_at(settings.error_log_path.clone());
}

/// SIGUSR1: open both files again at their configured paths.
pub fn reopen() {
    for sink in [access(), error()] {
        sink.lock().reopen = true;
        sink.wake.notify_one();
    }
}

/// Write out what both logs hold, waiting at most `limit` (a stalled disk
/// must not keep the process from exiting).
pub fn flush(limit: Duration) {
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    let deadline = Instant::now() + limit;
    for sink in [access(), error()] {
        sink.flush_until(deadline);
    }
}

/// `helmgate_log_lines_dropped_total`, for /metrics.
pub fn render_metrics(out: &mut String) {
    let mut f = crate::observe::prom::Family::counter(
        out,
        "helmgate_log_lines_dropped_total",
        "Log lines dropped because the log's buffer was full (a stalled disk or stderr), by log.",
    );
    for sink in [access(), error()] {
        f.sample(format_args!("log=\"{}\"", sink.name), sink.dropped());
    }
}

impl Sink {
    fn new(name: &'static str, prompt: bool) -> Sink {
        Sink {
            name,
            prompt,
            state: Mutex::new(State {
                buf: Vec::with_capacity(WRITE_AT),
                path: None,
                reopen: false,
                flush_asked: 0,
                flush_done: 0,
            }),
            wake: Condvar::new(),
            written: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Add one line, written by `line` into the buffer; dropped (and
    /// counted) when the buffer is full. Never waits for the disk.
    pub fn append(&self, line: impl FnOnce(&mut Vec<u8>)) {
        let mut st = self.lock();
        let before = st.buf.len();
        line(&mut st.buf);
        if st.buf.len() > CAPACITY {
            st.buf.truncate(before);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.prompt || (before < WRITE_AT && st.buf.len() >= WRITE_AT) {
            self.wake.notify_one();
        }
    }

    fn point_at(&self, path: Option<PathBuf>) {
        let mut st = self.lock();
        if st.path != path {
            st.path = path;
            st.reopen = true;
            self.wake.notify_one();
        }
    }

    fn flush_until(&self, deadline: Instant) {
        let mut st = self.lock();
        st.flush_asked += 1;
        let asked = st.flush_asked;
        self.wake.notify_one();
        while st.flush_done < asked {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            st = match self.written.wait_timeout(st, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The writer thread: take the buffer, write it outside the lock.
    fn run(&self) {
        let mut out = Output::Stderr;
        let mut batch = Vec::with_capacity(WRITE_AT);
        loop {
            let (reopen, asked) = {
                let mut st = self.lock();
                let idle = |st: &State| {
                    let waiting = if self.prompt { 1 } else { WRITE_AT };
                    st.buf.len() < waiting && !st.reopen && st.flush_done == st.flush_asked
                };
                if idle(&st) {
                    st = match self.wake.wait_timeout(st, TICK) {
                        Ok((g, _)) => g,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
                std::mem::swap(&mut st.buf, &mut batch);
                let reopen = std::mem::take(&mut st.reopen).then(|| st.path.clone());
                (reopen, st.flush_asked)
            };
            if let Some(path) = reopen {
                out = out.reopen(self.name, path.as_deref());
            }
            out.write(self.name, &batch);
            batch.clear();
            self.lock().flush_done = asked;
            self.written.notify_all();
        }
    }
}

/// Where a writer thread writes.
enum Output {
    Stderr,
    File(File),
}

impl Output {
    /// Open `path` (or stderr); when it can't be opened, keep writing where
    /// lines went so far, and say so on stderr.
    fn reopen(self, name: &str, path: Option<&Path>) -> Output {
        let Some(path) = path else {
            return Output::Stderr;
        };
        match open(path) {
            Ok(file) => Output::File(file),
            Err(e) => {
                eprintln!(
                    "helmgate: cannot open the {name} log {}: {e}; its lines keep going where they went",
                    path.display()
                );
                self
            }
        }
    }

    fn write(&mut self, name: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let result = match self {
            Output::Stderr => io::stderr().lock().write_all(bytes),
            Output::File(f) => f.write_all(bytes),
        };
        if let Err(e) = result {
            eprintln!("helmgate: writing the {name} log failed: {e}");
        }
    }
}

/// Append, creating the file if needed.
pub fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `env_logger`'s target for the error log: one record per `write`.
pub struct ErrorLogWriter;

impl Write for ErrorLogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        error().append(|buf| buf.extend_from_slice(bytes));
        Ok(bytes.len())
    }

    /// Nothing to wait for: the writer thread writes within a second.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_drops_lines_and_counts_them() {
        let sink = Sink::new("test", false);
        let line = vec![b'x'; 1024];
        for _ in 0..(CAPACITY / 1024 + 10) {
            sink.append(|buf| buf.extend_from_slice(&line));
        }
        assert_eq!(sink.dropped(), 10);
        assert_eq!(sink.lock().buf.len(), CAPACITY);
    }
}
