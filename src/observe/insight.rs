//! What the dashboard shows beyond the counters, for the whole process:
//! the most refused origins and the most violated directive/blocked pairs
//! (space-saving top-K), refusals and reports per minute over the last hour
//! (a 60-slot ring), the last 50 reports, the report rate limits (one bucket
//! for the process, one per client in a fixed table),
//! and the deduplicated violation log. Every structure has a fixed size, so
//! nothing a client sends makes it grow.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::observe::blocked_log::{Admit, BlockedLogLimiter};
use crate::observe::client_rate::ClientRates;
use crate::observe::logfmt::Escaped;
use crate::observe::reports::{Directive, Disposition, ReportType, Violation};
use crate::observe::topk::{Counted, SpaceSaving};

/// Keys tracked per top-K table: ten times what the dashboard shows, so its
/// top 20 is exact unless the traffic is nearly uniform.
pub const TOP_CAPACITY: usize = 200;
/// Entries shown on the dashboard.
pub const TOP_SHOWN: usize = 20;
pub const RECENT_REPORTS: usize = 50;
pub const MINUTES: usize = 60;
/// Distinct violation lines remembered per minute for deduplication.
pub const DEDUP_KEYS: usize = 256;
pub const DEDUP_WINDOW: Duration = Duration::from_secs(60);

/// The `log` target of violation lines.
pub const LOG_TARGET: &str = "helmgate::reports";

pub struct Insight {
    started: Instant,
    origins: Mutex<SpaceSaving>,
    violations: Mutex<SpaceSaving>,
    timeline: Mutex<[Minute; MINUTES]>,
    recent: Mutex<VecDeque<RecentReport>>,
    log: Mutex<ReportLog>,
    rate: Mutex<Option<(u32, BlockedLogLimiter)>>,
    clients: ClientRates,
}

/// Counts of one minute since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Minute {
    /// Minutes since start; a slot whose `at` is stale counts as empty.
    at: u64,
    pub blocked: u64,
    pub would_block: u64,
    pub reports: u64,
}

/// One of the last reports, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecentReport {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub route: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub directive: &'static str,
    pub disposition: &'static str,
    pub blocked: String,
    pub document: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Default for Insight {
    fn default() -> Insight {
        Insight::new(Instant::now())
    }
}

