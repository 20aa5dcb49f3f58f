//! `[server.acme]`, validated: which hosts get their certificate from an ACME
//! CA (RFC 8555), from which directory, with which challenges, and when a
//! certificate is renewed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Let's Encrypt's production directory: `directory`'s default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory: `directory = "staging"`.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Where certificates and the account key are kept unless `storage` says.
pub const DEFAULT_STORAGE: &str = "/var/lib/helmgate/acme";
/// The ALPN protocol of RFC 8737's TLS-ALPN-01 challenge.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// The path prefix of RFC 8555's HTTP-01 challenge (section 8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// A challenge type helmgate answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// RFC 8737: a handshake offering ALPN `acme-tls/1` on the TLS listener.
    TlsAlpn01,
    /// RFC 8555 8.3: `GET /.well-known/acme-challenge/TOKEN` on the
    /// plain-HTTP (redirect) listener.
    Http01,
}

impl Challenge {
    pub const ALL: [Challenge; 2] = [Challenge::TlsAlpn01, Challenge::Http01];

    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::TlsAlpn01 => "tls-alpn-01",
            Challenge::Http01 => "http-01",
        }
    }

    pub fn parse(s: &str) -> Option<Challenge> {
        Challenge::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// External account binding (RFC 8555 7.3.4), for CAs that need it.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    pub kid: String,
    /// The MAC key, decoded from base64url.
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for ExternalAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ExternalAccount {{ kid: {:?}, hmac_key: <redacted> }}",
            self.kid
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The CA's contact for the account (`mailto:` is added).
    pub email: Option<String>,
    pub directory: String,
    /// Exact DNS names, lower-case, each its own certificate.
    pub hosts: Vec<String>,
    pub storage: PathBuf,
    /// Tried in this order.
    pub challenges: Vec<Challenge>,
    pub renew_before: Duration,
    pub external_account: Option<ExternalAccount>,
    /// Extra PEM roots trusted for the directory's own HTTPS.
    pub ca_roots: Option<PathBuf>,
}

/// When a certificate valid from `not_before` to `not_after` is due for
/// renewal: `renew_before` ahead of its expiry, but never earlier than a
/// third of its lifetime before it (a short-lived certificate is not renewed
/// the moment it arrives).
pub fn renewal_due(
    not_before: SystemTime,
    not_after: SystemTime,
    renew_before: Duration,
) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let ahead = renew_before.min(lifetime / 3);
    not_after.checked_sub(ahead).unwrap_or(not_before)
}

/// Exponential backoff after `failures` failed attempts in a row (1 = the
/// first failure): 10 s doubling to 1 h, with up to ±20% jitter from
/// `jitter` in [0, 1). A failure that `counts_at_the_ca` (a failed
/// validation, a refused name) starts at 20 minutes: the CA limits those
/// per name and hour (Let's Encrypt: 5 failed validations), and an attempt
/// tries each configured challenge.
pub fn backoff(failures: u32, jitter: f64, counts_at_the_ca: bool) -> Duration {
    let first = Duration::from_secs(if counts_at_the_ca { 1200 } else { 10 });
    let base = first.saturating_mul(1 << failures.saturating_sub(1).min(12));
    let capped = base.min(Duration::from_secs(3600));
    capped.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_lived_certificate_is_renewed_renew_before_its_expiry() {
        let start = SystemTime::UNIX_EPOCH;
        let end = start + Duration::from_secs(90 * 86_400);
        let due = renewal_due(start, end, Duration::from_secs(30 * 86_400));
        assert_eq!(due, start + Duration::from_secs(60 * 86_400));
    }

    #[test]
    fn a_short_lived_certificate_is_renewed_after_two_thirds_of_its_life() {
        let start = SystemTime::UNIX_EPOCH;
        let end = start + Duration::from_secs(30);
        let due = renewal_due(start, end, Duration::from_secs(30 * 86_400));
        assert_eq!(due, start + Duration::from_secs(20));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour_with_bounded_jitter() {
        assert_eq!(backoff(1, 0.5, false), Duration::from_secs(10));
        assert_eq!(backoff(2, 0.5, false), Duration::from_secs(20));
        assert_eq!(backoff(40, 0.5, false), Duration::from_secs(3600));
        assert!(backoff(1, 0.0, false) >= Duration::from_secs(8));
        assert!(backoff(1, 0.999, false) <= Duration::from_secs(12));
        // At most two attempts (of two challenges each) in the first hour.
        assert_eq!(backoff(1, 0.5, true), Duration::from_secs(1200));
        assert_eq!(backoff(2, 0.5, true), Duration::from_secs(2400));
        assert_eq!(backoff(3, 0.5, true), Duration::from_secs(3600));
    }

    #[test]
    fn challenges_round_trip_through_their_names() {
        for c in Challenge::ALL {
            assert_eq!(Challenge::parse(c.as_str()), Some(c));
        }
        assert_eq!(Challenge::parse("dns-01"), None);
    }
}
