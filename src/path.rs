//! The request path the router matches and the upstream receives: percent-
//! encoded unreserved characters decoded, then dot-segments resolved
//! (RFC 3986 6.2.2.2 and 5.2.4). Routing on one spelling while the upstream
//! resolves another would let `/public/../admin` pick the public route's
//! policy for the admin page; normalising once and forwarding the result
//! makes both sides agree.

use std::borrow::Cow;

/// The path climbs above the root (`/../x`): there is no resource it can
/// name, and passing it on would leave the upstream to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AboveRoot;

/// Normalise an origin-form path (no query). Borrows when nothing changes,
/// which is the common case, so the hot path does not allocate.
pub fn normalize(path: &[u8]) -> Result<Cow<'_, [u8]>, AboveRoot> {
    if !needs_work(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path);
    let resolved = remove_dot_segments(&decoded)?;
    if resolved == path {
        Ok(Cow::Borrowed(path))
    } else {
        Ok(Cow::Owned(resolved))
    }
}

fn needs_work(path: &[u8]) -> bool {
    path.contains(&b'%') || has_dot_segment(path)
}

/// A `.` or `..` segment anywhere in the path.
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .any(|segment| segment == b"." || segment == b"..")
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%41` becomes `A`, `%2e` becomes `.`; every other escape (`%2F`, `%00`,
/// invalid ones) stays exactly as sent, because decoding it would change what
/// the path means.
fn decode_unreserved(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(hi), Some(lo)) = (hex(path[i + 1]), hex(path[i + 2])) {
                let b = hi * 16 + lo;
                if is_unreserved(b) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(path[i]);
        i += 1;
    }
    out
}

/// RFC 3986 5.2.4 on an absolute path, except that `..` at the root is an
/// error instead of being dropped.
fn remove_dot_segments(path: &[u8]) -> Result<Vec<u8>, AboveRoot> {
    let absolute = path.first() == Some(&b'/');
    let body = if absolute { &path[1..] } else { path };
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut pieces = body.split(|&b| b == b'/').peekable();
    // Whether the output ends with a slash after the last segment: `/a/.`
    // and `/a/b/..` both name the directory `/a/`.
    let mut trailing_slash = false;
    while let Some(segment) = pieces.next() {
        let last = pieces.peek().is_none();
        match segment {
            b"." => trailing_slash = last,
            b".." => {
                if segments.pop().is_none() {
                    return Err(AboveRoot);
                }
                trailing_slash = last;
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if absolute {
        out.push(b'/');
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(segment);
    }
    if trailing_slash && !segments.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, AboveRoot> {
        normalize(p.as_bytes()).map(|c| String::from_utf8(c.into_owned()).unwrap())
    }

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/v1",
            "/v1/",
            "/v1/x.json",
            "/a//b",
            "/.well-known/x",
            "/..a/b.",
        ] {
            assert!(
                matches!(normalize(p.as_bytes()), Ok(Cow::Borrowed(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segments_are_resolved() {
        assert_eq!(norm("/a/./b").unwrap(), "/a/b");
        assert_eq!(norm("/a/b/../c").unwrap(), "/a/c");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/.").unwrap(), "/a/");
        assert_eq!(norm("/public/../admin").unwrap(), "/admin");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/.").unwrap(), "/");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        assert_eq!(norm("/.."), Err(AboveRoot));
        assert_eq!(norm("/../etc/passwd"), Err(AboveRoot));
        assert_eq!(norm("/a/../../b"), Err(AboveRoot));
        assert_eq!(norm("/%2e%2e/x"), Err(AboveRoot));
    }

    #[test]
    fn unreserved_escapes_are_decoded_before_resolving() {
        assert_eq!(norm("/%76%31/x").unwrap(), "/v1/x");
        assert_eq!(norm("/public/%2e%2E/admin").unwrap(), "/admin");
        assert_eq!(norm("/a/%2E/b").unwrap(), "/a/b");
        assert_eq!(norm("/%7Euser").unwrap(), "/~user");
    }

    #[test]
    fn reserved_and_invalid_escapes_stay() {
        assert_eq!(norm("/a%2Fb").unwrap(), "/a%2Fb");
        assert_eq!(norm("/a%2fb/%00").unwrap(), "/a%2fb/%00");
        assert_eq!(norm("/a%zz").unwrap(), "/a%zz");
        assert_eq!(norm("/a%4").unwrap(), "/a%4");
        assert_eq!(norm("/a%").unwrap(), "/a%");
        assert_eq!(norm("/%2e%2").unwrap(), "/.%2");
    }
}
