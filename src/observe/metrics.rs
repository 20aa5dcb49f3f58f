//! Counters for `/metrics`, in Prometheus text format. Every label value comes
//! from a closed set (status class, reject reason, outcome) or from the
//! config (route names), never from a client, so the series count is fixed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::observe::prom::Family;
use crate::observe::refused::Refusal;
use crate::observe::reports::{Directive, Disposition, ReportType, Violation};
use crate::policy::body_pace::Limit;
use crate::policy::cors::{CorsMode, RejectReason};

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One counter per (type, directive, disposition) of a violation report.
const REPORT_SERIES: usize = ReportType::ALL.len() * Directive::COUNT * Disposition::ALL.len();

fn report_slot(kind: ReportType, directive: Directive, disposition: Disposition) -> usize {
    (kind.index() * Directive::COUNT + directive.index()) * Disposition::ALL.len()
        + disposition.index()
}

/// The counters of one route. Kept by name across reloads, so a route's
/// series continue when the config changes around it.
#[derive(Debug)]
pub struct RouteMetrics {
    by_class: [AtomicU64; 5],
    preflights: AtomicU64,
    blocked: [AtomicU64; 4],
    /// Report mode: what enforce mode would have refused.
    would_block: [AtomicU64; 4],
    reports: [AtomicU64; REPORT_SERIES],
    /// `[fetch_metadata]` enforce: cross-site requests refused with 403.
    fetch_refused: AtomicU64,
    /// `[fetch_metadata]` report mode: what enforce would have refused.
    fetch_would_refuse: AtomicU64,
    /// `[cookies]`: `__Host-`/`__Secure-` cookies that break their rules.
    cookie_prefix_violations: AtomicU64,
    /// `[cookies]`: Set-Cookie values passed unchanged, unparseable.
    cookies_malformed: AtomicU64,
}

impl Default for RouteMetrics {
    fn default() -> RouteMetrics {
        RouteMetrics {
            by_class: Default::default(),
            preflights: AtomicU64::new(0),
            blocked: Default::default(),
            would_block: Default::default(),
            reports: std::array::from_fn(|_| AtomicU64::new(0)),
            fetch_refused: AtomicU64::new(0),
            fetch_would_refuse: AtomicU64::new(0),
            cookie_prefix_violations: AtomicU64::new(0),
            cookies_malformed: AtomicU64::new(0),
        }
    }
}

/// A non-zero report counter of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportCount {
    pub kind: ReportType,
    pub directive: Directive,
    pub disposition: Disposition,
    pub count: u64,
}

impl RouteMetrics {
    pub fn record_request(&self, status: u16) {
        if (100..600).contains(&status) {
            self.by_class[usize::from(status / 100 - 1)].fetch_add(1, Relaxed);
        }
    }

    pub fn record_preflight(&self) {
        self.preflights.fetch_add(1, Relaxed);
    }

    pub fn record_blocked(&self, reason: RejectReason) {
        self.blocked[reason.index()].fetch_add(1, Relaxed);
    }

    pub fn record_would_block(&self, reason: RejectReason) {
        self.would_block[reason.index()].fetch_add(1, Relaxed);
    }

    pub fn record_report(&self, v: &Violation) {
        self.reports[report_slot(v.kind, v.directive, v.disposition)].fetch_add(1, Relaxed);
    }

    pub fn record_fetch_refused(&self) {
        self.fetch_refused.fetch_add(1, Relaxed);
    }

    pub fn record_fetch_would_refuse(&self) {
        self.fetch_would_refuse.fetch_add(1, Relaxed);
    }

    pub fn record_cookie_prefix_violation(&self) {
        self.cookie_prefix_violations.fetch_add(1, Relaxed);
    }

    pub fn record_cookie_malformed(&self) {
        self.cookies_malformed.fetch_add(1, Relaxed);
    }

    pub fn fetch_refused(&self) -> u64 {
        self.fetch_refused.load(Relaxed)
    }

    pub fn fetch_would_refuse(&self) -> u64 {
        self.fetch_would_refuse.load(Relaxed)
    }

    pub fn requests(&self, class: usize) -> u64 {
        self.by_class[class].load(Relaxed)
    }

    pub fn preflights(&self) -> u64 {
        self.preflights.load(Relaxed)
    }

    pub fn blocked(&self, reason: RejectReason) -> u64 {
        self.blocked[reason.index()].load(Relaxed)
    }

    pub fn would_block(&self, reason: RejectReason) -> u64 {
        self.would_block[reason.index()].load(Relaxed)
    }

