//! The security headers: ONE table of every header the gateway can set
//! (`table`: its config key, its name, its default per preset and
//! environment), and the pre-built set a route applies to every response,
//! proxied or made here. A new header is one new row in the table and one
//! key in `config::raw`.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

use crate::policy::csp::NONCE_PLACEHOLDER;
use crate::policy::env::Environment;
use crate::policy::header_edit::{HeaderEdit, Name};

mod table;
mod wire;

pub use table::*;
pub use wire::Block;

/// The effective value of every row of [`TABLE`] for one route, plus the
/// custom and removed headers and the nonce settings: what users override,
/// and what `--check` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSettings {
    pub preset: Preset,
    /// One entry per row of [`TABLE`], in order; `None` means not sent.
    pub values: Vec<Option<String>>,
    /// `[headers.custom]`: validated names (lower-case) and values.
    pub custom: Vec<(String, String)>,
    /// Response headers stripped from the upstream's response.
    pub remove: Vec<String>,
    /// The request header that carries the response's nonce to the upstream.
    pub nonce_request_header: String,
    /// Replaced by the nonce in `text/html` bodies.
    pub nonce_html_placeholder: Option<String>,
    /// The gateway's violation-report collector, when reports are enabled:
    /// added to the CSP headers (and, for HTTPS, COOP/COEP).
    pub report_path: Option<String>,
}

pub const DEFAULT_NONCE_REQUEST_HEADER: &str = "x-csp-nonce";

impl HeaderSettings {
    /// What a user gets with no overrides.
    pub fn defaults(env: Environment, preset: Preset) -> HeaderSettings {
        HeaderSettings {
            preset,
            values: TABLE
                .iter()
                .map(|r| r.default_for(preset, env).map(str::to_string))
                .collect(),
            custom: Vec::new(),
            remove: match env {
                Environment::Production => vec!["x-powered-by".to_string()],
                Environment::Development => Vec::new(),
            },
            nonce_request_header: DEFAULT_NONCE_REQUEST_HEADER.to_string(),
            nonce_html_placeholder: None,
            report_path: None,
        }
    }

    /// The value of the row with this config key.
    pub fn get(&self, key: &str) -> Option<&str> {
        TABLE
            .iter()
            .position(|r| r.key == key)
            .and_then(|i| self.values[i].as_deref())
    }

