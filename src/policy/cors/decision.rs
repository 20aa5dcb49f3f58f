//! What a request is to CORS: not CORS, an allowed preflight or actual
//! request, or refused (and why); in report mode, what enforce would do.

use http::header::{self, HeaderMap, HeaderValue};
use http::Method;

use super::{CorsMode, CorsPolicy};
use crate::policy::origin::{self, OriginError, Scheme};

/// Why a CORS request was refused. A small closed set, so it is safe as a
/// log field and as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    NotAllowed,
    NullOrigin,
    Malformed,
    MultipleOrigins,
}

impl RejectReason {
    pub const ALL: [RejectReason; 4] = [
        RejectReason::NotAllowed,
        RejectReason::NullOrigin,
        RejectReason::Malformed,
        RejectReason::MultipleOrigins,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotAllowed => "not_allowed",
            RejectReason::NullOrigin => "null_origin",
            RejectReason::Malformed => "malformed",
            RejectReason::MultipleOrigins => "multiple_origins",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an allowed CORS request gets back: the `Access-Control-Allow-Origin`
/// value (the request's own `Origin`, byte for byte, or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub allow_origin: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsDecision {
    /// No `Origin`: forward, add nothing CORS-specific.
    NotCors,
    /// An allowed preflight: answer it here with 204.
    Preflight(Grant),
    /// An allowed actual request (listed, local in development, same-origin,
    /// or any origin on a public route).
    Allowed(Grant),
    Rejected(RejectReason),
    /// Report mode: forwarded untouched; what enforce mode would have refused.
    Observed(Option<RejectReason>),
}

impl CorsDecision {
    /// A closed set: the `cors=` field of the access log.
    pub fn as_str(&self) -> &'static str {
        match self {
            CorsDecision::NotCors => "none",
            CorsDecision::Preflight(_) => "preflight",
            CorsDecision::Allowed(_) => "allowed",
            CorsDecision::Rejected(r) => r.as_str(),
            CorsDecision::Observed(None) => "report",
            CorsDecision::Observed(Some(_)) => "would_block",
        }
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, CorsDecision::Allowed(_) | CorsDecision::Preflight(_))
    }
}

/// The request's own origin as the client saw it, for the same-origin rule.
#[derive(Debug, Clone, Copy)]
pub struct OwnOrigin<'a> {
    pub scheme: Scheme,
    /// The `Host` the client used (or a trusted proxy's `X-Forwarded-Host`).
    pub host: Option<&'a [u8]>,
}

impl CorsPolicy {
    /// Whether one `Origin` value passes, and if not, why.
    fn judge(&self, raw: &[u8], own: OwnOrigin<'_>) -> Result<(), RejectReason> {
        let any = self.settings.allow_any_origin;
        let origin = match origin::canonical_parts(raw) {
            Ok(o) => o,
            // A sandboxed frame may fetch a public resource too.
            Err(OriginError::Null) if any => return Ok(()),
            Err(OriginError::Null) => return Err(RejectReason::NullOrigin),
            Err(_) => return Err(RejectReason::Malformed),
        };
        let allowed = any
            || (origin.local && self.settings.allow_localhost)
            || self.listed(&origin)
            || own
                .host
                .is_some_and(|host| origin::is_same_origin(&origin, own.scheme, host));
        if allowed {
            Ok(())
        } else {
            Err(RejectReason::NotAllowed)
        }
    }

    /// Classify a request. Pure: no session, no I/O.
    pub fn evaluate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        own: OwnOrigin<'_>,
    ) -> CorsDecision {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let Some(raw) = origins.next() else {
            return CorsDecision::NotCors;
        };
        let verdict = if origins.next().is_some() {
            Err(RejectReason::MultipleOrigins)
        } else {
            self.judge(raw.as_bytes(), own)
        };
        match (self.settings.mode, verdict) {
            (CorsMode::Report, v) => CorsDecision::Observed(v.err()),
            (CorsMode::Enforce, Err(reason)) => CorsDecision::Rejected(reason),
            (CorsMode::Enforce, Ok(())) => {
                let grant = Grant {
                    allow_origin: if self.settings.allow_any_origin {
                        HeaderValue::from_static("*")
                    } else {
                        raw.clone()
                    },
                };
                if method == Method::OPTIONS
                    && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
                {
                    CorsDecision::Preflight(grant)
                } else {
                    CorsDecision::Allowed(grant)
                }
            }
        }
    }
}
