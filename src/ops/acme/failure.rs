//! Why an ACME attempt failed, in words for the WARN line (with the CA's
//! problem document) and as a closed set of metric reasons.

use std::time::{Duration, Instant};

use instant_acme::Error;

/// Why an attempt failed: a metric label, the message for the WARN line
/// (with the CA's problem document when there is one), and how long the CA
/// asked us to wait.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Classify an instant-acme error.
    pub fn from_acme(context: &str, e: Error) -> Failure {
        let (reason, retry_after) = match &e {
            Error::Api(p) => match p.r#type.as_deref().and_then(|t| t.rsplit(':').next()) {
                Some("rateLimited") => ("rate_limited", Some(Duration::from_secs(3600))),
                Some("accountDoesNotExist") => ("account_unknown", None),
                Some("rejectedIdentifier" | "unsupportedIdentifier" | "caa") => ("rejected", None),
                Some("connection" | "dns" | "incorrectResponse" | "tls" | "unauthorized") => {
                    ("challenge", None)
                }
                _ => ("ca_error", None),
            },
            Error::Timeout(at) => (
                "timeout",
                at.map(|i| i.saturating_duration_since(Instant::now())),
            ),
            Error::Hyper(_) | Error::Other(_) | Error::Http(_) => ("unreachable", None),
            _ => ("other", None),
        };
        let message = match &e {
            Error::Api(p) => format!(
                "{context}: the CA answered with a problem: {}",
                problem_json(p)
            ),
            _ => format!("{context}: {}", error_chain(&e)),
        };
        Failure {
            reason,
            message,
            retry_after,
        }
    }
}

/// The CA's problem document (RFC 7807), as JSON for the WARN line.
pub fn problem_json(p: &instant_acme::Problem) -> String {
    let subproblems: Vec<serde_json::Value> = p
        .subproblems
        .iter()
        .map(|s| {
            serde_json::json!({
                "type": s.r#type,
                "detail": s.detail,
                "identifier": s.identifier.as_ref().map(|i| format!("{i:?}")),
            })
        })
        .collect();
    let mut doc = serde_json::json!({ "type": p.r#type, "detail": p.detail, "status": p.status });
    if !subproblems.is_empty() {
        doc["subproblems"] = serde_json::Value::Array(subproblems);
    }
    doc.to_string()
}

/// An error and its sources on one line ("connection refused" sits deep in
/// hyper's chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
