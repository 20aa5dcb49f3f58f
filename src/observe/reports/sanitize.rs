//! What a report says about URLs, reduced to what may be kept: `blocked`
//! an origin or a keyword, `document` an origin and a path without query or
//! fragment, percent-encoded to printable ASCII and length-capped.

use super::Document;

/// Longest origin kept (scheme, host, port).
const MAX_ORIGIN: usize = 300;
/// Longest document path kept, after percent-encoding.
const MAX_DOCUMENT_PATH: usize = 200;

/// Keywords a `blocked` field may hold instead of a URL.
const BLOCKED_KEYWORDS: &[&str] = &[
    "inline",
    "eval",
    "wasm-eval",
    "self",
    "trusted-types-policy",
    "trusted-types-sink",
];

/// Schemes a `blocked-uri` may name bare (report-uri reports say `data` for
/// a `data:` URL).
const BARE_SCHEMES: &[&str] = &[
    "data",
    "blob",
    "filesystem",
    "about",
    "javascript",
    "mediastream",
    "http",
    "https",
    "ws",
    "wss",
];

/// What was blocked, as an origin or a keyword; never a full URL (paths and
/// queries may carry personal data and make every value unique).
pub fn blocked(raw: &str) -> Box<str> {
    let t = raw.trim().trim_matches('\'');
    if t.is_empty() {
        return "none".into();
    }
    if let Some(k) = BLOCKED_KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(t)) {
        return (*k).into();
    }
    let scheme = t.split(':').next().unwrap_or("");
    if t[scheme.len()..].starts_with("://") {
        return split_url(t).map_or_else(|| "other".into(), |(origin, _)| origin.into());
    }
    if let Some(s) = BARE_SCHEMES.iter().find(|s| s.eq_ignore_ascii_case(scheme)) {
        return (*s).into();
    }
    "other".into()
}

/// The page a report is about: origin and path, query and fragment cut.
pub fn document_of(raw: &str) -> Document {
    let t = raw.trim();
    if let Some((origin, rest)) = split_url(t) {
        let path_at = origin.len();
        let mut text = origin;
        let path = rest.split(['?', '#']).next().unwrap_or("");
        if path.is_empty() {
            text.push('/');
        } else {
            push_encoded(&mut text, path, MAX_DOCUMENT_PATH);
        }
        return Document {
            text: text.into(),
            path_at,
        };
    }
    for keyword in ["about:blank", "about:srcdoc"] {
        if t.eq_ignore_ascii_case(keyword) {
            return Document::keyword(keyword);
        }
    }
    Document::keyword("other")
}

/// `scheme://host[:port]` of a URL, normalised to lower case without
/// userinfo, and the rest after the authority. `None` if it isn't one.
fn split_url(t: &str) -> Option<(String, &str)> {
    let (scheme, rest) = t.split_once("://")?;
    let scheme_ok = (1..=32).contains(&scheme.len())
        && scheme.as_bytes()[0].is_ascii_alphabetic()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (inside, tail) = v6.split_once(']')?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (&host_port[..inside.len() + 2], tail.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
    });
    if !host_ok || !port_ok {
        return None;
    }
    let mut origin = String::with_capacity(scheme.len() + 3 + host_port.len());
    origin.push_str(&scheme.to_ascii_lowercase());
    origin.push_str("://");
    origin.push_str(&host.to_ascii_lowercase());
    if let Some(p) = port {
        origin.push(':');
        origin.push_str(p);
    }
    if origin.len() > MAX_ORIGIN {
        return None;
    }
    Some((origin, after))
}

/// Append `path` with every byte outside printable ASCII, and the few that
/// are unsafe in HTML or logs, percent-encoded; at most `limit` bytes, then
/// `...`.
fn push_encoded(out: &mut String, path: &str, limit: usize) {
    let start = out.len();
    for b in path.bytes() {
        let piece_len = if keep_byte(b) { 1 } else { 3 };
        if out.len() - start + piece_len > limit {
            out.push_str("...");
            return;
        }
        if keep_byte(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn keep_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"\"<>\\^`{|}'".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_is_an_origin_or_a_keyword() {
        for (raw, want) in [
            ("inline", "inline"),
            ("'eval'", "eval"),
            ("", "none"),
            ("data", "data"),
            ("data:image/png;base64,AAAA", "data"),
            ("blob:https://a.example/uuid", "blob"),
            (
                "HTTPS://User:pw@CDN.Example.com:8443/x.js?q#f",
                "https://cdn.example.com:8443",
            ),
            ("wss://[::1]:9/x", "wss://[::1]:9"),
            ("https://a.example:99999/", "other"),
            ("https://a b/", "other"),
            ("https://\u{202e}evil/", "other"),
            ("javascript:alert(1)", "javascript"),
            ("<script>", "other"),
        ] {
            assert_eq!(&*blocked(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn documents_lose_query_and_fragment_and_stay_printable_and_short() {
        let d = document_of("https://App.Example.com/p\u{e9}/<x>?token=1#frag");
        assert_eq!(d.as_str(), "https://app.example.com/p%C3%A9/%3Cx%3E");
        assert_eq!(
            document_of("https://a.example").as_str(),
            "https://a.example/"
        );
        assert_eq!(document_of("about:srcdoc").as_str(), "about:srcdoc");
        assert_eq!(document_of("\r\nINFO forged").as_str(), "other");
        let long = format!("https://a.example/{}", "\u{1F600}".repeat(200));
        let d = document_of(&long);
        assert!(d.as_str().len() <= "https://a.example".len() + MAX_DOCUMENT_PATH + 3);
        assert!(d.as_str().ends_with("..."));
        assert!(d.as_str().bytes().all(|b| (0x21..0x7f).contains(&b)));
    }
}
