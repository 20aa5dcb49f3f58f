//! `[reports]` and `[admin]`: the violation-report endpoint, and who may use
//! the admin listener.

use std::net::SocketAddr;

use toml::Spanned;

use super::problems::{int_setting, Validator};
use super::raw::{RawAdmin, RawReports};
use crate::policy::admin_host::AdminHosts;
use crate::policy::auth::AdminToken;
use crate::policy::reports::{ReportPath, ReportSettings};

/// `[reports] max_body_bytes`: 1 KiB to 1 MiB.
const BODY: std::ops::RangeInclusive<i64> = 1024..=1024 * 1024;
/// `[reports] per_minute` and `per_client_per_minute`.
const RATE: std::ops::RangeInclusive<i64> = 1..=1_000_000;

impl Validator<'_> {
    pub fn reports(&mut self, raw: &RawReports) -> Option<ReportSettings> {
        let d = ReportSettings::default();
        let path = match &raw.path {
            None => Some(d.path),
            Some(p) => match ReportPath::new(p.get_ref()) {
                Ok(path) => Some(path),
                Err(message) => {
                    self.problem("reports.path", Some(p), message);
                    None
                }
            },
        };
        let (body, rate) = (d.max_body_bytes as i64, i64::from(d.per_minute));
        let client_rate = i64::from(d.per_client_per_minute);
        let max_body = int_setting!(self, "reports", raw, max_body_bytes, body, BODY);
        let per_minute = int_setting!(self, "reports", raw, per_minute, rate, RATE);
        let per_client = int_setting!(
            self,
            "reports",
            raw,
            per_client_per_minute,
            client_rate,
            RATE
        );
        Some(ReportSettings {
            enabled: raw.enabled.unwrap_or(d.enabled),
            path: path?,
            max_body_bytes: max_body? as u64,
            per_minute: per_minute? as u32,
            per_client_per_minute: per_client? as u32,
        })
    }

    /// The admin token: `HELMGATE_ADMIN_TOKEN` wins over `[admin] token`.
    /// Required when the admin listener is reachable beyond loopback.
    /// `Err(())` when there is a problem (already recorded).
    pub fn admin_token(
        &mut self,
        raw: &RawAdmin,
        listen: Option<SocketAddr>,
        from_env: Option<&str>,
    ) -> Result<Option<AdminToken>, ()> {
        let before = self.count();
        let token = match (from_env.filter(|t| !t.is_empty()), &raw.token) {
            (Some(t), _) => self.token("HELMGATE_ADMIN_TOKEN", None, t),
            (None, Some(t)) => self.token("admin.token", Some(t), t.get_ref()),
            (None, None) => None,
        };
        if let Some(addr) = listen {
            if token.is_none() && self.count() == before && !addr.ip().to_canonical().is_loopback()
            {
                self.problem(
                    "admin.token",
                    raw.listen.as_ref(),
                    format!("admin.listen = \"{addr}\" is reachable beyond this machine: set [admin] token (or HELMGATE_ADMIN_TOKEN) so /metrics, /status.json and the dashboard need `Authorization: Bearer <token>`, or listen on 127.0.0.1"),
                );
            }
        }
        if self.count() == before {
            Ok(token)
        } else {
            Err(())
        }
    }

    /// `[admin] hosts`, every entry checked.
    pub fn admin_hosts(&mut self, raw: &RawAdmin) -> Option<AdminHosts> {
        let before = self.count();
        let mut hosts = AdminHosts::default();
        for (i, entry) in raw.hosts.iter().enumerate() {
            if let Err(message) = hosts.add(entry.get_ref()) {
                self.problem(format!("admin.hosts[{i}]"), Some(entry), message);
            }
        }
        (self.count() == before).then_some(hosts)
    }

    fn token(&mut self, key: &str, at: Option<&Spanned<String>>, raw: &str) -> Option<AdminToken> {
        match AdminToken::new(raw) {
            Ok(t) => Some(t),
            Err(message) => {
                self.problem(key, at, format!("the admin token {message}"));
                None
            }
        }
    }
}
