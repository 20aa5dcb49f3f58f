//! `[reports]`: the violation-report endpoint.

use super::problems::Validator;
use super::raw::RawReports;
use crate::reports::{ReportPath, ReportSettings};

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
        Some(ReportSettings {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            path: path?,
            max_body_bytes: max_body? as u64,
            per_minute: per_minute? as u32,
        })
    }
}