    /// Every row with its effective value, in the order they are sent.
    pub fn entries(&self) -> impl Iterator<Item = (&'static HeaderRow, Option<&str>)> + '_ {
        TABLE
            .iter()
            .zip(&self.values)
            .map(|(row, value)| (row, value.as_deref()))
    }

    /// Whether any value holds the `{nonce}` placeholder.
    pub fn uses_nonce(&self) -> bool {
        self.values
            .iter()
            .flatten()
            .chain(self.custom.iter().map(|(_, v)| v))
            .any(|v| v.contains(NONCE_PLACEHOLDER))
    }
}

/// One header to set: a fixed value, or one with the response's nonce in it.
#[derive(Debug, Clone)]
enum Entry {
    Fixed(Name, HeaderValue),
    /// The value split at each `{nonce}`.
    Nonced(Name, Vec<Box<[u8]>>),
}

/// Where the nonce goes besides the CSP headers.
#[derive(Debug, Clone)]
pub struct NonceUse {
    /// Sent to the upstream with the nonce, so the app can use it.
    pub request_header: Name,
    /// Replaced by the nonce in `text/html` bodies that are not encoded.
    pub html_placeholder: Option<Box<[u8]>>,
}

/// The Reporting API endpoint name the gateway's collector goes by.
pub const REPORT_GROUP: &str = "helmgate";

/// A header value with the gateway's report collector added, for plain
/// HTTP and for HTTPS clients. Browsers drop Reporting API endpoints that
/// are not HTTPS, and Chromium ignores `report-uri` once `report-to` is
/// present, so plain HTTP gets `report-uri` alone. A policy that names its
/// own `report-uri` or `report-to` is left alone.
fn reporting(row: &HeaderRow, value: &str, path: &str) -> (String, String) {
    let same = || (value.to_string(), value.to_string());
    match row.key {
        "content_security_policy" | "content_security_policy_report_only" => {
            if crate::policy::csp::check(value).is_ok_and(|c| c.reports_itself) {
                return same();
            }
            let base = value.trim_end().trim_end_matches(';');
            (
                format!("{base}; report-uri {path}"),
                format!("{base}; report-uri {path}; report-to {REPORT_GROUP}"),
            )
        }
        "cross_origin_opener_policy" | "cross_origin_embedder_policy" => {
            if value.contains("report-to") {
                return same();
            }
            (
                value.to_string(),
                format!("{value}; report-to=\"{REPORT_GROUP}\""),
            )
        }
        _ => same(),
    }
}

/// The error of a value that is not a valid header, for config key `key`.
fn invalid(key: &str) -> (String, String) {
    (
        key.to_string(),
        "is not a valid header value (control characters or non-ASCII)".to_string(),
    )
}

/// One header to set, split at `{nonce}` if it holds one.
fn entry(name: Name, key: &str, value: &str) -> Result<Entry, (String, String)> {
    if value.contains(NONCE_PLACEHOLDER) {
        let parts = value
            .split(NONCE_PLACEHOLDER)
            .map(|p| Box::from(p.as_bytes()))
            .collect();
        HeaderValue::from_str(&value.replace(NONCE_PLACEHOLDER, "n")).map_err(|_| invalid(key))?;
        Ok(Entry::Nonced(name, parts))
    } else {
        Ok(Entry::Fixed(
            name,
            HeaderValue::from_str(value).map_err(|_| invalid(key))?,
        ))
    }
}

/// The rows of [`TABLE`] that are sent, for plain HTTP and for HTTPS (with
/// the report collector wired in, and `Reporting-Endpoints` for HTTPS), and
/// the names of the HTTPS-only rows.
struct TableEntries {
    http: Vec<Entry>,
    https: Vec<Entry>,
    https_only_names: Vec<HeaderName>,
}

fn table_entries(settings: &HeaderSettings) -> Result<TableEntries, (String, String)> {
    let mut http = Vec::new();
    let mut https = Vec::new();
    let mut https_only_names = Vec::new();
    let report = settings.report_path.as_deref();
    for (row, value) in settings.entries() {
        let name = Name::from_static(row.name);
        if row.https_only {
            https_only_names.push(name.header.clone());
        }
        let Some(value) = value else { continue };
        let (for_http, for_https) = match report {
            Some(path) => reporting(row, value, path),
            None => (value.to_string(), value.to_string()),
        };
        if !row.https_only {
            http.push(entry(name.clone(), row.key, &for_http)?);
        }
        https.push(entry(name, row.key, &for_https)?);
    }
    if let Some(path) = report {
        https.push(entry(
            Name::from_static("reporting-endpoints"),
            "reports.path",
            &format!("{REPORT_GROUP}=\"{path}\""),
        )?);
    }
    Ok(TableEntries {
        http,
        https,
        https_only_names,
    })
}

/// Where the nonce goes, when any value holds one.
fn nonce_use(settings: &HeaderSettings) -> Option<NonceUse> {
    settings.uses_nonce().then(|| NonceUse {
        request_header: Name::new(
            HeaderName::from_bytes(settings.nonce_request_header.as_bytes())
                .unwrap_or(HeaderName::from_static(DEFAULT_NONCE_REQUEST_HEADER)),
        ),
        html_placeholder: settings
            .nonce_html_placeholder
            .as_ref()
            .map(|p| Box::from(p.as_bytes())),
    })
}

/// The pre-built header set of one route: per request it only clones
/// `HeaderValue`s (and, with nonces, renders the few values that hold one).
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Sent to plain-HTTP clients.
    http: Vec<Entry>,
    /// Sent to HTTPS clients (adds HSTS).
    https: Vec<Entry>,
    /// HTTPS-only headers an upstream may send that plain-HTTP clients must
    /// not get from us.
    https_only_names: Vec<HeaderName>,
    /// Stripped from upstream responses.
    remove: Vec<HeaderName>,
    nonce: Option<NonceUse>,
    /// `http` and `https` as the bytes they add to a gateway-made answer,
    /// where that is the same for every answer (`wire::block`).
    http_answer_block: Option<wire::Block>,
    https_answer_block: Option<wire::Block>,
}