    /// Every report counter that is not zero, in a fixed order.
    pub fn reports(&self) -> Vec<ReportCount> {
        let mut out = Vec::new();
        for kind in ReportType::ALL {
            for d in 0..Directive::COUNT {
                let directive = Directive::from_index(d);
                for disposition in Disposition::ALL {
                    let count =
                        self.reports[report_slot(kind, directive, disposition)].load(Relaxed);
                    if count > 0 {
                        out.push(ReportCount {
                            kind,
                            directive,
                            disposition,
                            count,
                        });
                    }
                }
            }
        }
        out
    }
}

/// What the report endpoint did with a POST. A closed set: a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportIntake {
    Accepted,
    TooLarge,
    Invalid,
    /// Over `[reports] per_minute`, the cap for the whole process.
    RateLimited,
    /// Over `[reports] per_client_per_minute`, one client's limit.
    ClientRateLimited,
}

impl ReportIntake {
    pub const ALL: [ReportIntake; 5] = [
        ReportIntake::Accepted,
        ReportIntake::TooLarge,
        ReportIntake::Invalid,
        ReportIntake::RateLimited,
        ReportIntake::ClientRateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportIntake::Accepted => "accepted",
            ReportIntake::TooLarge => "too_large",
            ReportIntake::Invalid => "invalid",
            ReportIntake::RateLimited => "rate_limited",
            ReportIntake::ClientRateLimited => "client_rate_limited",
        }
    }

    /// The `reason` of `helmgate_reports_refused_total`: the two rate
    /// limits named apart. `None`: not a refusal.
    pub fn refusal_reason(self) -> Option<&'static str> {
        match self {
            ReportIntake::Accepted => None,
            ReportIntake::TooLarge => Some("too_large"),
            ReportIntake::Invalid => Some("invalid"),
            ReportIntake::RateLimited => Some("global_rate"),
            ReportIntake::ClientRateLimited => Some("client_rate"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Every route name seen since start, with its counters, in first-seen
    /// order (`default` first).
    routes: Mutex<Vec<(Box<str>, Arc<RouteMetrics>)>>,
    upstream_errors: AtomicU64,
    upstream_timeouts: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_sum_nanos: AtomicU64,
    duration_count: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    report_posts: [AtomicU64; ReportIntake::ALL.len()],
    body_timeouts: [AtomicU64; Limit::ALL.len()],
    /// Certificate expiry and ACME failures.
    pub certs: crate::observe::cert_metrics::CertMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Error,
    Timeout,
}

impl Metrics {
    /// The counters of the route with this name, created on first use.
    pub fn route(&self, name: &str) -> Arc<RouteMetrics> {
        let mut routes = match self.routes.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, m)) = routes.iter().find(|(n, _)| &**n == name) {
            return Arc::clone(m);
        }
        let m = Arc::new(RouteMetrics::default());
        routes.push((name.into(), Arc::clone(&m)));
        m
    }

    pub fn routes(&self) -> Vec<(Box<str>, Arc<RouteMetrics>)> {
        match self.routes.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn record_duration(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.duration_buckets[i].fetch_add(1, Relaxed);
        }
        self.duration_sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
        self.duration_count.fetch_add(1, Relaxed);
    }

    pub fn record_upstream_failure(&self, kind: UpstreamFailure) {
        match kind {
            UpstreamFailure::Error => self.upstream_errors.fetch_add(1, Relaxed),
            UpstreamFailure::Timeout => self.upstream_timeouts.fetch_add(1, Relaxed),
        };
    }

    /// A request cut because its body came too slowly.
    pub fn record_body_timeout(&self, limit: Limit) {
        self.body_timeouts[limit.index()].fetch_add(1, Relaxed);
    }

    pub fn record_refusal(&self, refusal: Refusal) {
        self.refusals[refusal.index()].fetch_add(1, Relaxed);
    }

    pub fn record_report_post(&self, intake: ReportIntake) {
        self.report_posts[intake as usize].fetch_add(1, Relaxed);
    }

    pub fn report_posts(&self, intake: ReportIntake) -> u64 {
        self.report_posts[intake as usize].load(Relaxed)
    }

    pub fn record_reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// `helmgate_report_posts_total{result}` and, of the same counters, the
    /// refusals alone in `helmgate_reports_refused_total{reason}`.
    fn render_report_posts(&self, out: &mut String) {
        let posts = || ReportIntake::ALL.iter().zip(&self.report_posts);
        let mut f = Family::counter(
            out,
            "helmgate_report_posts_total",
            "POSTs to the report endpoint, by result.",
        );
        for (intake, c) in posts() {
            f.sample(
                format_args!("result=\"{}\"", intake.as_str()),
                c.load(Relaxed),
            );
        }
        let mut f = Family::counter(out, "helmgate_reports_refused_total", "Report POSTs refused, by reason (global_rate: [reports] per_minute for the whole process; client_rate: one client's per_client_per_minute).");
        for (intake, c) in posts() {
            if let Some(reason) = intake.refusal_reason() {
                f.sample(format_args!("reason=\"{reason}\""), c.load(Relaxed));
            }
        }
    }

    /// The Prometheus text. `modes`: the CORS mode of every route of the
    /// running policy. Families come in a fixed order, one group per call.
    pub fn render(&self, environment: &str, modes: &[(&str, CorsMode)]) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self.routes();
        render_build_info(&mut out, environment);
        render_route_traffic(&mut out, &routes);
        render_route_cors(&mut out, &routes, modes);
        render_route_reports(&mut out, &routes);
        render_route_refusals(&routes, &mut out);
        self.render_report_posts(&mut out);
        self.render_upstream_failures(&mut out);
        self.render_refusals(&mut out);
        self.render_duration(&mut out);
        self.render_reloads(&mut out);
        self.certs.render(&mut out);
        crate::observe::log_files::render_metrics(&mut out);
        out
    }

    fn render_upstream_failures(&self, out: &mut String) {
        let mut f = Family::counter(
            out,
            "helmgate_upstream_failures_total",
            "Requests the upstream failed, by kind.",
        );
        for (kind, c) in [
            ("error", &self.upstream_errors),
            ("timeout", &self.upstream_timeouts),
        ] {
            f.sample(format_args!("kind=\"{kind}\""), c.load(Relaxed));
        }
    }

    /// Requests cut short: slow bodies, then heads refused before routing.
    fn render_refusals(&self, out: &mut String) {
        let mut f = Family::counter(out, "helmgate_request_body_timeouts_total", "Requests cut because their body came too slowly (request_body_timeout_secs, request_body_min_rate), by limit.");
        for (limit, c) in Limit::ALL.iter().zip(&self.body_timeouts) {
            f.sample(
                format_args!("limit=\"{}\"", limit.as_str()),
                c.load(Relaxed),
            );
        }
        let mut f = Family::counter(out, "helmgate_refused_requests_total", "Requests refused before routing (heads too large, too slow or malformed, CONNECT, ambiguous paths or hosts), by reason.");
        for (refusal, c) in Refusal::ALL.iter().zip(&self.refusals) {
            f.sample(
                format_args!("reason=\"{}\"", refusal.as_str()),
                c.load(Relaxed),
            );
        }
    }

    fn render_duration(&self, out: &mut String) {
        out.push_str("# HELP helmgate_request_duration_seconds Time from request head to response end.\n# TYPE helmgate_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&self.duration_buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                out,
                "helmgate_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.duration_count.load(Relaxed);
        let _ = writeln!(
            out,
            "helmgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "helmgate_request_duration_seconds_sum {}",
            self.duration_sum_nanos.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "helmgate_request_duration_seconds_count {count}");
    }

    fn render_reloads(&self, out: &mut String) {
        let mut f = Family::counter(
            out,
            "helmgate_config_reloads_total",
            "Configuration reloads, by result.",
        );
        for (result, c) in [("ok", &self.reloads_ok), ("failed", &self.reloads_failed)] {
            f.sample(format_args!("result=\"{result}\""), c.load(Relaxed));
        }
    }
}

