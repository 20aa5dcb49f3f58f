//! Merging our `Vary` entries with whatever the upstream sent, so a cache keys
//! on `Origin` without losing the upstream's own keys.

use http::header::{HeaderValue, VARY};

use crate::policy::header_edit::{HeaderEdit, Name};

pub const VARY_NAME: Name = Name::from_static("vary");

/// Make sure every name in `needed` appears in the response's `Vary`.
/// `static_value` is the pre-built `needed.join(", ")`, used as-is when the
/// upstream sent no `Vary` (the common case: no allocation).
pub fn ensure(resp: &mut dyn HeaderEdit, needed: &[&str], static_value: &HeaderValue) {
    let existing: Vec<&HeaderValue> = resp.headers().get_all(VARY).iter().collect();
    match merged(&existing, needed) {
        Merge::Keep => {}
        Merge::UseStatic => resp.set(&VARY_NAME, static_value.clone()),
        Merge::Replace(value) => resp.set(&VARY_NAME, value),
    }
}

#[derive(Debug, PartialEq)]
pub enum Merge {
    /// Already varies on everything needed (or on `*`).
    Keep,
    /// No `Vary` at all: use the pre-built value.
    UseStatic,
    Replace(HeaderValue),
}

/// Pure merge: the existing `Vary` field values (possibly several headers,
/// each a comma list) plus the names needed, compared case-insensitively.
pub fn merged(existing: &[&HeaderValue], needed: &[&str]) -> Merge {
    if existing.is_empty() {
        return Merge::UseStatic;
    }
    let tokens: Vec<&[u8]> = existing
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.iter().any(|t| *t == b"*") {
        return Merge::Keep;
    }
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|n| !tokens.iter().any(|t| t.eq_ignore_ascii_case(n.as_bytes())))
        .collect();
    if missing.is_empty() && existing.len() == 1 {
        return Merge::Keep;
    }
    let mut out: Vec<u8> = Vec::with_capacity(64);
    for t in tokens
        .iter()
        .copied()
        .chain(missing.iter().map(|m| m.as_bytes()))
    {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(t);
    }
    match HeaderValue::from_bytes(&out) {
        Ok(v) => Merge::Replace(v),
        // The upstream's bytes were already a valid header value, so joining
        // them can't fail; keep the response untouched if it somehow does.
        Err(_) => Merge::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn no_vary_uses_the_static_value() {
        assert_eq!(merged(&[], &["Origin"]), Merge::UseStatic);
    }

    #[test]
    fn origin_is_appended_to_upstream_vary() {
        let v = hv("Accept-Encoding");
        assert_eq!(
            merged(&[&v], &["Origin"]),
            Merge::Replace(hv("Accept-Encoding, Origin"))
        );
    }

    #[test]
    fn existing_origin_in_any_case_is_kept() {
        let v = hv("accept-encoding, origin");
        assert_eq!(merged(&[&v], &["Origin"]), Merge::Keep);
    }

    #[test]
    fn star_is_kept() {
        let v = hv("*");
        assert_eq!(merged(&[&v], &["Origin"]), Merge::Keep);
    }

    #[test]
    fn several_vary_headers_are_folded_into_one() {
        let a = hv("Accept");
        let b = hv("Origin");
        assert_eq!(
            merged(&[&a, &b], &["Origin"]),
            Merge::Replace(hv("Accept, Origin"))
        );
    }

    #[test]
    fn several_needed_names_are_added_once() {
        let v = hv("Origin");
        assert_eq!(
            merged(
                &[&v],
                &[
                    "Origin",
                    "Access-Control-Request-Method",
                    "Access-Control-Request-Headers"
                ]
            ),
            Merge::Replace(hv(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
            ))
        );
    }
}
