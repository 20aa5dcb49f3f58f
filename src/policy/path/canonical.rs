//! The one spelling of a request path that the router matches and the
//! upstream receives, byte for byte.
//!
//! Per class of spelling (README "Routes" has the same list for users):
//! - escapes of unreserved characters (`%41`, `%2e`) are decoded, so
//!   `%2e%2e` is a dot-segment like `..`; every other escape is kept, its
//!   hex in upper case (`%c3%a9` and `%C3%A9` are one path);
//! - `//` is merged into `/`, as nginx (`merge_slashes on`) and most
//!   frameworks read it, then dot-segments are resolved (RFC 3986 5.2.4);
//!   climbing above the root is refused;
//! - raw non-ASCII bytes are percent-encoded, so `/café` and `/caf%C3%A9`
//!   are one path; non-ASCII that is not valid UTF-8 (overlong `%C0%AF`
//!   included), raw or escaped, is refused;
//! - a raw `\` is refused (Windows servers read it as `/`), and so are
//!   control characters, raw or escaped (`%00`), and broken escapes (`%zz`);
//! - `%2F` and `%5C` stay as they are and are flagged: the route decides
//!   whether it takes them (`escaped_slashes`), see `readings`.
//!
//! `;` parameters and letter case are not rewritten: they mean different
//! things to different servers, so `readings` refuses a path whose route
//! depends on them instead.

use std::borrow::Cow;

/// Why a path is refused (400): a spelling that upstreams could read as
/// another path than the one the gateway would route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// `..` climbs above the root.
    AboveRoot,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A control character (NUL included), raw or escaped, or a raw space.
    ControlCharacter,
    /// A raw `\`.
    Backslash,
    /// Non-ASCII bytes that are not valid UTF-8 (overlong forms included).
    InvalidUtf8,
    /// `%2F` or `%5C` on a route that does not take them.
    EscapedSlash,
    /// The route depends on how the upstream reads `;`, letter case,
    /// trailing dots or escaped slashes.
    Ambiguous,
}

impl PathRefusal {
    /// For log lines: `reason=...`.
    pub fn as_str(self) -> &'static str {
        match self {
            PathRefusal::AboveRoot => "path_above_root",
            PathRefusal::BadEscape => "path_bad_escape",
            PathRefusal::ControlCharacter => "path_control_character",
            PathRefusal::Backslash => "path_backslash",
            PathRefusal::InvalidUtf8 => "path_invalid_utf8",
            PathRefusal::EscapedSlash => "path_escaped_slash",
            PathRefusal::Ambiguous => "path_ambiguous_route",
        }
    }
}

/// A canonical path: `canonicalize` returns it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    bytes: Cow<'a, [u8]>,
    escaped_slash: bool,
}

impl<'a> CanonicalPath<'a> {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Holds `%2F` or `%5C`: a slash inside a segment, for the gateway.
    pub fn has_escaped_slash(&self) -> bool {
        self.escaped_slash
    }

    /// The path was already canonical: nothing to rewrite.
    pub fn is_unchanged(&self) -> bool {
        matches!(self.bytes, Cow::Borrowed(_))
    }

    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        self.bytes
    }
}

/// The canonical form of an origin-form path (no query). Borrows when the
/// path is already canonical, the common case, so the hot path does not
/// allocate.
pub fn canonicalize(path: &[u8]) -> Result<CanonicalPath<'_>, PathRefusal> {
    if is_plain(path) {
        return Ok(CanonicalPath {
            bytes: Cow::Borrowed(path),
            escaped_slash: false,
        });
    }
    let spelled = respell(path)?;
    let resolved = remove_dot_segments(&spelled.bytes)?;
    // Resolving can drop the segment that held one (`/a%2F/..`).
    let escaped_slash = spelled.escaped_slash && holds_escaped_slash(&resolved);
    let bytes = if resolved == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(resolved)
    };
    Ok(CanonicalPath {
        bytes,
        escaped_slash,
    })
}

/// `%2F` or `%5C`, as `respell` writes them (upper case).
fn holds_escaped_slash(path: &[u8]) -> bool {
    path.windows(3).any(|w| w == b"%2F" || w == b"%5C")
}

/// Nothing to decode, encode, merge, resolve or refuse.
fn is_plain(path: &[u8]) -> bool {
    let mut previous = 0u8;
    for &b in path {
        if b == b'%' || b == b'\\' || !(0x21..0x7f).contains(&b) || (b == b'/' && previous == b'/')
        {
            return false;
        }
        previous = b;
    }
    !has_dot_segment(path)
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

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
}

struct Spelled {
    bytes: Vec<u8>,
    escaped_slash: bool,
}

/// Every byte in its one spelling, slashes merged; dot-segments not yet
/// resolved.
fn respell(path: &[u8]) -> Result<Spelled, PathRefusal> {
    let mut out = Vec::with_capacity(path.len() + 8);
    let mut escaped_slash = false;
    let mut non_ascii = false;
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        i += 1;
        match b {
            b'%' => {
                let hi = path.get(i).copied().and_then(hex);
                let lo = path.get(i + 1).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathRefusal::BadEscape);
                };
                i += 2;
                let decoded = hi * 16 + lo;
                if is_unreserved(decoded) {
                    out.push(decoded);
                } else if is_control(decoded) {
                    return Err(PathRefusal::ControlCharacter);
                } else {
                    escaped_slash |= decoded == b'/' || decoded == b'\\';
                    non_ascii |= decoded >= 0x80;
                    push_escape(&mut out, decoded);
                }
            }
            b'\\' => return Err(PathRefusal::Backslash),
            b' ' => return Err(PathRefusal::ControlCharacter),
            _ if is_control(b) => return Err(PathRefusal::ControlCharacter),
            0x80.. => {
                non_ascii = true;
                push_escape(&mut out, b);
            }
            b'/' if out.last() == Some(&b'/') => {}
            _ => out.push(b),
        }
    }
    if non_ascii && !escapes_are_utf8(&out) {
        return Err(PathRefusal::InvalidUtf8);
    }
    Ok(Spelled {
        bytes: out,
        escaped_slash,
    })
}