/// Every route's counters, by name, as `Metrics::routes` lists them.
type Routes = [(Box<str>, Arc<RouteMetrics>)];

/// One sample a route, labelled `route`.
fn per_route(f: &mut Family<'_>, routes: &Routes, value: impl Fn(&RouteMetrics) -> u64) {
    for (route, m) in routes {
        f.sample(format_args!("route=\"{route}\""), value(m));
    }
}

fn render_build_info(out: &mut String, environment: &str) {
    let mut f = Family::gauge(out, "helmgate_build_info", "Build information.");
    let version = env!("CARGO_PKG_VERSION");
    f.sample(
        format_args!("version=\"{version}\",environment=\"{environment}\""),
        1,
    );
}

/// Responses by status class, and the preflights the gateway answered.
fn render_route_traffic(out: &mut String, routes: &Routes) {
    let mut f = Family::counter(
        out,
        "helmgate_requests_total",
        "Responses sent, by route and status class.",
    );
    for (route, m) in routes {
        for class in 0..5 {
            let label = class + 1;
            f.sample(
                format_args!("route=\"{route}\",class=\"{label}xx\""),
                m.requests(class),
            );
        }
    }
    per_route(
        &mut Family::counter(
            out,
            "helmgate_preflights_total",
            "CORS preflights answered by the gateway, by route.",
        ),
        routes,
        RouteMetrics::preflights,
    );
}

/// One sample a route and CORS refusal reason.
fn per_route_and_reason(
    f: &mut Family<'_>,
    routes: &Routes,
    value: fn(&RouteMetrics, RejectReason) -> u64,
) {
    for (route, m) in routes {
        for reason in RejectReason::ALL {
            let r = reason.as_str();
            f.sample(
                format_args!("route=\"{route}\",reason=\"{r}\""),
                value(m, reason),
            );
        }
    }
}

