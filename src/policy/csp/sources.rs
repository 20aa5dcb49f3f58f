//! Source expressions (CSP 3, section 2.3.1): a fetch directive's list, each
//! source a keyword, a nonce, a hash, a scheme or a host, checked as a
//! browser would read it.

use super::{err, is_directive, takes_sources, Checked, CspError, NONCE_PLACEHOLDER};

const KEYWORDS: &[&str] = &[
    "self",
    "none",
    "unsafe-inline",
    "unsafe-eval",
    "strict-dynamic",
    "unsafe-hashes",
    "report-sample",
    "unsafe-allow-redirects",
    "wasm-unsafe-eval",
    "inline-speculation-rules",
    "script",
    "allow-duplicates",
];

/// A fetch directive's source list: not empty, `'none'` alone, every
/// source well formed.
pub(super) fn source_list(
    name: &str,
    values: &[(usize, &str)],
    at_end: usize,
    out: &mut Checked,
) -> Vec<CspError> {
    debug_assert!(takes_sources(name));
    if values.is_empty() {
        return vec![err(
            Some(name),
            at_end,
            format!("{name} has no sources: write 'none' to allow nothing"),
        )];
    }
    if values.len() > 1 && values.iter().any(|(_, v)| v.eq_ignore_ascii_case("'none'")) {
        let (at, _) = values
            .iter()
            .find(|(_, v)| v.eq_ignore_ascii_case("'none'"))
            .unwrap_or(&values[0]);
        return vec![err(
            Some(name),
            *at,
            format!("'none' must be the only source of {name}: anything beside it contradicts it"),
        )];
    }
    values
        .iter()
        .filter_map(|(at, v)| check_source(name, *at, v, out).err())
        .collect()
}

fn is_base64(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

fn check_source(name: &str, at: usize, v: &str, out: &mut Checked) -> Result<(), CspError> {
    let bad = |why: &str| Err(err(Some(name), at, format!("{v:?} {why}")));
    if let Some(inner) = v.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return bad("has an opening quote but no closing one");
        };
        return check_quoted_source(name, at, v, inner, out);
    }
    check_bare_source(name, at, v)
}

/// A quoted source `'inner'`: a nonce, a hash or a keyword.
fn check_quoted_source(
    name: &str,
    at: usize,
    v: &str,
    inner: &str,
    out: &mut Checked,
) -> Result<(), CspError> {
    let bad = |why: &str| Err(err(Some(name), at, format!("{v:?} {why}")));
    let lower = inner.to_ascii_lowercase();
    if let Some(nonce) = lower.strip_prefix("nonce-") {
        if nonce == NONCE_PLACEHOLDER {
            out.has_nonce = true;
            return Ok(());
        }
        return if is_base64(&inner["nonce-".len()..]) {
            Ok(())
        } else {
            bad("is not a nonce source: 'nonce-' then base64, or 'nonce-{nonce}' for a fresh one per response")
        };
    }
    for alg in ["sha256-", "sha384-", "sha512-"] {
        if let Some(hash) = lower.strip_prefix(alg) {
            return if is_base64(hash) {
                Ok(())
            } else {
                bad("is not a hash source: 'sha256-' then the base64 digest")
            };
        }
    }
    if KEYWORDS.contains(&lower.as_str()) {
        if name == "frame-ancestors" && !matches!(lower.as_str(), "self" | "none") {
            return bad(
                "has no meaning in frame-ancestors (only 'self', 'none', hosts and schemes)",
            );
        }
        return Ok(());
    }
    bad("is not a CSP keyword ('self', 'none', 'unsafe-inline', 'strict-dynamic' ...)")
}

/// An unquoted source: `*`, a scheme or a host.
fn check_bare_source(name: &str, at: usize, v: &str) -> Result<(), CspError> {
    let bad = |why: &str| Err(err(Some(name), at, format!("{v:?} {why}")));
    if v.contains(NONCE_PLACEHOLDER) {
        return bad("must be quoted as a source: write 'nonce-{nonce}'");
    }
    if KEYWORDS.contains(&v.to_ascii_lowercase().as_str()) {
        return Err(err(
            Some(name),
            at,
            format!(
                "keyword {v:?} must be quoted: write '{v}' (unquoted, it means a host named {v})"
            ),
        ));
    }
    if v == "*" {
        return Ok(());
    }
    if is_directive(&v.to_ascii_lowercase()) {
        return bad("is a directive name where a source should be: is a `;` missing before it?");
    }
    if let Some(scheme) = v.strip_suffix(':') {
        return if is_scheme(scheme) {
            Ok(())
        } else {
            bad("is not a scheme source like https: or data:")
        };
    }
    if is_host_source(v) {
        Ok(())
    } else {
        bad("is not a source: expected a quoted keyword, a scheme (https:), a host ([scheme://]host[:port][/path]) or *")
    }
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// `[scheme://]host[:port][/path]` where host is `*`, `*.name` or a name.
fn is_host_source(v: &str) -> bool {
    let rest = match v.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        Some(_) => return false,
        None => v,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || !p.is_empty() => (h, Some(p)),
        _ => (authority, None),
    };
    let host_ok = host == "*"
        || {
            let name = host.strip_prefix("*.").unwrap_or(host);
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        || (host.starts_with('[') && host.ends_with(']'));
    let port_ok = port.is_none_or(|p| {
        p == "*" || (p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0))
    });
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
    host_ok && port_ok && path_ok
}
