//! Violation reports browsers send: CSP `report-uri` bodies
//! (`application/csp-report`) and Reporting API batches
//! (`application/reports+json`: `csp-violation`, `coep`, `coop`, anything
//! else counted as `other`). Pure: bytes in, [`Violation`]s out.
//!
//! Everything a report says comes from a client, so nothing is kept as sent:
//! the directive is one of a closed set of names (else `other`), `blocked` is
//! an origin or a keyword, `document` an origin and a path without query or
//! fragment, percent-encoded to printable ASCII and length-capped. Those are
//! the only values that reach logs, the dashboard or metric labels (and of
//! them only the closed sets become labels).

use serde_json::Value;

/// Reporting API batches hold at most 100 reports in Chromium; more in one
/// POST is not a browser.
pub const MAX_REPORTS_PER_REQUEST: usize = 100;

mod sanitize;
pub use sanitize::{blocked, document_of};

/// What kind of report. A closed set: a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportType {
    CspViolation,
    Coep,
    Coop,
    Other,
}

impl ReportType {
    pub const ALL: [ReportType; 4] = [
        ReportType::CspViolation,
        ReportType::Coep,
        ReportType::Coop,
        ReportType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::CspViolation => "csp-violation",
            ReportType::Coep => "coep",
            ReportType::Coop => "coop",
            ReportType::Other => "other",
        }
    }

    /// How its log line starts.
    pub fn title(self) -> &'static str {
        match self {
            ReportType::CspViolation => "CSP violation",
            ReportType::Coep => "COEP violation",
            ReportType::Coop => "COOP violation",
            ReportType::Other => "browser report",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn from_api(name: &str) -> ReportType {
        match name {
            "csp-violation" => ReportType::CspViolation,
            "coep" => ReportType::Coep,
            "coop" => ReportType::Coop,
            _ => ReportType::Other,
        }
    }
}

/// Whether the browser enforced the policy or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    Enforce,
    Report,
    /// The report did not say.
    Unknown,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [
        Disposition::Enforce,
        Disposition::Report,
        Disposition::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Enforce => "enforce",
            Disposition::Report => "report",
            Disposition::Unknown => "unknown",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn parse(raw: Option<&str>) -> Disposition {
        match raw.map(str::trim) {
            Some("enforce") => Disposition::Enforce,
            // COOP says `reporting`.
            Some("report" | "reporting") => Disposition::Report,
            _ => Disposition::Unknown,
        }
    }
}

/// Every CSP directive name a report can carry (CSP 3 and the older ones
/// browsers still name). Anything else is `other`.
pub const DIRECTIVE_NAMES: &[&str] = &[
    "base-uri",
    "block-all-mixed-content",
    "child-src",
    "connect-src",
    "default-src",
    "fenced-frame-src",
    "font-src",
    "form-action",
    "frame-ancestors",
    "frame-src",
    "img-src",
    "manifest-src",
    "media-src",
    "navigate-to",
    "object-src",
    "plugin-types",
    "prefetch-src",
    "report-to",
    "report-uri",
    "require-trusted-types-for",
    "sandbox",
    "script-src",
    "script-src-attr",
    "script-src-elem",
    "style-src",
    "style-src-attr",
    "style-src-elem",
    "trusted-types",
    "upgrade-insecure-requests",
    "webrtc",
    "worker-src",
    "other",
];

/// A directive name from [`DIRECTIVE_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Directive(u8);

impl Directive {
    pub const COUNT: usize = DIRECTIVE_NAMES.len();
    pub const OTHER: Directive = Directive((DIRECTIVE_NAMES.len() - 1) as u8);

    /// The directive a report names: its first word (`violated-directive`
    /// may carry the whole directive with its sources), lower-cased.
    pub fn parse(raw: &str) -> Directive {
        let word = raw.split_ascii_whitespace().next().unwrap_or("");
        DIRECTIVE_NAMES[..Self::COUNT - 1]
            .iter()
            .position(|d| d.eq_ignore_ascii_case(word))
            .map_or(Directive::OTHER, |i| Directive(i as u8))
    }

    pub fn from_index(i: usize) -> Directive {
        Directive(i.min(Self::COUNT - 1) as u8)
    }

    pub fn as_str(self) -> &'static str {
        DIRECTIVE_NAMES[usize::from(self.0)]
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One report, reduced to what the gateway keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ReportType,
    pub directive: Directive,
    pub disposition: Disposition,
    /// An origin (`https://cdn.example`) or a keyword (`inline`, `eval`,
    /// `data` ...), `none` when the report names nothing, `other` when it
    /// names something unreadable.
    pub blocked: Box<str>,
    /// Origin and path of the page (`https://app.example/checkout`), or a
    /// keyword (`about:blank`, `other`).
    pub document: Document,
}

/// A sanitised document URL: printable ASCII, no query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Document {
    text: Box<str>,
    /// Where the path starts in `text` (its length when there is none).
    path_at: usize,
}