/// Origins refused (or, in report mode, that would be), and each route's mode.
fn render_route_cors(out: &mut String, routes: &Routes, modes: &[(&str, CorsMode)]) {
    let mut f = Family::counter(
        out,
        "helmgate_origins_blocked_total",
        "Requests refused with 403 for their Origin, by route and reason.",
    );
    per_route_and_reason(&mut f, routes, RouteMetrics::blocked);
    let mut f = Family::counter(out, "helmgate_origins_would_block_total", "Requests forwarded in CORS report mode that enforce mode would refuse, by route and reason.");
    per_route_and_reason(&mut f, routes, RouteMetrics::would_block);
    let mut f = Family::gauge(
        out,
        "helmgate_cors_mode",
        "The CORS mode of each route: 1 for the mode in force.",
    );
    for (route, mode) in modes {
        for m in [CorsMode::Enforce, CorsMode::Report] {
            let name = m.as_str();
            f.sample(
                format_args!("route=\"{route}\",mode=\"{name}\""),
                u8::from(*mode == m),
            );
        }
    }
}

fn render_route_reports(out: &mut String, routes: &Routes) {
    let mut f = Family::counter(out, "helmgate_reports_total", "Violation reports received from browsers, by route, type, directive and disposition (series appear at their first report).");
    for (route, m) in routes {
        for r in m.reports() {
            f.sample(
                format_args!(
                    "route=\"{route}\",type=\"{}\",directive=\"{}\",disposition=\"{}\"",
                    r.kind.as_str(),
                    r.directive.as_str(),
                    r.disposition.as_str()
                ),
                r.count,
            );
        }
    }
}

/// Why a routed request was refused (or, in report mode, would be) by a
/// rule other than CORS: the `reason` of `helmgate_requests_refused_total`.
pub const ROUTE_REFUSAL_REASONS: [&str; 1] = ["fetch_metadata"];

/// `helmgate_requests_refused_total{route,reason}`,
/// `helmgate_requests_would_refuse_total{route,reason}` and the Set-Cookie
/// counters.
fn render_route_refusals(routes: &Routes, out: &mut String) {
    let reason = ROUTE_REFUSAL_REASONS[0];
    let mut f = Family::counter(out, "helmgate_requests_refused_total", "Routed requests refused with 403 by a rule other than CORS, by route and reason (fetch_metadata: a cross-site request that is not a top-level navigation).");
    for (route, m) in routes {
        f.sample(
            format_args!("route=\"{route}\",reason=\"{reason}\""),
            m.fetch_refused(),
        );
    }
    let mut f = Family::counter(
        out,
        "helmgate_requests_would_refuse_total",
        "Requests forwarded in report mode that enforce mode would refuse, by route and reason.",
    );
    for (route, m) in routes {
        f.sample(
            format_args!("route=\"{route}\",reason=\"{reason}\""),
            m.fetch_would_refuse(),
        );
    }
    per_route(&mut Family::counter(out, "helmgate_cookie_prefix_violations_total", "Set-Cookie headers whose __Host- or __Secure- cookie breaks its prefix rules (browsers drop it), by route."), routes, |m| m.cookie_prefix_violations.load(Relaxed));
    per_route(
        &mut Family::counter(
            out,
            "helmgate_set_cookie_malformed_total",
            "Set-Cookie headers passed unchanged because they could not be parsed, by route.",
        ),
        routes,
        |m| m.cookies_malformed.load(Relaxed),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = Metrics::default();
        let d = m.route("default");
        for (status, elapsed) in [
            (200, Duration::from_micros(300)),
            (403, Duration::from_millis(3)),
            (502, Duration::from_secs(10)),
        ] {
            d.record_request(status);
            m.record_duration(elapsed);
        }
        let text = m.render("production", &[]);
        assert!(text.contains("helmgate_requests_total{route=\"default\",class=\"2xx\"} 1"));
        assert!(text.contains("helmgate_requests_total{route=\"default\",class=\"4xx\"} 1"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("helmgate_request_duration_seconds_count 3"));
    }

    #[test]
    fn a_route_keeps_its_counters_by_name() {
        let m = Metrics::default();
        m.route("api").record_preflight();
        m.route("api").record_preflight();
        m.route("assets").record_blocked(RejectReason::NullOrigin);
        let text = m.render("production", &[]);
        assert!(text.contains("helmgate_preflights_total{route=\"api\"} 2"));
        assert!(text
            .contains("helmgate_origins_blocked_total{route=\"assets\",reason=\"null_origin\"} 1"));
    }
}
