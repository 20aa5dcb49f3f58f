//! `[reports]` and `[admin]`: the violation-report endpoint, and who may use
//! the admin listener.

use std::net::SocketAddr;

use toml::Spanned;

use super::problems::Validator;
use super::raw::{RawAdmin, RawLearning, RawReports};
use crate::policy::admin_host::AdminHosts;
use crate::policy::auth::AdminToken;
use crate::policy::reports::{LearningSettings, ReportPath, ReportSettings, MAX_MIN_CLIENTS};

impl Validator<'_> {
    pub fn reports(&mut self, raw: &RawReports) -> Option<ReportSettings> {
        let defaults = ReportSettings::default();
        let path = match &raw.path {
            None => Some(defaults.path),
            Some(p) => match ReportPath::new(p.get_ref()) {
                Ok(path) => Some(path),
                Err(message) => {
                    self.problem("reports.path", Some(p), message);
                    None
                }
            },
        };
        let max_body = self.int(
            "reports.max_body_bytes",
            raw.max_body_bytes.as_ref(),
            defaults.max_body_bytes as i64,
            1024,
            1024 * 1024,
        );
        let per_minute = self.int(
            "reports.per_minute",
            raw.per_minute.as_ref(),
            i64::from(defaults.per_minute),
            1,
            1_000_000,
        );
        let per_client = self.int(
            "reports.per_client_per_minute",
            raw.per_client_per_minute.as_ref(),
            i64::from(defaults.per_client_per_minute),
            1,
            1_000_000,
        );
        Some(ReportSettings {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            path: path?,
            max_body_bytes: max_body? as u64,
            per_minute: per_minute? as u32,
            per_client_per_minute: per_client? as u32,
        })
    }

    /// `[learning]`.
    pub fn learning(&mut self, raw: &RawLearning) -> Option<LearningSettings> {
        let defaults = LearningSettings::default();
        let min_clients = self.int(
            "learning.min_clients",
            raw.min_clients.as_ref(),
            defaults.min_clients as i64,
            1,
            MAX_MIN_CLIENTS as i64,
        );
        let state_file = match &raw.state_file {
            None => None,
            Some(p) if p.get_ref().trim().is_empty() => {
                self.problem(
                    "learning.state_file",
                    Some(p),
                    "is empty: name a file, or remove the key to keep the learning state in memory only",
                );
                return None;
            }
            Some(p) => Some(self.resolve(p.get_ref().trim())),
        };
        Some(LearningSettings {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            min_clients: min_clients? as usize,
            state_file,
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
