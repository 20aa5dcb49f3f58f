//! Counters for `/metrics`, in Prometheus text format. Every label value comes
//! from a closed set (status class, reject reason, outcome), never from a
//! client, so the series count is fixed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::cors::RejectReason;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
    preflights: AtomicU64,
    blocked: [AtomicU64; 4],
    upstream_errors: AtomicU64,
    upstream_timeouts: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_sum_nanos: AtomicU64,
    duration_count: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Error,
    Timeout,
}

impl Metrics {
    pub fn record_request(&self, status: u16, elapsed: Duration) {
        if (100..600).contains(&status) {
            self.by_class[usize::from(status / 100 - 1)].fetch_add(1, Relaxed);
        }
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

    pub fn record_preflight(&self) {
        self.preflights.fetch_add(1, Relaxed);
    }

    pub fn record_blocked(&self, reason: RejectReason) {
        let i = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.blocked[i].fetch_add(1, Relaxed);
    }

    pub fn record_upstream_failure(&self, kind: UpstreamFailure) {
        match kind {
            UpstreamFailure::Error => self.upstream_errors.fetch_add(1, Relaxed),
            UpstreamFailure::Timeout => self.upstream_timeouts.fetch_add(1, Relaxed),
        };
    }

    pub fn record_reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    pub fn render(&self, environment: &str) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Relaxed);
        out.push_str(
            "# HELP helmgate_build_info Build information.\n# TYPE helmgate_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "helmgate_build_info{{version=\"{}\",environment=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            environment
        );
        out.push_str("# HELP helmgate_requests_total Responses sent, by status class.\n# TYPE helmgate_requests_total counter\n");
        for (i, c) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "helmgate_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(c)
            );
        }
        out.push_str("# HELP helmgate_preflights_total CORS preflights answered by the gateway.\n# TYPE helmgate_preflights_total counter\n");
        let _ = writeln!(out, "helmgate_preflights_total {}", get(&self.preflights));
        out.push_str("# HELP helmgate_origins_blocked_total Requests refused with 403 for their Origin, by reason.\n# TYPE helmgate_origins_blocked_total counter\n");
        for (reason, c) in RejectReason::ALL.iter().zip(&self.blocked) {
            let _ = writeln!(
                out,
                "helmgate_origins_blocked_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                get(c)
            );
        }
        out.push_str("# HELP helmgate_upstream_failures_total Requests the upstream failed, by kind.\n# TYPE helmgate_upstream_failures_total counter\n");
        let _ = writeln!(
            out,
            "helmgate_upstream_failures_total{{kind=\"error\"}} {}",
            get(&self.upstream_errors)
        );
        let _ = writeln!(
            out,
            "helmgate_upstream_failures_total{{kind=\"timeout\"}} {}",
            get(&self.upstream_timeouts)
        );
        out.push_str("# HELP helmgate_request_duration_seconds Time from request head to response end.\n# TYPE helmgate_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&self.duration_buckets) {
            cumulative += get(c);
            let _ = writeln!(
                out,
                "helmgate_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = get(&self.duration_count);
        let _ = writeln!(
            out,
            "helmgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "helmgate_request_duration_seconds_sum {}",
            get(&self.duration_sum_nanos) as f64 / 1e9
        );
        let _ = writeln!(out, "helmgate_request_duration_seconds_count {count}");
        out.push_str("# HELP helmgate_config_reloads_total Configuration reloads, by result.\n# TYPE helmgate_config_reloads_total counter\n");
        let _ = writeln!(
            out,
            "helmgate_config_reloads_total{{result=\"ok\"}} {}",
            get(&self.reloads_ok)
        );
        let _ = writeln!(
            out,
            "helmgate_config_reloads_total{{result=\"failed\"}} {}",
            get(&self.reloads_failed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = Metrics::default();
        m.record_request(200, Duration::from_micros(300));
        m.record_request(403, Duration::from_millis(3));
        m.record_request(502, Duration::from_secs(10));
        let text = m.render("production");
        assert!(text.contains("helmgate_requests_total{class=\"2xx\"} 1"));
        assert!(text.contains("helmgate_requests_total{class=\"4xx\"} 1"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("helmgate_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("helmgate_request_duration_seconds_count 3"));
    }
}
