//! The admin listener's dashboard (`GET /`) and its data (`GET
//! /status.json`): one [`Status`] snapshot, rendered as JSON for scripts and
//! as one self-contained HTML page for people. The page has no external
//! assets; its style and script are inline and allowed by their SHA-256
//! hashes in its own CSP (no `'unsafe-inline'`); every number is rendered on
//! the server (it works without JavaScript) and the script only re-fetches
//! the page every few seconds and swaps the numbers in. Every value that
//! came from a client (origins, blocked URLs, documents) is HTML-escaped.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::observe::insight::{Minute, RecentReport};
use crate::observe::learning::suggest::RouteSuggestions;
use crate::observe::metrics::{Metrics, ReportIntake, RouteMetrics};
use crate::observe::topk::Counted;
use crate::policy::cors::RejectReason;
use crate::policy::reports::ReportSettings;
use crate::policy::SitePolicy;
use crate::state::certs::Source;
use crate::state::SharedState;

mod escape;
mod html;
mod suggestions;
pub use html::{html, CSP};

#[derive(Debug, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub environment: &'static str,
    pub environment_source: String,
    pub config_path: String,
    /// RFC 3339, UTC.
    pub config_loaded_at: String,
    pub last_reload: Option<ReloadStatus>,
    pub generated_at: String,
    pub reports: ReportsStatus,
    pub routes: Vec<RouteStatus>,
    /// Origins refused (or, in report mode, that would be), most first.
    pub top_blocked_origins: Vec<Counted>,
    pub top_violations: Vec<ViolationCount>,
    /// The last hour by minute, oldest first, the current minute last.
    pub timeline: Timeline,
    /// Newest first.
    pub recent_reports: Vec<RecentReport>,
    /// Policy learning: whether it is on, and each route's suggestions (as
    /// `/suggestions.json` gives them).
    pub learning: bool,
    pub suggestions: Vec<RouteSuggestions>,
    /// Every certificate served, by host: files and `[server.acme]`.
    pub certificates: Vec<CertificateStatus>,
}

#[derive(Debug, Serialize)]
pub struct CertificateStatus {
    pub host: String,
    /// `file PATH` or `acme`.
    pub source: String,
    /// RFC 3339, UTC; `None` while there is none.
    pub expires: Option<String>,
    /// RFC 3339 of the last ACME attempt, and its error if it failed.
    pub last_attempt: Option<String>,
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
    pub next_attempt: Option<String>,
    pub failures: u64,
}

