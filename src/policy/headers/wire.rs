//! A route's security headers as HTTP/1 bytes, built once at load for the
//! answers the front door writes itself (preflights, refused origins): one
//! copy per answer instead of a header-map insert per header, so a longer
//! set (the hardened preset, custom headers) costs next to nothing more.

use bytes::Bytes;
use http::HeaderName;
use pingora::http::ResponseHeader;

use super::Entry;
use crate::policy::header_edit;
use crate::policy::response_head::Lines;

/// Names an answer's own head carries, or that follow the block: a block
/// that set or removed one of them would not be what `apply` does to that
/// head, so such a route keeps the per-answer path.
const ANSWER_NAMES: [&str; 8] = [
    "content-type",
    "content-length",
    "cache-control",
    "vary",
    "connection",
    "x-request-id",
    "allow",
    "date",
];

fn answer_name(name: &str) -> bool {
    ANSWER_NAMES.contains(&name) || name.starts_with("access-control-")
}

/// Whether `remove` would strip a header an answer's own head carries.
pub(super) fn removes_answer_name(remove: &[String]) -> bool {
    remove.iter().any(|n| answer_name(&n.to_ascii_lowercase()))
}

/// The bytes `SecurityHeaders::apply` adds to the head of an answer (the
/// gateway's answers have no case map), in the two spellings a case-less
/// head is written in.
#[derive(Debug, Clone)]
pub struct Block {
    lines: Lines,
    /// What `apply` takes off an upstream's head before the block goes
    /// after it: the names to remove, the block's own names (ours replace
    /// the upstream's), the request id's and, over plain HTTP, the
    /// HTTPS-only ones.
    strip: Box<[HeaderName]>,
    /// One bit per `strip` name (`name_bit`), so that most of an upstream's
    /// fields are passed over without comparing names.
    strip_bits: u64,
}

/// A name's bit in `Block::strip_bits`: from its length and last byte,
/// which tell apart the few names a response usually carries.
fn name_bit(name: &HeaderName) -> u64 {
    let text = name.as_str().as_bytes();
    let last = text.last().copied().unwrap_or(0);
    1 << ((text.len() * 7 + usize::from(last)) % 64)
}

impl Block {
    /// Whether `name` is one `apply` takes off an upstream's head when the
    /// block goes after it.
    pub fn strips(&self, name: &HeaderName) -> bool {
        self.strip_bits & name_bit(name) != 0 && self.strip.contains(name)
    }

    /// The block spelled as a head written with (`title_case`) or without
    /// Title-Case names.
    pub fn fields(&self, title_case: bool) -> &Bytes {
        self.lines.get(title_case)
    }
}

