//! Resource isolation from Fetch Metadata (web.dev, "Protect your resources
//! from web attacks with Fetch Metadata"): a request a browser marks
//! `Sec-Fetch-Site: cross-site` is refused unless it is a top-level
//! navigation, so another site can't include a JSON API as a script, time an
//! image load or frame a non-page resource with the user's cookies. CORS
//! decides who may *read* a response; this decides whether a cross-site
//! request is served at all.
//!
//! Browsers set `Sec-Fetch-*` themselves (pages can't forge them); clients
//! that send none (old browsers, curl, servers) are allowed.

use http::header::{HeaderMap, HeaderName};
use http::Method;

pub const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
pub const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
pub const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// The body of the 403.
/// What a response on a route that judges these headers varies on: a
/// shared cache keyed without them would replay a same-site 200 to the
/// cross-site request the gateway refuses.
pub const VARY: &[&str] = &["Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest"];

/// `VARY` joined, for a response without a `Vary` of its own.
pub fn vary_value() -> http::HeaderValue {
    http::HeaderValue::from_static("Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest")
}

pub const REFUSED_BODY: &[u8] = b"Forbidden: cross-site request refused\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMetadataMode {
    /// Not looked at (the default).
    Off,
    /// Forwarded; what enforce would refuse is logged and counted.
    Report,
    /// Refused with 403.
    Enforce,
}

impl FetchMetadataMode {
    pub fn parse(s: &str) -> Option<FetchMetadataMode> {
        match s {
            "off" => Some(FetchMetadataMode::Off),
            "report" => Some(FetchMetadataMode::Report),
            "enforce" => Some(FetchMetadataMode::Enforce),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FetchMetadataMode::Off => "off",
            FetchMetadataMode::Report => "report",
            FetchMetadataMode::Enforce => "enforce",
        }
    }
}

/// One route's rule, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchMetadataPolicy {
    pub mode: FetchMetadataMode,
    /// Canonical path prefixes (segment-aware) meant to be loaded
    /// cross-site: embeds, OAuth callbacks.
    pub allow_paths: Vec<Box<str>>,
    /// `same-site` (another subdomain of the same site) is allowed.
    pub allow_same_site: bool,
}

impl Default for FetchMetadataPolicy {
    fn default() -> Self {
        FetchMetadataPolicy {
            mode: FetchMetadataMode::Off,
            allow_paths: Vec::new(),
            allow_same_site: true,
        }
    }
}

/// Why a request is (or would be) refused. A closed set: a log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchRefusal {
    /// `cross-site` and not a top-level navigation.
    CrossSite,
    /// `same-site` with `allow_same_site = false`, not a navigation.
    SameSite,
    /// A `Sec-Fetch-*` header repeated, a list, or a value outside the
    /// Fetch standard's: counted as cross-site (fail closed).
    Invalid(&'static str),
}

impl FetchRefusal {
    /// The `why=` field of the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchRefusal::CrossSite => "cross_site",
            FetchRefusal::SameSite => "same_site",
            FetchRefusal::Invalid(h) => h,
        }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchDecision {
    /// Served (also: the rule is off, or no `Sec-Fetch-Site` came).
    Allowed,
    /// Enforce: answered 403 by the gateway.
    Refused(FetchRefusal),
    /// Report mode: forwarded, but enforce would refuse it.
    Observed(FetchRefusal),
}

impl FetchDecision {
    pub fn is_refused(self) -> bool {
        matches!(self, FetchDecision::Refused(_))
    }
}

/// What the request's `Sec-Fetch-Site` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchSite {
    SameOrigin,
    SameSite,
    None,
    CrossSite,
}

/// The one value of a header, or `Err` when it is repeated or a list.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h [u8]>, ()> {
    let mut all = headers.get_all(name).iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    let v = first.as_bytes();
    if all.next().is_some() || v.contains(&b',') {
        return Err(());
    }
    Ok(Some(v))
}