impl SecurityHeaders {
    /// Build from validated settings; returns the config key of the first
    /// value that is not a valid header (config validation refuses those
    /// earlier, so this is a second line of defence).
    pub fn build(settings: &HeaderSettings) -> Result<SecurityHeaders, (String, String)> {
        let TableEntries {
            mut http,
            mut https,
            https_only_names,
        } = table_entries(settings)?;
        for (name, value) in &settings.custom {
            let key = format!("custom.{name}");
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(&key))?;
            let e = entry(Name::new(header), &key, value)?;
            http.push(e.clone());
            https.push(e);
        }
        let remove: Vec<HeaderName> = settings
            .remove
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| invalid("remove")))
            .collect::<Result<_, _>>()?;
        let nonce = nonce_use(settings);
        let per_answer = nonce.is_some() || wire::removes_answer_name(&settings.remove);
        let http_strip: Vec<HeaderName> = remove.iter().chain(&https_only_names).cloned().collect();
        Ok(SecurityHeaders {
            http_answer_block: (!per_answer)
                .then(|| wire::block(&http, &http_strip))
                .flatten(),
            https_answer_block: (!per_answer)
                .then(|| wire::block(&https, &remove))
                .flatten(),
            http,
            https,
            https_only_names,
            remove,
            nonce,
        })
    }

    /// What `apply` adds to the head of a gateway-made answer, as bytes, when
    /// that is the same for every answer (no nonce, no clash with the
    /// answer's own headers).
    /// `title_case`: spelled as `answer::to_wire` writes the head's names.
    pub fn answer_block(&self, https: bool, title_case: bool) -> Option<&Bytes> {
        Some(self.upstream_block(https)?.fields(title_case))
    }

    /// What `apply` does to a proxied response as a block to write after its
    /// fields and the names to strip from it first, where that is the same
    /// for every response (see `answer_block`).
    pub fn upstream_block(&self, https: bool) -> Option<&wire::Block> {
        if https {
            self.https_answer_block.as_ref()
        } else {
            self.http_answer_block.as_ref()
        }
    }

    /// Where this route's nonce goes, when its headers use one.
    pub fn nonce(&self) -> Option<&NonceUse> {
        self.nonce.as_ref()
    }

    /// Set our headers on `resp`, replacing any the upstream sent, and strip
    /// the ones to remove. `nonce`: this response's, when the route uses one.
    pub fn apply(&self, resp: &mut dyn HeaderEdit, https: bool, nonce: Option<&HeaderValue>) {
        for name in &self.remove {
            resp.remove(name);
        }
        let set = if https { &self.https } else { &self.http };
        for e in set {
            match e {
                Entry::Fixed(name, value) => {
                    resp.set(name, value.clone());
                }
                Entry::Nonced(name, parts) => {
                    let nonce = nonce.map_or(&b""[..], HeaderValue::as_bytes);
                    let mut value = Vec::with_capacity(128);
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            value.extend_from_slice(nonce);
                        }
                        value.extend_from_slice(part);
                    }
                    if let Ok(v) = HeaderValue::from_bytes(&value) {
                        resp.set(name, v);
                    }
                }
            }
        }
        if !https {
            // An upstream's HSTS over plain HTTP is ignored by browsers
            // anyway; the gateway decides, so drop it rather than pass it on.
            for name in &self.https_only_names {
                resp.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;

    fn applied(env: Environment, preset: Preset, https: bool) -> ResponseHeader {
        let set = SecurityHeaders::build(&HeaderSettings::defaults(env, preset)).unwrap();
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("X-Powered-By", "Express").unwrap();
        set.apply(&mut resp, https, None);
        resp
    }

    /// The index of the table row whose config key is `key`.
    fn row(key: &str) -> usize {
        TABLE.iter().position(|r| r.key == key).unwrap()
    }

    #[test]
    fn production_sends_the_strict_set() {
        let r = applied(Environment::Production, Preset::Seed, true);
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
        assert!(r.headers.get("cross-origin-opener-policy").is_none());
        assert_eq!(r.headers.len(), 6);
    }

    #[test]
    fn hsts_only_over_https() {
        let r = applied(Environment::Production, Preset::Seed, false);
        assert!(r.headers.get("strict-transport-security").is_none());
    }

    #[test]
    fn development_relaxes_the_set() {
        let r = applied(Environment::Development, Preset::Seed, true);
        assert_eq!(r.headers["content-security-policy"], CSP_DEVELOPMENT);
        assert!(r.headers.get("strict-transport-security").is_none());
        assert!(r.headers.get("cross-origin-embedder-policy").is_none());
        assert_eq!(r.headers["x-powered-by"], "Express");
        assert_eq!(r.headers["x-frame-options"], "DENY");
    }

    #[test]
    fn hardened_adds_helmets_headers() {
        let r = applied(Environment::Production, Preset::Hardened, true);
        assert_eq!(
            r.headers["content-security-policy"],
            CSP_HARDENED_PRODUCTION
        );
        assert_eq!(r.headers["cross-origin-opener-policy"], "same-origin");
        assert_eq!(r.headers["cross-origin-resource-policy"], "same-origin");
        assert_eq!(r.headers["origin-agent-cluster"], "?1");
        assert_eq!(r.headers["x-dns-prefetch-control"], "off");
        assert_eq!(r.headers["x-download-options"], "noopen");
        assert_eq!(r.headers["x-permitted-cross-domain-policies"], "none");
        assert_eq!(r.headers["x-xss-protection"], "0");
        assert_eq!(r.headers["permissions-policy"], PERMISSIONS_POLICY_HARDENED);
        let dev = applied(Environment::Development, Preset::Hardened, true);
        assert_eq!(
            dev.headers["content-security-policy"],
            CSP_HARDENED_DEVELOPMENT
        );
        assert!(!CSP_HARDENED_DEVELOPMENT.contains("upgrade-insecure-requests"));
    }

    #[test]
    fn invalid_override_names_its_key() {
        let mut s = HeaderSettings::defaults(Environment::Production, Preset::Seed);
        let i = row("referrer_policy");
        s.values[i] = Some("no-referrer\n".into());
        let (key, _) = SecurityHeaders::build(&s).unwrap_err();
        assert_eq!(key, "referrer_policy");
    }

    #[test]
    fn reports_go_to_the_collector_by_the_way_each_client_can_send_them() {
        let mut s = HeaderSettings::defaults(Environment::Production, Preset::Hardened);
        s.report_path = Some("/.helmgate/reports".into());
        let set = SecurityHeaders::build(&s).unwrap();
        let mut plain = ResponseHeader::build(200, None).unwrap();
        set.apply(&mut plain, false, None);
        let csp = plain.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.ends_with("; report-uri /.helmgate/reports"), "{csp}");
        assert!(plain.headers.get("reporting-endpoints").is_none());
        assert_eq!(plain.headers["cross-origin-opener-policy"], "same-origin");
        let mut secure = ResponseHeader::build(200, None).unwrap();
        set.apply(&mut secure, true, None);
        let csp = secure.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.ends_with("; report-uri /.helmgate/reports; report-to helmgate"),
            "{csp}"
        );
        assert_eq!(
            secure.headers["reporting-endpoints"],
            "helmgate=\"/.helmgate/reports\""
        );
        assert_eq!(
            secure.headers["cross-origin-opener-policy"],
            "same-origin; report-to=\"helmgate\""
        );
        assert_eq!(
            secure.headers["cross-origin-embedder-policy"],
            "require-corp; report-to=\"helmgate\""
        );
        // A policy with its own reporting is left alone.
        let csp_row = row("content_security_policy");
        s.values[csp_row] = Some("default-src 'self'; report-uri https://r.example/csp".into());
        let set = SecurityHeaders::build(&s).unwrap();
        let mut secure = ResponseHeader::build(200, None).unwrap();
        set.apply(&mut secure, true, None);
        assert_eq!(
            secure.headers["content-security-policy"],
            "default-src 'self'; report-uri https://r.example/csp"
        );
    }

    #[test]
    fn a_nonce_is_rendered_into_every_value_that_asks_for_one() {
        let mut s = HeaderSettings::defaults(Environment::Production, Preset::Seed);
        let csp = row("content_security_policy");
        let ro = row("content_security_policy_report_only");
        s.values[csp] = Some("script-src 'nonce-{nonce}'".into());
        s.values[ro] = Some("script-src 'nonce-{nonce}' 'strict-dynamic'".into());
        let set = SecurityHeaders::build(&s).unwrap();
        assert!(set.nonce().is_some());
        let mut resp = ResponseHeader::build(200, None).unwrap();
        set.apply(&mut resp, false, Some(&HeaderValue::from_static("abc=")));
        assert_eq!(
            resp.headers["content-security-policy"],
            "script-src 'nonce-abc='"
        );
        assert_eq!(
            resp.headers["content-security-policy-report-only"],
            "script-src 'nonce-abc=' 'strict-dynamic'"
        );
    }
}