#[derive(Debug, Serialize)]
pub struct ReloadStatus {
    pub at: String,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReportsStatus {
    pub enabled: bool,
    pub path: String,
    pub max_body_bytes: u64,
    pub per_minute: u32,
    pub per_client_per_minute: u32,
    /// POSTs to the endpoint by result (`accepted`, `too_large` ...;
    /// `rate_limited`: over the process-wide cap, `client_rate_limited`:
    /// over one client's limit).
    pub posts: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct RouteStatus {
    pub name: String,
    pub cors_mode: &'static str,
    /// Responses by status class, `1xx` to `5xx`.
    pub requests: BTreeMap<String, u64>,
    pub preflights: u64,
    /// By reason.
    pub blocked: BTreeMap<&'static str, u64>,
    pub would_block: BTreeMap<&'static str, u64>,
    pub reports: Vec<ReportRow>,
    pub reports_by_directive: BTreeMap<&'static str, u64>,
    /// `[fetch_metadata] mode`.
    pub fetch_metadata_mode: &'static str,
    /// Cross-site requests refused (enforce) or that would be (report).
    pub cross_site_refused: u64,
    pub cross_site_would_refuse: u64,
}

#[derive(Debug, Serialize)]
pub struct ReportRow {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub directive: &'static str,
    pub disposition: &'static str,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct ViolationCount {
    /// The CSP directive, or the report type for COEP/COOP/other reports.
    pub directive: String,
    pub blocked: String,
    pub count: u64,
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct Timeline {
    pub blocked: Vec<u64>,
    pub would_block: Vec<u64>,
    pub reports: Vec<u64>,
}

/// Everything the dashboard shows, as of now.
pub fn status(state: &SharedState, now: Instant, wall: SystemTime) -> Status {
    let policy = state.policy();
    let history = state.config_history();
    let routes = policy
        .sites
        .iter()
        .enumerate()
        .map(|(index, site)| route_status(site, &policy.route(index).metrics))
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        environment: policy.environment.as_str(),
        environment_source: policy.environment_source.to_string(),
        config_path: state.config_path().display().to_string(),
        config_loaded_at: rfc3339(history.loaded_at),
        last_reload: history.last_reload.map(|r| ReloadStatus {
            at: rfc3339(r.at),
            ok: r.result.is_ok(),
            error: r.result.err(),
        }),
        generated_at: rfc3339(wall),
        reports: reports_status(&policy.reports, &state.metrics),
        routes,
        top_blocked_origins: state.insight.top_origins(),
        top_violations: top_violations(state),
        timeline: timeline(state, now),
        recent_reports: state.insight.recent_reports(),
        learning: policy.learning_active(),
        suggestions: crate::ops::learning::current(state),
        certificates: certificates(state),
    }
}

fn certificates(state: &SharedState) -> Vec<CertificateStatus> {
    state
        .certs
        .statuses()
        .into_iter()
        .map(|(host, c)| CertificateStatus {
            source: match c.source {
                Source::File(path) => format!("file {path}"),
                Source::Acme => "acme".to_string(),
            },
            expires: c.expires.map(rfc3339),
            last_attempt: c.last_result.as_ref().map(|(at, _)| rfc3339(*at)),
            last_ok: c.last_result.as_ref().map(|(_, r)| r.is_ok()),
            last_error: c.last_result.and_then(|(_, r)| r.err()),
            next_attempt: c.next_attempt.map(rfc3339),
            failures: state.metrics.certs.failures(&host),
            host,
        })
        .collect()
}

fn route_status(site: &SitePolicy, m: &RouteMetrics) -> RouteStatus {
    let reports: Vec<ReportRow> = m
        .reports()
        .into_iter()
        .map(|r| ReportRow {
            kind: r.kind.as_str(),
            directive: r.directive.as_str(),
            disposition: r.disposition.as_str(),
            count: r.count,
        })
        .collect();
    let mut by_directive = BTreeMap::new();
    for r in &reports {
        *by_directive.entry(r.directive).or_insert(0) += r.count;
    }
    RouteStatus {
        name: site.name.to_string(),
        cors_mode: site.cors.mode().as_str(),
        requests: (0..5)
            .map(|c| (format!("{}xx", c + 1), m.requests(c)))
            .collect(),
        preflights: m.preflights(),
        blocked: RejectReason::ALL
            .iter()
            .map(|r| (r.as_str(), m.blocked(*r)))
            .collect(),
        would_block: RejectReason::ALL
            .iter()
            .map(|r| (r.as_str(), m.would_block(*r)))
            .collect(),
        reports,
        reports_by_directive: by_directive,
        fetch_metadata_mode: site.fetch_metadata.mode.as_str(),
        cross_site_refused: m.fetch_refused(),
        cross_site_would_refuse: m.fetch_would_refuse(),
    }
}

fn reports_status(r: &ReportSettings, metrics: &Metrics) -> ReportsStatus {
    ReportsStatus {
        enabled: r.enabled,
        path: r.path.as_str().to_string(),
        max_body_bytes: r.max_body_bytes,
        per_minute: r.per_minute,
        per_client_per_minute: r.per_client_per_minute,
        posts: ReportIntake::ALL
            .iter()
            .map(|i| (i.as_str(), metrics.report_posts(*i)))
            .collect(),
    }
}

/// The top violations, their `directive blocked` key split in two.
fn top_violations(state: &SharedState) -> Vec<ViolationCount> {
    state
        .insight
        .top_violations()
        .into_iter()
        .map(|c| {
            let (directive, blocked) = c.key.split_once(' ').unwrap_or((&c.key, ""));
            ViolationCount {
                directive: directive.to_string(),
                blocked: blocked.to_string(),
                count: c.count,
                error: c.error,
            }
        })
        .collect()
}

fn timeline(state: &SharedState, now: Instant) -> Timeline {
    let minutes = state.insight.timeline(now);
    let series = |f: fn(&Minute) -> u64| minutes.iter().map(f).collect();
    Timeline {
        blocked: series(|m| m.blocked),
        would_block: series(|m| m.would_block),
        reports: series(|m| m.reports),
    }
}

pub fn json(status: &Status) -> String {
    serde_json::to_string_pretty(status).unwrap_or_else(|_| "{}".to_string())
}

/// `2026-01-31T12:34:56Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
            "2025-12-31T23:59:59Z"
        );
    }
}