fn site(v: &[u8]) -> Option<FetchSite> {
    match v {
        b"same-origin" => Some(FetchSite::SameOrigin),
        b"same-site" => Some(FetchSite::SameSite),
        b"none" => Some(FetchSite::None),
        b"cross-site" => Some(FetchSite::CrossSite),
        _ => None,
    }
}

/// The Fetch standard's request modes.
fn known_mode(v: &[u8]) -> bool {
    matches!(
        v,
        b"cors" | b"navigate" | b"no-cors" | b"same-origin" | b"websocket"
    )
}

/// A destination is one lower-case token: the standard's list grows
/// (`json`, `webidentity` ...) and only `object` and `embed` matter here,
/// so any well-formed token is taken, but never a list or garbage.
fn well_formed_dest(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|&b| b.is_ascii_lowercase() || b == b'-')
}

impl FetchMetadataPolicy {
    /// The verdict on a request. `path`: the canonical path (what routing
    /// matched); `cors_allowed`: CORS allowed this request's origin, so a
    /// `Sec-Fetch-Mode: cors` request from it is the API working as
    /// configured. A preflight is never judged here: the CORS rules answer
    /// it.
    pub fn evaluate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        path: &[u8],
        cors_allowed: bool,
    ) -> FetchDecision {
        if self.mode == FetchMetadataMode::Off {
            return FetchDecision::Allowed;
        }
        let refusal = match self.judge(method, headers, cors_allowed) {
            None => return FetchDecision::Allowed,
            Some(r) => r,
        };
        if self.allow_paths.iter().any(|p| under(path, p.as_bytes())) {
            return FetchDecision::Allowed;
        }
        match self.mode {
            FetchMetadataMode::Enforce => FetchDecision::Refused(refusal),
            _ => FetchDecision::Observed(refusal),
        }
    }

    /// Why the request would be refused, if it would.
    fn judge(
        &self,
        method: &Method,
        headers: &HeaderMap,
        cors_allowed: bool,
    ) -> Option<FetchRefusal> {
        let site = match single(headers, &SEC_FETCH_SITE) {
            Ok(None) => return None,
            Ok(Some(v)) => site(v).ok_or(FetchRefusal::Invalid("invalid_sec_fetch_site")),
            Err(()) => Err(FetchRefusal::Invalid("invalid_sec_fetch_site")),
        };
        let mode = match single(headers, &SEC_FETCH_MODE) {
            Ok(Some(v)) if !known_mode(v) => {
                return Some(FetchRefusal::Invalid("invalid_sec_fetch_mode"))
            }
            Ok(m) => m,
            Err(()) => return Some(FetchRefusal::Invalid("invalid_sec_fetch_mode")),
        };
        let dest = match single(headers, &SEC_FETCH_DEST) {
            Ok(Some(v)) if !well_formed_dest(v) => {
                return Some(FetchRefusal::Invalid("invalid_sec_fetch_dest"))
            }
            Ok(d) => d,
            Err(()) => return Some(FetchRefusal::Invalid("invalid_sec_fetch_dest")),
        };
        let refusal = match site {
            Err(invalid) => return Some(invalid),
            Ok(FetchSite::SameOrigin | FetchSite::None) => return None,
            Ok(FetchSite::SameSite) if self.allow_same_site => return None,
            Ok(FetchSite::SameSite) => FetchRefusal::SameSite,
            Ok(FetchSite::CrossSite) => FetchRefusal::CrossSite,
        };
        let navigation = mode == Some(b"navigate")
            && (method == Method::GET || method == Method::HEAD)
            && !matches!(dest, Some(b"object" | b"embed"));
        if navigation || (cors_allowed && mode == Some(b"cors")) {
            return None;
        }
        Some(refusal)
    }
}