impl Insight {
    pub fn new(started: Instant) -> Insight {
        Insight {
            started,
            origins: Mutex::new(SpaceSaving::new(TOP_CAPACITY)),
            violations: Mutex::new(SpaceSaving::new(TOP_CAPACITY)),
            timeline: Mutex::new([Minute::default(); MINUTES]),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_REPORTS)),
            log: Mutex::new(ReportLog::default()),
            rate: Mutex::new(None),
            clients: ClientRates::default(),
        }
    }

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs() / 60
    }

    fn bump(&self, now: Instant, f: impl FnOnce(&mut Minute)) {
        let m = self.minute(now);
        let mut t = lock(&self.timeline);
        let slot = &mut t[(m % MINUTES as u64) as usize];
        if slot.at != m {
            *slot = Minute {
                at: m,
                ..Minute::default()
            };
        }
        f(slot);
    }

    /// An origin CORS refused (or, in report mode, would have refused).
    /// `origin` is what the client sent, all `Origin` values joined.
    pub fn record_refused_origin(&self, origin: &[u8], would_block: bool, now: Instant) {
        let shown = &origin[..origin.len().min(crate::observe::topk::MAX_KEY)];
        let key = Escaped(shown).to_string();
        lock(&self.origins).add(&key);
        self.bump(now, |m| {
            if would_block {
                m.would_block += 1;
            } else {
                m.blocked += 1;
            }
        });
    }

    /// Take one report POST from the bucket of `per_minute` a minute (its
    /// size changes with the config, its level carries over a reload only
    /// when the rate is unchanged).
    pub fn admit_report(&self, per_minute: u32, now: Instant) -> bool {
        let mut rate = lock(&self.rate);
        if rate.as_ref().is_none_or(|(n, _)| *n != per_minute) {
            *rate = Some((per_minute, BlockedLogLimiter::new(per_minute, per_minute)));
        }
        rate.as_ref()
            .is_some_and(|(_, bucket)| matches!(bucket.admit(now), Admit::Log { .. }))
    }

    /// Take one report POST from `client`'s own bucket of `per_minute` a
    /// minute, in a table of fixed size (`client_rate`).
    pub fn admit_report_from(&self, client: Option<IpAddr>, per_minute: u32, now: Instant) -> bool {
        self.clients.admit(client, per_minute, now)
    }

    /// Count one accepted report everywhere the dashboard looks, and log it
    /// (deduplicated, then rate-limited by `limiter`).
    pub fn record_report(
        &self,
        route: &str,
        v: &Violation,
        now: Instant,
        wall: SystemTime,
        limiter: &BlockedLogLimiter,
    ) {
        let what = match v.kind {
            ReportType::CspViolation => v.directive.as_str(),
            other => other.as_str(),
        };
        lock(&self.violations).add(&format!("{what} {}", v.blocked));
        self.bump(now, |m| m.reports += 1);
        {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT_REPORTS {
                recent.pop_back();
            }
            recent.push_front(RecentReport {
                at: wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                route: route.to_string(),
                kind: v.kind.as_str(),
                directive: v.directive.as_str(),
                disposition: v.disposition.as_str(),
                blocked: v.blocked.to_string(),
                document: v.document.as_str().to_string(),
            });
        }
        let key = LineKey {
            route: route.into(),
            kind: OrdBy(v.kind),
            directive: OrdBy(v.directive),
            disposition: OrdBy(v.disposition),
            blocked: v.blocked.clone(),
            document: v.document.as_str().into(),
        };
        let lines = lock(&self.log).observe(key, now);
        write_lines(lines, limiter, now);
    }

    /// Write the summaries of a minute that has ended; called every few
    /// seconds so repeats are reported even when no new report comes. The
    /// lines the rate limit dropped are counted in the next line written;
    /// when the minute ends with none to carry that count, a line of its
    /// own says it, so a flood never goes unreported.
    pub fn flush(&self, now: Instant, limiter: &BlockedLogLimiter) {
        let Some(lines) = lock(&self.log).roll(now) else {
            return;
        };
        write_lines(lines, limiter, now);
        let suppressed = limiter.take_suppressed();
        if suppressed > 0 {
            log::warn!(
                target: LOG_TARGET,
                "{suppressed} violation lines suppressed in the last minute by the log rate limit ([log] blocked_origin_burst, blocked_origin_per_minute); helmgate_reports_total counts every report"
            );
        }
    }

    pub fn top_origins(&self) -> Vec<Counted> {
        lock(&self.origins).top(TOP_SHOWN)
    }

    /// The most violated pairs, each key `"<directive or type> <blocked>"`.
    pub fn top_violations(&self) -> Vec<Counted> {
        lock(&self.violations).top(TOP_SHOWN)
    }

    /// How many origins the top-K table tracks, and the bytes their keys
    /// take: fixed, whatever the traffic.
    pub fn origins_tracked(&self) -> (usize, usize) {
        let t = lock(&self.origins);
        (t.len(), t.key_bytes())
    }

    /// The last hour, oldest minute first, the current one last.
    pub fn timeline(&self, now: Instant) -> Vec<Minute> {
        let current = self.minute(now);
        let t = lock(&self.timeline);
        (0..MINUTES as u64)
            .rev()
            .map(|ago| match current.checked_sub(ago) {
                Some(m) => {
                    let slot = t[(m % MINUTES as u64) as usize];
                    if slot.at == m {
                        slot
                    } else {
                        Minute::default()
                    }
                }
                None => Minute::default(),
            })
            .collect()
    }

    /// The last reports, newest first.
    pub fn recent_reports(&self) -> Vec<RecentReport> {
        lock(&self.recent).iter().cloned().collect()
    }
}