impl Document {
    fn keyword(k: &str) -> Document {
        Document {
            text: k.into(),
            path_at: k.len(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `host[:port]`, for routing, when the document is a URL.
    pub fn authority(&self) -> Option<&str> {
        let (_, rest) = self.text[..self.path_at].split_once("://")?;
        Some(rest)
    }

    /// The path, percent-encoded, without query.
    pub fn path(&self) -> &str {
        &self.text[self.path_at..]
    }
}

/// Why a POST to the report endpoint is not accepted (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportError {
    /// Neither `application/csp-report`, `application/reports+json` nor
    /// `application/json`.
    ContentType,
    NotJson,
    NotAReport,
    TooMany,
}

impl ReportError {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportError::ContentType => "content_type",
            ReportError::NotJson => "not_json",
            ReportError::NotAReport => "not_a_report",
            ReportError::TooMany => "too_many",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `report-uri`: `{"csp-report": {...}}`.
    CspReport,
    /// Reporting API: `[{"type": ..., "url": ..., "body": {...}}, ...]`.
    Reports,
    /// `application/json`: either, by shape.
    Either,
}

fn format_of(content_type: Option<&[u8]>) -> Option<Format> {
    let raw = content_type?;
    let essence = raw.split(|&b| b == b';').next()?.trim_ascii();
    let is = |name: &str| essence.eq_ignore_ascii_case(name.as_bytes());
    if is("application/csp-report") {
        Some(Format::CspReport)
    } else if is("application/reports+json") {
        Some(Format::Reports)
    } else if is("application/json") {
        Some(Format::Either)
    } else {
        None
    }
}

/// Parse one POST body into its reports.
pub fn parse(content_type: Option<&[u8]>, body: &[u8]) -> Result<Vec<Violation>, ReportError> {
    let format = format_of(content_type).ok_or(ReportError::ContentType)?;
    let json: Value = serde_json::from_slice(body).map_err(|_| ReportError::NotJson)?;
    match (&json, format) {
        (Value::Object(o), Format::CspReport | Format::Either) => {
            let report = o.get("csp-report").ok_or(ReportError::NotAReport)?;
            legacy(report).map(|v| vec![v])
        }
        (Value::Array(items), Format::Reports | Format::Either) => {
            if items.is_empty() {
                return Err(ReportError::NotAReport);
            }
            if items.len() > MAX_REPORTS_PER_REQUEST {
                return Err(ReportError::TooMany);
            }
            items.iter().map(api_report).collect()
        }
        _ => Err(ReportError::NotAReport),
    }
}

/// A string field, `Err` when present but not a string.
fn text<'v>(
    obj: &'v serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'v str>, ReportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ReportError::NotAReport),
    }
}

fn legacy(report: &Value) -> Result<Violation, ReportError> {
    let r = report.as_object().ok_or(ReportError::NotAReport)?;
    let document = text(r, "document-uri")?.ok_or(ReportError::NotAReport)?;
    let directive = match text(r, "effective-directive")? {
        Some(d) => Some(d),
        None => text(r, "violated-directive")?,
    };
    Ok(Violation {
        kind: ReportType::CspViolation,
        directive: directive.map_or(Directive::OTHER, Directive::parse),
        disposition: Disposition::parse(text(r, "disposition")?),
        blocked: blocked(text(r, "blocked-uri")?.unwrap_or("")),
        document: document_of(document),
    })
}