/// `path` is `prefix` or below it, on a segment boundary.
fn under(path: &[u8], prefix: &[u8]) -> bool {
    prefix == b"/"
        || (path.starts_with(prefix) && matches!(path.get(prefix.len()), None | Some(b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::header_map;

    fn enforce() -> FetchMetadataPolicy {
        FetchMetadataPolicy {
            mode: FetchMetadataMode::Enforce,
            allow_paths: vec!["/embed".into()],
            allow_same_site: true,
        }
    }

    fn judge(p: &FetchMetadataPolicy, method: Method, fields: &[(&str, &str)]) -> FetchDecision {
        p.evaluate(&method, &header_map(fields), b"/api/data", false)
    }

    const XSSI: &[(&str, &str)] = &[
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-dest", "script"),
    ];

    #[test]
    fn a_cross_site_script_load_is_refused() {
        assert_eq!(
            judge(&enforce(), Method::GET, XSSI),
            FetchDecision::Refused(FetchRefusal::CrossSite)
        );
    }

    #[test]
    fn report_mode_observes_and_off_allows() {
        let mut p = enforce();
        p.mode = FetchMetadataMode::Report;
        assert_eq!(
            judge(&p, Method::GET, XSSI),
            FetchDecision::Observed(FetchRefusal::CrossSite)
        );
        p.mode = FetchMetadataMode::Off;
        assert_eq!(judge(&p, Method::GET, XSSI), FetchDecision::Allowed);
    }

    #[test]
    fn a_top_level_navigation_is_allowed_but_not_a_post_or_an_object() {
        let nav = |dest: &'static str| {
            vec![
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", dest),
            ]
        };
        let p = enforce();
        assert_eq!(
            judge(&p, Method::GET, &nav("document")),
            FetchDecision::Allowed
        );
        assert_eq!(
            judge(&p, Method::HEAD, &nav("iframe")),
            FetchDecision::Allowed
        );
        assert!(judge(&p, Method::POST, &nav("document")).is_refused());
        assert!(judge(&p, Method::GET, &nav("object")).is_refused());
        assert!(judge(&p, Method::GET, &nav("embed")).is_refused());
    }

    #[test]
    fn same_origin_same_site_none_and_absent_are_allowed() {
        let p = enforce();
        for site in ["same-origin", "same-site", "none"] {
            let h = [("sec-fetch-site", site), ("sec-fetch-mode", "no-cors")];
            assert_eq!(
                judge(&p, Method::POST, &h),
                FetchDecision::Allowed,
                "{site}"
            );
        }
        assert_eq!(
            judge(&p, Method::POST, &[("sec-fetch-mode", "no-cors")]),
            FetchDecision::Allowed
        );
        let strict = FetchMetadataPolicy {
            allow_same_site: false,
            ..enforce()
        };
        assert_eq!(
            judge(&strict, Method::GET, &[("sec-fetch-site", "same-site")]),
            FetchDecision::Refused(FetchRefusal::SameSite)
        );
    }

    #[test]
    fn allow_paths_are_segment_prefixes() {
        let p = enforce();
        let h = header_map(XSSI);
        for (path, allowed) in [
            ("/embed", true),
            ("/embed/x.js", true),
            ("/embedded", false),
            ("/api", false),
        ] {
            assert_eq!(
                p.evaluate(&Method::GET, &h, path.as_bytes(), false) == FetchDecision::Allowed,
                allowed,
                "{path}"
            );
        }
    }

    #[test]
    fn unknown_repeated_or_listed_values_fail_closed() {
        let p = enforce();
        let cases: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "cross-origin")],
            &[("sec-fetch-site", "Same-Origin")],
            &[("sec-fetch-site", "same-origin, cross-site")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "x")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-dest", "script, image"),
            ],
        ];
        for h in cases {
            assert!(
                matches!(
                    judge(&p, Method::GET, h),
                    FetchDecision::Refused(FetchRefusal::Invalid(_))
                ),
                "{h:?}"
            );
        }
    }

    #[test]
    fn an_allowed_cors_request_is_allowed_and_only_that() {
        let p = enforce();
        let h = header_map(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty"),
        ]);
        assert_eq!(
            p.evaluate(&Method::POST, &h, b"/api", true),
            FetchDecision::Allowed
        );
        assert!(p.evaluate(&Method::POST, &h, b"/api", false).is_refused());
        let img = header_map(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
        ]);
        assert!(p.evaluate(&Method::GET, &img, b"/api", true).is_refused());
    }
}
