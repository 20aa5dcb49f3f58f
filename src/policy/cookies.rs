//! Hardened cookies (`[cookies]`, nginx's `proxy_cookie_flags` is the
//! anchor): the attributes added to, or set on, the upstream's `Set-Cookie`
//! headers. Only `Secure`, `HttpOnly` and `SameSite` are ever written;
//! `Expires`, `Max-Age`, `Domain`, `Path` and anything else pass byte for
//! byte, and no attribute is ever written twice.

/// `SameSite`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn parse(s: &str) -> Option<SameSite> {
        match s {
            "Lax" => Some(SameSite::Lax),
            "Strict" => Some(SameSite::Strict),
            "None" => Some(SameSite::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// Which cookies get `HttpOnly`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOnly {
    None,
    All,
    /// These names, exactly.
    Names(Vec<Box<str>>),
}

impl HttpOnly {
    fn covers(&self, name: &[u8]) -> bool {
        match self {
            HttpOnly::None => false,
            HttpOnly::All => true,
            HttpOnly::Names(names) => names.iter().any(|n| n.as_bytes() == name),
        }
    }
}

/// One route's cookie rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    /// Add `Secure`, to HTTPS clients only (a `Secure` cookie set over
    /// plain HTTP is dropped by browsers).
    pub secure: bool,
    pub http_only: HttpOnly,
    /// `None`: leave `SameSite` as the upstream sent it.
    pub same_site: Option<SameSite>,
    /// `SameSite` replaces one the upstream set (flags are only ever added).
    pub override_upstream: bool,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        CookiePolicy {
            secure: false,
            http_only: HttpOnly::None,
            same_site: None,
            override_upstream: false,
        }
    }
}

/// A `__Host-` / `__Secure-` cookie that breaks its prefix's rules: the
/// browser will drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixViolation {
    /// `__Secure-` without `Secure`.
    Secure,
    /// `__Host-` without `Secure`, with a `Domain` or a `Path` other than `/`.
    Host,
}

impl PrefixViolation {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefixViolation::Secure => "__Secure- needs Secure",
            PrefixViolation::Host => "__Host- needs Secure, Path=/ and no Domain",
        }
    }
}

/// What became of one `Set-Cookie` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// As sent (nothing to add), perhaps breaking its prefix's rules.
    Unchanged(Option<PrefixViolation>),
    /// The new value, perhaps still breaking its prefix's rules.
    Changed(Vec<u8>, Option<PrefixViolation>),
    /// Not `name=value[; attr]*`: passed as sent.
    Malformed,
}

/// The attributes of a cookie that matter here, as sent.
#[derive(Default)]
struct Seen<'a> {
    secure: bool,
    http_only: bool,
    /// The byte range of the `SameSite` attribute (name and value).
    same_site: Option<(usize, usize)>,
    same_site_none: bool,
    domain: bool,
    path: Option<&'a [u8]>,
}