fn api_report(item: &Value) -> Result<Violation, ReportError> {
    let r = item.as_object().ok_or(ReportError::NotAReport)?;
    let kind = ReportType::from_api(text(r, "type")?.ok_or(ReportError::NotAReport)?);
    let empty = serde_json::Map::new();
    let body = match r.get("body") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(b)) => b,
        Some(_) => return Err(ReportError::NotAReport),
    };
    let url = text(r, "url")?;
    let document = match kind {
        ReportType::CspViolation => text(body, "documentURL")?.or(url),
        _ => url,
    };
    let mut target = None;
    for key in [
        "blockedURL",
        "otherURL",
        "previousResponseURL",
        "nextResponseURL",
        "openerURL",
        "openeeURL",
    ] {
        if let Some(found) = text(body, key)? {
            target = Some(found);
            break;
        }
    }
    let directive = match kind {
        ReportType::CspViolation => text(body, "effectiveDirective")?
            .or(text(body, "violatedDirective")?)
            .map_or(Directive::OTHER, Directive::parse),
        _ => Directive::OTHER,
    };
    Ok(Violation {
        kind,
        directive,
        disposition: Disposition::parse(text(body, "disposition")?),
        blocked: blocked(target.unwrap_or("")),
        document: document.map_or_else(|| Document::keyword("none"), document_of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSP_REPORT: &[u8] = br#"{"csp-report":{"document-uri":"https://app.example.com/checkout?card=4111#x","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"default-src 'self'; report-uri /.helmgate/reports","disposition":"enforce","blocked-uri":"https://evil.example.net/steal.js?c=1","line-number":3,"source-file":"https://app.example.com/checkout","status-code":200,"script-sample":""}}"#;

    fn csp(body: &[u8]) -> Result<Vec<Violation>, ReportError> {
        parse(Some(b"application/csp-report"), body)
    }

    #[test]
    fn a_report_uri_body_becomes_one_sanitised_violation() {
        let v = csp(CSP_REPORT).unwrap();
        assert_eq!(v.len(), 1);
        let v = &v[0];
        assert_eq!(v.kind, ReportType::CspViolation);
        assert_eq!(v.directive.as_str(), "script-src-elem");
        assert_eq!(v.disposition, Disposition::Enforce);
        assert_eq!(&*v.blocked, "https://evil.example.net");
        assert_eq!(v.document.as_str(), "https://app.example.com/checkout");
        assert_eq!(v.document.authority(), Some("app.example.com"));
        assert_eq!(v.document.path(), "/checkout");
    }

    #[test]
    fn a_reporting_api_batch_gives_one_violation_per_report() {
        let body = br#"[
          {"type":"csp-violation","age":10,"url":"https://app.example.com/a","user_agent":"x",
           "body":{"documentURL":"https://app.example.com/a","blockedURL":"eval","effectiveDirective":"script-src","disposition":"report","originalPolicy":"..."}},
          {"type":"coep","url":"https://app.example.com/b","body":{"type":"corp","blockedURL":"https://cdn.example.org/img.png","destination":"image","disposition":"enforce"}},
          {"type":"coop","url":"https://app.example.com/c","body":{"type":"navigation-from-response","previousResponseURL":"https://idp.example/login","disposition":"reporting","effectivePolicy":"same-origin"}},
          {"type":"deprecation","url":"https://app.example.com/d","body":{"id":"x","message":"old"}}
        ]"#;
        let v = parse(Some(b"application/reports+json"), body).unwrap();
        let summary: Vec<_> = v
            .iter()
            .map(|v| {
                (
                    v.kind.as_str(),
                    v.directive.as_str(),
                    v.disposition.as_str(),
                    &*v.blocked,
                    v.document.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "csp-violation",
                    "script-src",
                    "report",
                    "eval",
                    "https://app.example.com/a"
                ),
                (
                    "coep",
                    "other",
                    "enforce",
                    "https://cdn.example.org",
                    "https://app.example.com/b"
                ),
                (
                    "coop",
                    "other",
                    "report",
                    "https://idp.example",
                    "https://app.example.com/c"
                ),
                (
                    "other",
                    "other",
                    "unknown",
                    "none",
                    "https://app.example.com/d"
                ),
            ]
        );
    }

    #[test]
    fn content_type_decides_the_format_and_json_accepts_both() {
        assert_eq!(
            parse(Some(b"text/plain"), CSP_REPORT),
            Err(ReportError::ContentType)
        );
        assert_eq!(parse(None, CSP_REPORT), Err(ReportError::ContentType));
        assert!(parse(Some(b"Application/JSON; charset=utf-8"), CSP_REPORT).is_ok());
        assert_eq!(
            parse(Some(b"application/reports+json"), CSP_REPORT),
            Err(ReportError::NotAReport)
        );
        assert_eq!(csp(b"[]"), Err(ReportError::NotAReport));
    }

    #[test]
    fn garbage_and_non_reports_are_refused() {
        assert_eq!(csp(b"not json"), Err(ReportError::NotJson));
        assert_eq!(csp(b"{\"csp-report\": 5}"), Err(ReportError::NotAReport));
        assert_eq!(csp(b"{\"x\": {}}"), Err(ReportError::NotAReport));
        assert_eq!(
            csp(b"{\"csp-report\": {\"document-uri\": 7}}"),
            Err(ReportError::NotAReport)
        );
        let api = |b: &[u8]| parse(Some(b"application/reports+json"), b);
        assert_eq!(api(b"[]"), Err(ReportError::NotAReport));
        assert_eq!(api(b"[1]"), Err(ReportError::NotAReport));
        assert_eq!(
            api(b"[{\"url\":\"https://a\"}]"),
            Err(ReportError::NotAReport)
        );
        let many = format!("[{}]", vec!["{\"type\":\"x\"}"; 101].join(","));
        assert_eq!(api(many.as_bytes()), Err(ReportError::TooMany));
    }

    #[test]
    fn directives_come_from_a_closed_set() {
        assert_eq!(
            Directive::parse("script-src 'self' https:").as_str(),
            "script-src"
        );
        assert_eq!(Directive::parse("IMG-SRC").as_str(), "img-src");
        assert_eq!(Directive::parse("https://evil/x").as_str(), "other");
        assert_eq!(Directive::parse("").as_str(), "other");
        assert_eq!(Directive::parse("other"), Directive::OTHER);
        assert_eq!(Directive::from_index(999), Directive::OTHER);
        assert_eq!(Directive::COUNT, DIRECTIVE_NAMES.len());
    }
}
