//! The security headers of an environment profile, built once at config load
//! and applied to every response: proxied ones and those the gateway makes.

use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

use crate::env::Environment;
use crate::header_edit;

pub const CSP_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";
pub const CSP_DEVELOPMENT: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";
pub const HSTS_DEFAULT: &str = "max-age=31536000; includeSubDomains; preload";

const X_POWERED_BY: &str = "x-powered-by";

/// One optional value per header; `None` means the header is not sent.
/// This is the shape users override from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSettings {
    pub content_security_policy: Option<String>,
    pub strict_transport_security: Option<String>,
    pub x_frame_options: Option<String>,
    pub x_content_type_options: Option<String>,
    pub referrer_policy: Option<String>,
    pub cross_origin_embedder_policy: Option<String>,
    pub remove_x_powered_by: bool,
}

impl HeaderSettings {
    /// What a user gets with no overrides.
    pub fn defaults(env: Environment) -> HeaderSettings {
        let prod = env == Environment::Production;
        HeaderSettings {
            content_security_policy: Some(
                if prod {
                    CSP_PRODUCTION
                } else {
                    CSP_DEVELOPMENT
                }
                .into(),
            ),
            strict_transport_security: prod.then(|| HSTS_DEFAULT.into()),
            x_frame_options: Some("DENY".into()),
            x_content_type_options: Some("nosniff".into()),
            referrer_policy: Some("strict-origin-when-cross-origin".into()),
            cross_origin_embedder_policy: prod.then(|| "require-corp".into()),
            remove_x_powered_by: prod,
        }
    }

    /// Header name and config key of every value, in the order they are sent.
    pub fn entries(&self) -> [(&'static str, &'static str, Option<&str>); 6] {
        [
            (
                "content-security-policy",
                "content_security_policy",
                self.content_security_policy.as_deref(),
            ),
            (
                "strict-transport-security",
                "strict_transport_security",
                self.strict_transport_security.as_deref(),
            ),
            (
                "x-frame-options",
                "x_frame_options",
                self.x_frame_options.as_deref(),
            ),
            (
                "x-content-type-options",
                "x_content_type_options",
                self.x_content_type_options.as_deref(),
            ),
            (
                "referrer-policy",
                "referrer_policy",
                self.referrer_policy.as_deref(),
            ),
            (
                "cross-origin-embedder-policy",
                "cross_origin_embedder_policy",
                self.cross_origin_embedder_policy.as_deref(),
            ),
        ]
    }
}

/// The pre-built header set.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Sent on every response.
    always: Vec<(HeaderName, HeaderValue)>,
    /// Sent only when the client's connection is HTTPS.
    hsts: Option<HeaderValue>,
    remove_x_powered_by: bool,
}

impl SecurityHeaders {
    /// Build from settings; returns the config key of the first value that is
    /// not a valid header value.
    pub fn build(settings: &HeaderSettings) -> Result<SecurityHeaders, (&'static str, String)> {
        let mut always = Vec::new();
        let mut hsts = None;
        for (name, key, value) in settings.entries() {
            let Some(value) = value else { continue };
            let value = HeaderValue::from_str(value).map_err(|_| {
                (
                    key,
                    "is not a valid header value (control characters or non-ASCII)".to_string(),
                )
            })?;
            if name == "strict-transport-security" {
                hsts = Some(value);
            } else {
                always.push((HeaderName::from_static(name), value));
            }
        }
        Ok(SecurityHeaders {
            always,
            hsts,
            remove_x_powered_by: settings.remove_x_powered_by,
        })
    }

    /// Set our headers on `resp`, replacing any the upstream sent.
    pub fn apply(&self, resp: &mut ResponseHeader, https: bool) {
        for (name, value) in &self.always {
            header_edit::replace_response(resp, name, value.clone());
        }
        match (&self.hsts, https) {
            (Some(hsts), true) => {
                header_edit::replace_response(
                    resp,
                    &http::header::STRICT_TRANSPORT_SECURITY,
                    hsts.clone(),
                );
            }
            // An upstream's HSTS over plain HTTP is ignored by browsers anyway;
            // the gateway decides, so drop it rather than pass it on.
            _ => {
                resp.remove_header(&http::header::STRICT_TRANSPORT_SECURITY);
            }
        }
        if self.remove_x_powered_by {
            resp.remove_header(X_POWERED_BY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(env: Environment, https: bool) -> ResponseHeader {
        let set = SecurityHeaders::build(&HeaderSettings::defaults(env)).unwrap();
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("X-Powered-By", "Express").unwrap();
        set.apply(&mut resp, https);
        resp
    }

    #[test]
    fn production_sends_the_strict_set() {
        let r = applied(Environment::Production, true);
        assert_eq!(r.headers["content-security-policy"], CSP_PRODUCTION);
        assert_eq!(r.headers["strict-transport-security"], HSTS_DEFAULT);
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(
            r.headers["referrer-policy"],
            "strict-origin-when-cross-origin"
        );
        assert_eq!(r.headers["cross-origin-embedder-policy"], "require-corp");
        assert!(r.headers.get("x-powered-by").is_none());
    }

    #[test]
    fn hsts_only_over_https() {
        let r = applied(Environment::Production, false);
        assert!(r.headers.get("strict-transport-security").is_none());
    }

    #[test]
    fn development_relaxes_the_set() {
        let r = applied(Environment::Development, true);
        assert_eq!(r.headers["content-security-policy"], CSP_DEVELOPMENT);
        assert!(r.headers.get("strict-transport-security").is_none());
        assert!(r.headers.get("cross-origin-embedder-policy").is_none());
        assert_eq!(r.headers["x-powered-by"], "Express");
        assert_eq!(r.headers["x-frame-options"], "DENY");
    }

    #[test]
    fn invalid_override_names_its_key() {
        let mut s = HeaderSettings::defaults(Environment::Production);
        s.referrer_policy = Some("no-referrer\n".into());
        let (key, _) = SecurityHeaders::build(&s).unwrap_err();
        assert_eq!(key, "referrer_policy");
    }
}
