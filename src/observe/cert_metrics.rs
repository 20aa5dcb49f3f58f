//! Certificate metrics: each served certificate's expiry and the ACME
//! failures by host and reason. Hosts come from the config, reasons from a
//! closed set (`ops::acme`'s failure reasons), so the series count is fixed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::observe::prom::Family;

#[derive(Debug, Default)]
pub struct CertMetrics {
    /// Host -> expiry, Unix seconds.
    expiry: Mutex<BTreeMap<String, u64>>,
    /// (host, reason) -> failed ACME attempts.
    failures: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl CertMetrics {
    pub fn set_expiry(&self, host: &str, at: SystemTime) {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        lock(&self.expiry).insert(host.to_string(), secs);
    }

    pub fn record_failure(&self, host: &str, reason: &'static str) {
        *lock(&self.failures)
            .entry((host.to_string(), reason))
            .or_default() += 1;
    }

    /// Failed ACME attempts for `host`, all reasons.
    pub fn failures(&self, host: &str) -> u64 {
        lock(&self.failures)
            .iter()
            .filter(|((h, _), _)| h == host)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn render(&self, out: &mut String) {
        let expiry = lock(&self.expiry);
        if !expiry.is_empty() {
            let mut f = Family::gauge(
                out,
                "helmgate_certificate_expiry_seconds",
                "When the certificate served for a host expires, in Unix seconds.",
            );
            for (host, at) in expiry.iter() {
                f.sample(format_args!("host=\"{host}\""), at);
            }
        }
        let failures = lock(&self.failures);
        if !failures.is_empty() {
            let mut f = Family::counter(
                out,
                "helmgate_acme_failures_total",
                "Failed ACME issuances and renewals, by host and reason.",
            );
            for ((host, reason), n) in failures.iter() {
                f.sample(format_args!("host=\"{host}\",reason=\"{reason}\""), n);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