fn token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// The name, and the attributes as sent; `None` when malformed.
fn parse(value: &[u8]) -> Option<(&[u8], Seen<'_>)> {
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    let mut parts = value.split(|&b| b == b';');
    let pair = parts.next()?;
    let eq = pair.iter().position(|&b| b == b'=')?;
    let name = pair[..eq].trim_ascii();
    if name.is_empty() || !name.iter().all(|&b| token_byte(b)) {
        return None;
    }
    let mut seen = Seen::default();
    let mut at = pair.len() + 1;
    for attr in parts {
        let start = at;
        at += attr.len() + 1;
        let (key, val) = match attr.iter().position(|&b| b == b'=') {
            Some(i) => (attr[..i].trim_ascii(), Some(attr[i + 1..].trim_ascii())),
            None => (attr.trim_ascii(), None),
        };
        if key.eq_ignore_ascii_case(b"secure") {
            seen.secure = true;
        } else if key.eq_ignore_ascii_case(b"httponly") {
            seen.http_only = true;
        } else if key.eq_ignore_ascii_case(b"samesite") {
            seen.same_site = Some((start, start + attr.len()));
            seen.same_site_none = val.is_some_and(|v| v.eq_ignore_ascii_case(b"none"));
        } else if key.eq_ignore_ascii_case(b"domain") {
            seen.domain = true;
        } else if key.eq_ignore_ascii_case(b"path") {
            seen.path = val;
        }
    }
    Some((name, seen))
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether a cookie with these attributes breaks its name's prefix rules
/// (browsers match the prefixes case-insensitively).
fn prefix_violation(name: &[u8], secure: bool, seen: &Seen<'_>) -> Option<PrefixViolation> {
    if starts_with_ignore_case(name, b"__host-") {
        let ok = secure && !seen.domain && seen.path == Some(b"/");
        return (!ok).then_some(PrefixViolation::Host);
    }
    if starts_with_ignore_case(name, b"__secure-") && !secure {
        return Some(PrefixViolation::Secure);
    }
    None
}

impl CookiePolicy {
    /// Whether the rules change anything: when not, `Set-Cookie` is never
    /// looked at.
    pub fn is_active(&self) -> bool {
        self.secure || self.http_only != HttpOnly::None || self.same_site.is_some()
    }

    /// One `Set-Cookie` value, for a client on HTTPS (`https`) or not.
    pub fn rewrite(&self, value: &[u8], https: bool) -> Rewrite {
        let Some((name, seen)) = parse(value) else {
            return Rewrite::Malformed;
        };
        let mut out: Option<Vec<u8>> = None;
        let mut same_site_none = seen.same_site_none;
        if let Some(want) = self.same_site {
            // SameSite=None needs Secure, which only an HTTPS client gets.
            let usable = want != SameSite::None || https;
            match seen.same_site {
                None if usable => {
                    let v = out.get_or_insert_with(|| value.to_vec());
                    v.extend_from_slice(b"; SameSite=");
                    v.extend_from_slice(want.as_str().as_bytes());
                    same_site_none = want == SameSite::None;
                }
                Some((start, end)) if usable && self.override_upstream => {
                    let mut v = value[..start].to_vec();
                    v.extend_from_slice(b" SameSite=");
                    v.extend_from_slice(want.as_str().as_bytes());
                    v.extend_from_slice(&value[end..]);
                    out = Some(v);
                    same_site_none = want == SameSite::None;
                }
                _ => {}
            }
        }
        let secure = seen.secure || (https && (self.secure || same_site_none));
        if secure && !seen.secure {
            out.get_or_insert_with(|| value.to_vec())
                .extend_from_slice(b"; Secure");
        }
        if !seen.http_only && self.http_only.covers(name) {
            out.get_or_insert_with(|| value.to_vec())
                .extend_from_slice(b"; HttpOnly");
        }
        let violation = prefix_violation(name, secure, &seen);
        match out {
            Some(v) => Rewrite::Changed(v, violation),
            None => Rewrite::Unchanged(violation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> CookiePolicy {
        CookiePolicy {
            secure: true,
            http_only: HttpOnly::All,
            same_site: Some(SameSite::Lax),
            override_upstream: false,
        }
    }

    fn text(p: &CookiePolicy, v: &str, https: bool) -> String {
        match p.rewrite(v.as_bytes(), https) {
            Rewrite::Changed(v, _) => String::from_utf8(v).unwrap(),
            Rewrite::Unchanged(_) => v.to_string(),
            Rewrite::Malformed => "MALFORMED".to_string(),
        }
    }

    #[test]
    fn the_missing_attributes_are_added_and_others_left_byte_for_byte() {
        let v = "sid=abc; Path=/app; Domain=example.com; Max-Age=60; Expires=Wed, 21 Oct 2037 07:28:00 GMT";
        assert_eq!(
            text(&all(), v, true),
            format!("{v}; SameSite=Lax; Secure; HttpOnly")
        );
    }

    #[test]
    fn an_attribute_is_never_duplicated_whatever_its_case() {
        let v = "sid=abc; secure; HTTPONLY; samesite=strict";
        assert_eq!(all().rewrite(v.as_bytes(), true), Rewrite::Unchanged(None));
        let p = CookiePolicy {
            override_upstream: true,
            ..all()
        };
        assert_eq!(text(&p, v, true), "sid=abc; secure; HTTPONLY; SameSite=Lax");
    }

    #[test]
    fn override_false_keeps_the_upstreams_same_site() {
        assert_eq!(
            text(&all(), "a=1; SameSite=None; Secure", true),
            "a=1; SameSite=None; Secure; HttpOnly"
        );
    }

    #[test]
    fn secure_goes_to_https_clients_only() {
        assert_eq!(text(&all(), "a=1", false), "a=1; SameSite=Lax; HttpOnly");
    }

    #[test]
    fn same_site_none_implies_secure_and_needs_https() {
        let p = CookiePolicy {
            secure: false,
            http_only: HttpOnly::None,
            same_site: Some(SameSite::None),
            override_upstream: false,
        };
        assert_eq!(text(&p, "a=1", true), "a=1; SameSite=None; Secure");
        // Over plain HTTP the browser would drop it: leave it alone.
        assert_eq!(p.rewrite(b"a=1", false), Rewrite::Unchanged(None));
        // The upstream's own SameSite=None gets Secure too.
        let flags = CookiePolicy {
            http_only: HttpOnly::All,
            ..CookiePolicy::default()
        };
        assert_eq!(
            text(&flags, "a=1; SameSite=None", true),
            "a=1; SameSite=None; Secure; HttpOnly"
        );
    }

    #[test]
    fn http_only_can_name_the_cookies() {
        let p = CookiePolicy {
            http_only: HttpOnly::Names(vec!["session".into(), "auth".into()]),
            ..CookiePolicy::default()
        };
        assert_eq!(text(&p, "session=1", false), "session=1; HttpOnly");
        assert_eq!(text(&p, "auth = 2", false), "auth = 2; HttpOnly");
        assert_eq!(p.rewrite(b"theme=dark", false), Rewrite::Unchanged(None));
        assert_eq!(p.rewrite(b"Session=1", false), Rewrite::Unchanged(None));
    }

    #[test]
    fn prefix_rule_violations_are_found() {
        let p = CookiePolicy {
            http_only: HttpOnly::All,
            ..CookiePolicy::default()
        };
        let violation = |v: &str, https| match p.rewrite(v.as_bytes(), https) {
            Rewrite::Changed(_, x) | Rewrite::Unchanged(x) => x,
            Rewrite::Malformed => panic!("{v}"),
        };
        assert_eq!(violation("__Host-a=1; Secure; Path=/", true), None);
        assert_eq!(
            violation("__Host-a=1; Secure; Path=/; Domain=x.com", true),
            Some(PrefixViolation::Host)
        );
        assert_eq!(
            violation("__Host-a=1; Secure; Path=/app", true),
            Some(PrefixViolation::Host)
        );
        assert_eq!(
            violation("__host-a=1; Path=/", true),
            Some(PrefixViolation::Host)
        );
        assert_eq!(violation("__Secure-a=1; Secure", true), None);
        assert_eq!(
            violation("__Secure-a=1", true),
            Some(PrefixViolation::Secure)
        );
        // Secure added by the gateway fixes it, over HTTPS.
        let secure = CookiePolicy {
            secure: true,
            ..CookiePolicy::default()
        };
        assert_eq!(
            secure.rewrite(b"__Secure-a=1", true),
            Rewrite::Changed(b"__Secure-a=1; Secure".to_vec(), None)
        );
        assert_eq!(
            secure.rewrite(b"__Secure-a=1", false),
            Rewrite::Unchanged(Some(PrefixViolation::Secure))
        );
    }

    #[test]
    fn malformed_values_pass_unchanged() {
        for bad in ["novalue", "=1", "a b=1", "a=1\u{1}", "; Secure", ""] {
            assert_eq!(
                all().rewrite(bad.as_bytes(), true),
                Rewrite::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_inactive_policy_is_known() {
        assert!(!CookiePolicy::default().is_active());
        assert!(all().is_active());
    }
}