/// The block for `set`, or `None` where a nonce or a name clash makes the
/// headers per-answer. `also_strip`: the names `apply` removes besides the
/// block's own.
pub(super) fn block(set: &[Entry], also_strip: &[HeaderName]) -> Option<Block> {
    let mut head = ResponseHeader::build_no_case(200, Some(set.len())).ok()?;
    for entry in set {
        match entry {
            Entry::Fixed(name, value) if !answer_name(name.header.as_str()) => {
                header_edit::replace_response(&mut head, name, value.clone());
            }
            _ => return None,
        }
    }
    let mut strip: Vec<HeaderName> = head.headers.keys().cloned().collect();
    strip.extend(also_strip.iter().cloned());
    // The request id's line follows the block.
    strip.push(HeaderName::from_static("x-request-id"));
    Some(Block {
        lines: Lines::of(http::response::Parts::from(head).headers),
        strip_bits: strip.iter().fold(0, |bits, name| bits | name_bit(name)),
        strip: strip.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{HeaderSettings, Preset, SecurityHeaders, TABLE};
    use crate::policy::env::Environment;
    use crate::policy::response_head::new_response;

    /// A head's fields as `answer::to_wire` writes them.
    fn fields(head: &pingora::http::ResponseHeader, title_case: bool) -> Vec<u8> {
        let mut wire = bytes::BytesMut::new();
        if title_case {
            pingora::protocols::http::v1::common::title_case_headers_to_wire(
                &head.headers,
                &mut wire,
            );
        } else {
            head.header_to_h1_wire(&mut wire);
        }
        wire.to_vec()
    }

    /// A 403's and a credentialed preflight's heads before the security
    /// headers.
    fn answer_heads() -> [pingora::http::ResponseHeader; 2] {
        let refused = head(
            403,
            &[
                ("vary", "Origin"),
                ("content-type", "text/plain"),
                ("cache-control", "no-store"),
            ],
        );
        let preflight = head(
            204,
            &[
                ("access-control-allow-origin", "https://app.example.com"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET, POST"),
                ("access-control-max-age", "600"),
                ("vary", "Origin"),
                ("content-length", "0"),
            ],
        );
        [refused, preflight]
    }

    /// A caseless head with `fields`, in order.
    fn head(status: u16, fields: &[(&str, &str)]) -> pingora::http::ResponseHeader {
        let mut head = new_response(status, 8);
        for (name, value) in fields {
            head.append_header(name.to_string(), *value).unwrap();
        }
        head
    }

    #[test]
    fn the_block_is_what_apply_adds_to_an_answer() {
        for env in [Environment::Production, Environment::Development] {
            for preset in [Preset::Seed, Preset::Hardened] {
                let mut settings = HeaderSettings::defaults(env, preset);
                settings.custom = vec![("x-team".into(), "edge".into())];
                settings.remove = vec!["Server".into(), "X-Frame-Options".into()];
                let set = SecurityHeaders::build(&settings).unwrap();
                for (https, title_case, mut head) in
                    [(false, false), (false, true), (true, false), (true, true)]
                        .into_iter()
                        .flat_map(|(h, t)| answer_heads().map(|head| (h, t, head)))
                {
                    let before = fields(&head, title_case);
                    set.apply(&mut head, https, None);
                    let after = fields(&head, title_case);
                    let block = set
                        .answer_block(https, title_case)
                        .expect("no nonce, no clash");
                    assert_eq!(
                        String::from_utf8_lossy(&after),
                        String::from_utf8_lossy(&[before, block.to_vec()].concat()),
                        "{env:?} {preset:?} https={https} title_case={title_case}"
                    );
                }
            }
        }
    }

    /// A head's fields as sorted `name: value` lines, `extra` (wire lines)
    /// included.
    fn field_lines(head: &pingora::http::ResponseHeader, extra: &[u8]) -> Vec<String> {
        let wire = [fields(head, false), extra.to_vec()].concat();
        let mut lines: Vec<String> = String::from_utf8_lossy(&wire)
            .lines()
            .map(str::to_ascii_lowercase)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn stripping_an_upstream_head_then_the_block_is_what_apply_does() {
        let mut settings = HeaderSettings::defaults(Environment::Production, Preset::Hardened);
        settings.remove = vec!["Server".into(), "X-Powered-By".into()];
        let set = SecurityHeaders::build(&settings).unwrap();
        for https in [false, true] {
            let upstream = head(
                200,
                &[
                    ("content-type", "text/html"),
                    ("server", "nginx"),
                    ("x-powered-by", "Express"),
                    ("x-frame-options", "ALLOWALL"),
                    ("strict-transport-security", "max-age=0"),
                    ("content-security-policy", "default-src *"),
                    ("x-request-id", "upstream-id"),
                    ("etag", "\"1\""),
                ],
            );
            let mut applied = upstream.clone();
            set.apply(&mut applied, https, None);
            applied.remove_header("x-request-id");
            let block = set.upstream_block(https).unwrap();
            let mut stripped = upstream.clone();
            let names: Vec<_> = stripped.headers.keys().cloned().collect();
            for name in names.iter().filter(|n| block.strips(n)) {
                stripped.remove_header(name);
            }
            assert!(!stripped.headers.contains_key("x-request-id"));
            assert_eq!(
                field_lines(&stripped, block.fields(false)),
                field_lines(&applied, b""),
                "https={https}"
            );
        }
    }

    #[test]
    fn a_nonce_or_a_clash_with_the_answer_keeps_it_per_answer() {
        let base = || HeaderSettings::defaults(Environment::Production, Preset::Seed);
        let mut nonce = base();
        let csp = TABLE
            .iter()
            .position(|r| r.key == "content_security_policy")
            .unwrap();
        nonce.values[csp] = Some("script-src 'nonce-{nonce}'".into());
        let mut custom = base();
        custom.custom = vec![("cache-control".into(), "no-cache".into())];
        let mut remove = base();
        remove.remove = vec!["Content-Type".into()];
        for settings in [nonce, custom, remove] {
            let set = SecurityHeaders::build(&settings).unwrap();
            assert!(
                set.answer_block(false, true).is_none() && set.answer_block(true, true).is_none()
            );
        }
        let plain = SecurityHeaders::build(&base()).unwrap();
        assert!(plain.answer_block(false, true).is_some());
    }
}
