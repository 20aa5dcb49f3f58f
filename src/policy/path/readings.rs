//! How other servers read a canonical path. The gateway forwards the
//! canonical path, but the upstream may then read it differently:
//! - nginx (and many others) decode `%2F` into `/` before matching a
//!   `location`, and Windows servers read `%5C` as `/` as well;
//! - Tomcat, Jetty and Spring drop `;...` from each segment, then resolve
//!   dot-segments (`/x/..;/admin` is `/admin` to them);
//! - IIS, ASP.NET and case-insensitive file systems ignore letter case and
//!   drop trailing dots and spaces of a segment (`/ADMIN.` is `/admin`).
//!
//! Each function returns `None` when the reading is the path itself, so
//! the usual path costs a scan and no allocation.

use super::canonical::{remove_dot_segments, PathRefusal};

/// The readings of `path` that differ from it (escaped slashes decoded,
/// parameters dropped, both), each as the path that reading resolves to;
/// one that climbs above the root is an error. `folded` is applied on top
/// by the caller, against folded route prefixes.
pub fn alternatives(path: &[u8]) -> Vec<Result<Vec<u8>, PathRefusal>> {
    let mut out = Vec::new();
    if let Some(slashes) = decoded_slashes(path) {
        if let Some(both) = slashes.as_deref().ok().and_then(without_parameters) {
            out.push(both);
        }
        out.push(slashes);
    }
    out.extend(without_parameters(path));
    out
}

/// `%2F` and `%5C` read as `/`, then slashes merged and dot-segments
/// resolved: what nginx routes on.
pub fn decoded_slashes(path: &[u8]) -> Option<Result<Vec<u8>, PathRefusal>> {
    if !contains_escaped_slash(path) {
        return None;
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let escape = path.get(i..i + 3);
        let slash = escape
            .is_some_and(|e| e.eq_ignore_ascii_case(b"%2F") || e.eq_ignore_ascii_case(b"%5C"));
        if slash {
            push_slash(&mut out);
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    Some(remove_dot_segments(&out))
}

/// Each segment's `;...` dropped, then slashes merged and dot-segments
/// resolved: the Servlet reading.
pub fn without_parameters(path: &[u8]) -> Option<Result<Vec<u8>, PathRefusal>> {
    if !path.contains(&b';') {
        return None;
    }
    let mut out = Vec::with_capacity(path.len());
    let mut in_parameter = false;
    for &b in path {
        if b == b'/' {
            in_parameter = false;
            push_slash(&mut out);
        } else if b == b';' {
            in_parameter = true;
        } else if !in_parameter {
            out.push(b);
        }
    }
    Some(remove_dot_segments(&out))
}

/// ASCII letters in lower case, each segment's trailing dots and escaped
/// spaces dropped, and an NTFS stream suffix (`::$DATA`) cut: the Windows
/// reading. Route prefixes are folded
/// the same way, so the two compare.
pub fn folded(path: &[u8]) -> Option<Vec<u8>> {
    if !needs_folding(path) {
        return None;
    }
    Some(fold(path))
}

/// `folded` for a path that may already be folded: route prefixes.
pub fn fold(path: &[u8]) -> Vec<u8> {
    // IIS decodes `%3A` and `%24` before it sees `::$DATA`.
    let path = &stream_marks_decoded(path);
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for segment in path.split_inclusive(|&b| b == b'/') {
        let (body, slash) = match segment.split_last() {
            Some((b'/', body)) => (body, true),
            _ => (segment, false),
        };
        // NTFS alternate data streams: `admin::$DATA` opens `admin`.
        let mut body = match body.windows(3).position(|w| w == b"::$") {
            Some(at) => &body[..at],
            None => body,
        };
        loop {
            if let Some(rest) = body.strip_suffix(b".") {
                body = rest;
            } else if body.len() >= 3 && body[body.len() - 3..].eq_ignore_ascii_case(b"%20") {
                body = &body[..body.len() - 3];
            } else {
                break;
            }
        }
        out.extend(body.iter().map(u8::to_ascii_lowercase));
        if slash {
            push_slash(&mut out);
        }
    }
    out
}

pub fn needs_folding(path: &[u8]) -> bool {
    path.iter().any(u8::is_ascii_uppercase)
        || path.windows(2).any(|w| w == b"./")
        || path.ends_with(b".")
        || path.windows(3).any(|w| w == b"%20" || w == b"::$")
}

/// `%3A` as `:` and `%24` as `$`, for finding a stream suffix.
fn stream_marks_decoded(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let escape = path.get(i..i + 3);
        match escape {
            Some(e) if e.eq_ignore_ascii_case(b"%3A") => out.push(b':'),
            Some(e) if e.eq_ignore_ascii_case(b"%24") => out.push(b'$'),
            _ => {
                out.push(path[i]);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    out
}

fn contains_escaped_slash(path: &[u8]) -> bool {
    path.windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%2F") || w.eq_ignore_ascii_case(b"%5C"))
}

fn push_slash(out: &mut Vec<u8>) {
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading as text, `None` when it reads the same; a refused reading
    /// as `refused: REASON`.
    fn read(r: Option<Result<Vec<u8>, PathRefusal>>) -> Option<String> {
        r.map(|r| match r {
            Ok(v) => String::from_utf8(v).expect("ASCII"),
            Err(e) => format!("refused: {e:?}"),
        })
    }

    /// nginx decodes `%2F`/`%5C` then resolves; servlet containers drop
    /// `;...` per segment then resolve.
    #[test]
    fn nginx_and_servlet_readings_rewrite_then_resolve() {
        type Reading = fn(&[u8]) -> Option<Result<Vec<u8>, PathRefusal>>;
        let nginx: Reading = decoded_slashes;
        let servlet: Reading = without_parameters;
        for (reading, path, want) in [
            (nginx, "/x/..%2Fadmin/x", "/admin/x"),
            (nginx, "/a%5Cb", "/a/b"),
            (nginx, "/..%2F..%2Fx", "refused: AboveRoot"),
            (servlet, "/x/..;/admin", "/admin"),
            (servlet, "/admin;x", "/admin"),
            (servlet, "/admin;/x", "/admin/x"),
            (servlet, "/app;jsessionid=1/a", "/app/a"),
        ] {
            assert_eq!(
                read(reading(path.as_bytes())).as_deref(),
                Some(want),
                "{path}"
            );
        }
        assert_eq!(nginx(b"/a/b"), None);
        assert_eq!(servlet(b"/a/b"), None);
    }

    #[test]
    fn windows_folds_case_and_trailing_dots() {
        assert_eq!(folded(b"/ADMIN/X").as_deref(), Some(&b"/admin/x"[..]));
        assert_eq!(folded(b"/admin./x").as_deref(), Some(&b"/admin/x"[..]));
        assert_eq!(folded(b"/admin%20").as_deref(), Some(&b"/admin"[..]));
        assert_eq!(folded(b"/admin"), None);
        assert_eq!(fold(b"/Caf%C3%A9"), b"/caf%c3%a9");
        assert_eq!(
            folded(b"/admin::$DATA/x").as_deref(),
            Some(&b"/admin/x"[..])
        );
    }

    #[test]
    fn alternatives_cover_combined_readings() {
        let all: Vec<_> = alternatives(b"/x/y/..%2F..;/admin")
            .into_iter()
            .map(|r| r.map(|v| String::from_utf8(v).expect("ASCII")))
            .collect();
        assert!(all.contains(&Ok("/admin".into())), "{all:?}");
        assert!(alternatives(b"/plain/path").is_empty());
        assert!(alternatives(b"/Plain/Path.").is_empty());
    }
}
