//! `[reports]`, validated: whether the gateway collects violation reports,
//! where, and how many it takes. Parsing the reports is `observe::reports`.

use http::header::HeaderValue;

use crate::policy::path;

/// `[reports]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub enabled: bool,
    /// Where browsers POST reports, on every proxy listener and route.
    pub path: ReportPath,
    pub max_body_bytes: u64,
    /// Report POSTs a minute, one bucket for the whole process: the cap.
    pub per_minute: u32,
    /// Report POSTs a minute from one client (its address as the gateway
    /// sees it), so one client's flood can't spend the whole cap.
    pub per_client_per_minute: u32,
}

/// `[learning]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearningSettings {
    /// `[learning] enabled` (learning also needs reports or a route in
    /// CORS report mode: `Policy::learning_active`).
    pub enabled: bool,
    /// Distinct client networks before a source is suggested.
    pub min_clients: usize,
    /// Where the state is saved and loaded, resolved.
    pub state_file: Option<std::path::PathBuf>,
}

/// Default of `[learning] min_clients`.
pub const DEFAULT_MIN_CLIENTS: usize = 3;
/// The most `min_clients` may be: the networks an entry remembers.
pub const MAX_MIN_CLIENTS: usize = 16;

impl Default for LearningSettings {
    fn default() -> LearningSettings {
        LearningSettings {
            enabled: true,
            min_clients: DEFAULT_MIN_CLIENTS,
            state_file: None,
        }
    }
}

pub const DEFAULT_PATH: &str = "/.helmgate/reports";

impl Default for ReportSettings {
    fn default() -> ReportSettings {
        ReportSettings {
            enabled: false,
            path: ReportPath::new(DEFAULT_PATH).expect("the default report path is valid"),
            max_body_bytes: 65_536,
            per_minute: 600,
            per_client_per_minute: 60,
        }
    }
}

impl ReportSettings {
    /// Whether a request for this (normalised, query-less) path is the
    /// gateway's report endpoint.
    pub fn takes(&self, path: &[u8]) -> bool {
        self.enabled && path == self.path.as_bytes()
    }
}

/// A validated report path, with its header value built once (for
/// `report-uri` and `Reporting-Endpoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPath {
    text: Box<str>,
    value: HeaderValue,
}

impl ReportPath {
    /// An absolute path that the gateway's own normalisation leaves as it
    /// is (so the request the browser sends is recognised), of plain URL
    /// characters that need no quoting inside a header.
    pub fn new(text: &str) -> Result<ReportPath, String> {
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if !text.starts_with('/') || text == "/" {
            return Err(format!(
                "{text:?} is not a report path: write an absolute path such as \"{DEFAULT_PATH}\""
            ));
        }
        if text.len() > 200 || !text.bytes().all(plain) {
            return Err(format!(
                "{text:?} is not a report path: use at most 200 characters of letters, digits and -._~!$&'()*+,;=:@/ (no query, fragment, spaces or %)"
            ));
        }
        if text.contains("//")
            || path::canonicalize(text.as_bytes()).map_or(true, |c| !c.is_unchanged())
        {
            return Err(format!(
                "{text:?} is not a report path: no empty, `.` or `..` segments"
            ));
        }
        let value = HeaderValue::from_str(text).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(ReportPath {
            text: text.into(),
            value,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The path as a header value, e.g. for `report-uri <path>`.
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_paths_must_survive_normalisation() {
        assert!(ReportPath::new("/.helmgate/reports").is_ok());
        assert!(ReportPath::new("/csp-reports").is_ok());
        for bad in [
            "", "/", "reports", "/a/../b", "/a/./b", "/a//b", "/a b", "/a?x", "/%41", "/\u{e9}",
        ] {
            assert!(ReportPath::new(bad).is_err(), "{bad:?}");
        }
        let s = ReportSettings {
            enabled: true,
            ..ReportSettings::default()
        };
        assert!(s.takes(b"/.helmgate/reports"));
        assert!(!s.takes(b"/.helmgate/reports/x"));
        assert!(!ReportSettings::default().takes(b"/.helmgate/reports"));
    }
}