fn write_lines(lines: Vec<String>, limiter: &BlockedLogLimiter, now: Instant) {
    for line in lines {
        if let Admit::Log { suppressed_before } = limiter.admit(now) {
            if suppressed_before > 0 {
                log::warn!(target: LOG_TARGET, "{line} ({suppressed_before} similar lines suppressed)");
            } else {
                log::warn!(target: LOG_TARGET, "{line}");
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct LineKey {
    route: Box<str>,
    document: Box<str>,
    blocked: Box<str>,
    kind: ReportTypeOrd,
    directive: DirectiveOrd,
    disposition: DispositionOrd,
}

// Orderable stand-ins, so summaries come out sorted.
type ReportTypeOrd = OrdBy<ReportType>;
type DirectiveOrd = OrdBy<Directive>;
type DispositionOrd = OrdBy<Disposition>;

impl LineKey {
    fn text(&self) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "{} directive={} blocked={} document={} disposition={} route={}",
            self.kind.0.title(),
            self.directive.0.as_str(),
            Escaped(self.blocked.as_bytes()),
            Escaped(self.document.as_bytes()),
            self.disposition.0.as_str(),
            self.route
        );
        s
    }
}

/// Orders a closed-set value by its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct OrdBy<T>(T);

trait Label {
    fn label(&self) -> &'static str;
}
impl Label for ReportType {
    fn label(&self) -> &'static str {
        self.as_str()
    }
}
impl Label for Directive {
    fn label(&self) -> &'static str {
        self.as_str()
    }
}
impl Label for Disposition {
    fn label(&self) -> &'static str {
        self.as_str()
    }
}
impl<T: Label + Eq> PartialOrd for OrdBy<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Label + Eq> Ord for OrdBy<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.label().cmp(other.0.label())
    }
}

/// The violation log's memory of the current minute: the first report of a
/// kind is logged at once; repeats within the minute are counted and logged
/// as one line when it ends. At most [`DEDUP_KEYS`] kinds a minute are
/// remembered; past that, reports are only counted.
#[derive(Debug, Default)]
struct ReportLog {
    window_start: Option<Instant>,
    repeats: HashMap<LineKey, u64>,
    untracked: u64,
}

impl ReportLog {
    fn observe(&mut self, key: LineKey, now: Instant) -> Vec<String> {
        let mut out = self.roll(now).unwrap_or_default();
        self.window_start.get_or_insert(now);
        if let Some(n) = self.repeats.get_mut(&key) {
            *n += 1;
        } else if self.repeats.len() < DEDUP_KEYS {
            out.push(key.text());
            self.repeats.insert(key, 0);
        } else {
            self.untracked += 1;
        }
        out
    }