/// Every escape decoded (the path holds only valid ones by now), the bytes
/// read as UTF-8. Rust's decoder refuses overlong forms and surrogates.
fn escapes_are_utf8(path: &[u8]) -> bool {
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(hi), Some(lo)) = (hex(path[i + 1]), hex(path[i + 2])) {
                decoded.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        decoded.push(path[i]);
        i += 1;
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// RFC 3986 5.2.4 on an absolute path, except that `..` at the root is an
/// error instead of being dropped.
pub(super) fn remove_dot_segments(path: &[u8]) -> Result<Vec<u8>, PathRefusal> {
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
                    return Err(PathRefusal::AboveRoot);
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
    use crate::policy::testing::assert_refused;

    fn canon(p: &str) -> Result<String, PathRefusal> {
        canonicalize(p.as_bytes())
            .map(|c| String::from_utf8(c.into_bytes().into_owned()).expect("ASCII"))
    }

    /// Asserts that each path canonicalizes to the one beside it.
    fn assert_canon(cases: &[(&str, &str)]) {
        for &(p, want) in cases {
            assert_eq!(canon(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/v1",
            "/v1/",
            "/v1/x.json",
            "/.well-known/x",
            "/..a/b.",
            "/a;b=c",
            "/Admin",
        ] {
            let c = canonicalize(p.as_bytes()).expect(p);
            assert!(c.is_unchanged(), "{p}");
        }
    }

    #[test]
    fn dot_segments_are_resolved() {
        assert_canon(&[
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/public/../admin", "/admin"),
            ("/a/..", "/"),
            ("/.", "/"),
        ]);
    }

    #[test]
    fn slashes_are_merged_before_dot_segments() {
        assert_canon(&[
            ("//admin/x", "/admin/x"),
            ("/a//b///c/", "/a/b/c/"),
            // nginx merges first: `/a//../b` is `/a/../b`, so `/b`.
            ("/a//../b", "/b"),
        ]);
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for p in ["/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "//../x"] {
            assert_eq!(canon(p), Err(PathRefusal::AboveRoot), "{p}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_before_resolving() {
        assert_canon(&[
            ("/%76%31/x", "/v1/x"),
            ("/public/%2e%2E/admin", "/admin"),
            ("/a/%2E/b", "/a/b"),
            ("/%7Euser", "/~user"),
            ("/admin%2e", "/admin."),
        ]);
    }

    #[test]
    fn other_escapes_stay_in_upper_case() {
        assert_canon(&[
            ("/a%3bb", "/a%3Bb"),
            ("/a%20b", "/a%20b"),
            ("/caf%c3%a9/x", "/caf%C3%A9/x"),
        ]);
    }

    #[test]
    fn raw_non_ascii_is_encoded() {
        assert_canon(&[("/café/x", "/caf%C3%A9/x")]);
    }

    #[test]
    fn escaped_slashes_are_kept_and_flagged() {
        let c = canonicalize(b"/x/..%2fadmin").unwrap();
        assert_eq!(c.as_bytes(), b"/x/..%2Fadmin");
        assert!(c.has_escaped_slash());
        assert!(canonicalize(b"/a%5cb").unwrap().has_escaped_slash());
        assert!(!canonicalize(b"/a%3Bb").unwrap().has_escaped_slash());
        // Resolved away with its segment.
        assert!(!canonicalize(b"/a%2F/..").unwrap().has_escaped_slash());
    }

    #[test]
    fn dangerous_spellings_are_refused() {
        assert_refused(
            canon,
            &[
                (
                    PathRefusal::ControlCharacter,
                    &["/admin%00", "/a%0d%0ab", "/a%7f", "/a b"],
                ),
                (PathRefusal::Backslash, &["/admin\\x", "/x\\..\\admin"]),
                (
                    PathRefusal::InvalidUtf8,
                    &["/admin%C0%AF", "/a%ff", "/a%ed%a0%80"],
                ),
                (PathRefusal::BadEscape, &["/a%zz", "/a%4", "/a%"]),
            ],
        );
        assert_eq!(
            canonicalize(b"/caf\xc3").map(|_| ()),
            Err(PathRefusal::InvalidUtf8)
        );
    }

    #[test]
    fn canonical_paths_are_fixed_points() {
        for p in [
            "/a/./b//c/../%64",
            "/caf%c3%a9//x/",
            "/x/..%2fadmin",
            "/%7e/%41%3b",
            "/a/b/%2e%2e/",
        ] {
            let once = canon(p).unwrap();
            assert_eq!(canon(&once).unwrap(), once, "{p}");
            assert!(canonicalize(once.as_bytes()).unwrap().is_unchanged(), "{p}");
        }
    }
}