    /// The summaries of the minute, once it is over (`None`: no minute
    /// ended since the last call).
    fn roll(&mut self, now: Instant) -> Option<Vec<String>> {
        let start = self.window_start?;
        if now.saturating_duration_since(start) < DEDUP_WINDOW {
            return None;
        }
        self.window_start = None;
        let mut repeated: Vec<(LineKey, u64)> =
            self.repeats.drain().filter(|(_, n)| *n > 0).collect();
        repeated.sort();
        let mut out: Vec<String> = repeated
            .into_iter()
            .map(|(k, n)| format!("{} repeated={n} within a minute of that line", k.text()))
            .collect();
        let untracked = std::mem::take(&mut self.untracked);
        if untracked > 0 {
            out.push(format!(
                "{untracked} more violation reports in the last minute were not logged one by one (over {DEDUP_KEYS} distinct); helmgate_reports_total counts every report"
            ));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::reports::{blocked, document_of};

    fn violation(directive: &str, blocked_uri: &str, doc: &str) -> Violation {
        Violation {
            kind: ReportType::CspViolation,
            directive: Directive::parse(directive),
            disposition: Disposition::Enforce,
            blocked: blocked(blocked_uri),
            document: document_of(doc),
        }
    }

    fn key(v: &Violation) -> LineKey {
        LineKey {
            route: "default".into(),
            kind: OrdBy(v.kind),
            directive: OrdBy(v.directive),
            disposition: OrdBy(v.disposition),
            blocked: v.blocked.clone(),
            document: v.document.as_str().into(),
        }
    }

    #[test]
    fn the_same_violation_within_a_minute_is_one_line_then_a_count() {
        let mut log = ReportLog::default();
        let t = Instant::now();
        let v = violation("script-src-elem", "inline", "https://a.example/p?q=1");
        let first = log.observe(key(&v), t);
        assert_eq!(
            first,
            ["CSP violation directive=script-src-elem blocked=inline document=https://a.example/p disposition=enforce route=default"]
        );
        for i in 1..5 {
            assert!(log.observe(key(&v), t + Duration::from_secs(i)).is_empty());
        }
        let other = violation("img-src", "https://x.example/a.png", "https://a.example/p");
        assert_eq!(
            log.observe(key(&other), t + Duration::from_secs(5)).len(),
            1
        );
        assert_eq!(log.roll(t + Duration::from_secs(59)), None);
        let summary = log.roll(t + Duration::from_secs(60)).unwrap();
        assert_eq!(
            summary,
            ["CSP violation directive=script-src-elem blocked=inline document=https://a.example/p disposition=enforce route=default repeated=4 within a minute of that line"]
        );
        // A new minute logs the first one again at once.
        assert_eq!(log.observe(key(&v), t + Duration::from_secs(61)).len(), 1);
    }

    #[test]
    fn the_dedup_table_is_bounded_per_minute() {
        let mut log = ReportLog::default();
        let t = Instant::now();
        let mut lines = 0;
        for i in 0..10_000 {
            let v = violation(
                "img-src",
                &format!("https://h{i}.example/"),
                "https://a.example/",
            );
            lines += log.observe(key(&v), t).len();
        }
        assert_eq!(lines, DEDUP_KEYS);
        assert_eq!(log.repeats.len(), DEDUP_KEYS);
        let summary = log.roll(t + DEDUP_WINDOW).unwrap();
        assert_eq!(summary.len(), 1);
        assert!(
            summary[0].starts_with("9744 more violation reports"),
            "{summary:?}"
        );
        assert!(log.repeats.is_empty());
    }

    #[test]
    fn the_timeline_keeps_one_hour_by_minute() {
        let t = Instant::now();
        let i = Insight::new(t);
        i.record_refused_origin(b"https://a.example", false, t);
        i.record_refused_origin(b"https://a.example", true, t + Duration::from_secs(61));
        let line = i.timeline(t + Duration::from_secs(61));
        assert_eq!(line.len(), MINUTES);
        assert_eq!((line[58].blocked, line[58].would_block), (1, 0));
        assert_eq!((line[59].blocked, line[59].would_block), (0, 1));
        // An hour later both minutes have left the window.
        let later = i.timeline(t + Duration::from_secs(61 + 3600));
        assert!(later.iter().all(|m| m.blocked == 0 && m.would_block == 0));
    }

    #[test]
    fn recent_reports_keep_the_last_fifty_newest_first() {
        let t = Instant::now();
        let i = Insight::new(t);
        let limiter = BlockedLogLimiter::new(1, 1);
        for n in 0..120 {
            let v = violation(
                "img-src",
                &format!("https://h{n}.example/"),
                "https://a.example/",
            );
            i.record_report("default", &v, t, SystemTime::now(), &limiter);
        }
        let recent = i.recent_reports();
        assert_eq!(recent.len(), RECENT_REPORTS);
        assert_eq!(recent[0].blocked, "https://h119.example");
        assert_eq!(i.top_violations().len(), TOP_SHOWN);
    }

    #[test]
    fn the_report_bucket_allows_per_minute_then_refuses() {
        let t = Instant::now();
        let i = Insight::new(t);
        let admitted = (0..50).filter(|_| i.admit_report(10, t)).count();
        assert_eq!(admitted, 10);
        // One more every 6 s (the bucket starts when first used).
        assert!(i.admit_report(10, t + Duration::from_secs(7)));
        assert!(!i.admit_report(10, t + Duration::from_secs(7)));
        // A new rate is a new bucket.
        assert!(i.admit_report(20, t + Duration::from_secs(7)));
    }

    #[test]
    fn refused_origins_are_escaped_and_capped() {
        let t = Instant::now();
        let i = Insight::new(t);
        let mut evil = b"https://a.example\r\n<script>".to_vec();
        evil.extend(std::iter::repeat_n(b'x', 1000));
        i.record_refused_origin(&evil, false, t);
        let top = i.top_origins();
        assert!(top[0]
            .key
            .starts_with("https://a.example\\x0d\\x0a<script>"));
        assert!(top[0].key.len() <= crate::observe::topk::MAX_KEY);
    }
}
