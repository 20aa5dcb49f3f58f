//! The front door's fast path: a CORS preflight from an allowed origin, or a
//! request from a refused one, never goes upstream, so the gateway answers
//! it straight from the head it has just read, without building Pingora's
//! session, context and hooks around it. Same facts, same answer, same
//! counters and log lines as the hook path (`edge`); only the plainest
//! heads qualify, everything else goes to Pingora as usual.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Version};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::edge::answer::{self, Answer};
use crate::edge::connection::ConnectionTokens;
use crate::edge::request::{Head, RequestFacts, Verdict};
use crate::edge::verdict::{self, Seen};
use crate::policy::header_edit::{self, Name};
use crate::state::{Active, SharedState};

/// What the fast path made of a head.
pub enum Outcome {
    /// The gateway's own answer: write it.
    Answered(FastAnswer),
    /// For Pingora, with the request's facts already worked out; the hooks
    /// take them instead of computing them again. With the parsed head
    /// where the session can take it (`Plain::prepared`).
    Prepared(Box<Prepared>, Option<Parsed>),
    /// For Pingora, as it is.
    Pass,
}

/// A plain head's facts, under the policy they were computed with (a
/// reload in between must not pair them with another policy's routes).
pub struct Prepared {
    pub policy: Arc<Active>,
    pub facts: RequestFacts,
    pub started: Instant,
}

/// A head parsed as Pingora's `read_request` would parse it, for the
/// session to take instead of parsing the bytes again
/// (`ServerSession::set_parsed_request`).
pub struct Parsed {
    /// The head's bytes, up to and including the blank line.
    pub head: Bytes,
    pub header: Box<RequestHeader>,
}

/// An answer ready for the wire.
pub struct FastAnswer {
    pub wire: Bytes,
    /// How many bytes of the buffer the request took (what follows is the
    /// next pipelined request).
    pub consumed: usize,
    /// The client asked to close after this response.
    pub close: bool,
}

/// An origin-form target the `http` crate's `Uri` takes as it is, without
/// a fragment (which Pingora strips) or bytes Pingora would escape or refuse.
fn plain_target(target: &[u8]) -> bool {
    target.first() == Some(&b'/')
        && target
            .iter()
            .all(|&b| matches!(b, 0x21..=0x7e) && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'`'))
}

const CONNECTION: Name = Name::from_static("connection");

/// The answer to `buf`'s first request if the gateway makes it itself and
/// the head is plain enough to answer without Pingora: HTTP/1.1, a plain
/// path target, one `Host` (without userinfo), no body, no
/// `Transfer-Encoding`, `Expect` or `Upgrade`, and `Connection` at most
/// `keep-alive` or `close`. Anything else goes to Pingora, whose checks then
/// apply as usual. `keep_alive`: whether the connection may stay open after
/// this answer.
pub fn answer(
    state: &Arc<SharedState>,
    buf: &[u8],
    peer: Option<IpAddr>,
    tls: bool,
    keep_alive: bool,
) -> Outcome {
    let started = Instant::now();
    let _in_flight = state.track_request();
    let Some(plain) = Plain::parse(buf) else {
        return Outcome::Pass;
    };
    let policy = state.policy();
    let facts = plain.facts(&policy, peer, tls);
    if !matches!(
        facts.verdict(),
        Verdict::Preflight(_) | Verdict::CorsRefused(_) | Verdict::FetchRefused(_)
    ) {
        return plain.prepared(Prepared {
            policy,
            facts,
            started,
        });
    }
    let seen = Seen {
        method: plain.method.as_str(),
        target: plain.target(),
        headers: &plain.headers,
    };
    let Some(Answer { mut head, body }) = verdict::own_answer(state, &policy, &facts, &seen) else {
        return Outcome::Pass;
    };
    let close = plain.close || !keep_alive;
    let body: &[u8] = if plain.method == Method::HEAD {
        b""
    } else {
        &body
    };
    let wire = wire(&policy, &facts, &mut head, body, close);
    verdict::finish(
        state,
        &policy,
        &facts,
        &verdict::Finished {
            status: head.status.as_u16(),
            upstream_status: None,
            body_bytes: body.len(),
            elapsed: started.elapsed(),
            seen,
        },
    );
    Outcome::Answered(FastAnswer {
        wire,
        consumed: plain.consumed,
        close,
    })
}

/// The answer's bytes: the route's security headers as its pre-built block
/// where it has one, else decorated header by header; and the `Connection`
/// Pingora's session would add.
fn wire(
    policy: &Active,
    facts: &RequestFacts,
    head: &mut ResponseHeader,
    body: &[u8],
    close: bool,
) -> Bytes {
    let connection = if close { "close" } else { "keep-alive" };
    let site = &policy.sites[facts.site];
    let title_case = !policy.server.preserve_header_case;
    match site.headers.answer_block(facts.https, title_case) {
        Some(block) => {
            answer::to_wire_with_block(head, block, &facts.request_id, connection, body, title_case)
        }
        None => {
            answer::decorate(head, site, facts);
            header_edit::insert_response(head, &CONNECTION, HeaderValue::from_static(connection));
            answer::to_wire(head, body, title_case)
        }
    }
}

/// A head plain enough for the fast path, parsed.
struct Plain {
    method: Method,
    /// The head, shared by the target and every header value.
    head: Bytes,
    target: std::ops::Range<usize>,
    /// Where the query starts in the target, if it has one.
    query_at: Option<usize>,
    headers: HeaderMap,
    consumed: usize,
    /// The client asked to close after this response.
    close: bool,
}

impl Plain {
    /// The request's facts, as the hooks would compute them from this head.
    fn facts(&self, policy: &Active, peer: Option<IpAddr>, tls: bool) -> RequestFacts {
        RequestFacts::from_head(
            policy,
            peer,
            tls,
            &Head {
                method: &self.method,
                path: self.path(),
                query: self.query(),
                origin_form: true,
                headers: &self.headers,
                authority: None,
            },
        )
    }

    /// For Pingora: the facts, and the parsed head unless the session keeps
    /// header-name case (then Pingora parses the head itself, to record each
    /// name's spelling).
    fn prepared(self, prepared: Prepared) -> Outcome {
        let parsed = if prepared.policy.server.preserve_header_case {
            None
        } else {
            self.into_parsed()
        };
        Outcome::Prepared(Box::new(prepared), parsed)
    }

    /// The head as Pingora's session would have parsed it without a case
    /// map: the same method, target, version and fields.
    fn into_parsed(self) -> Option<Parsed> {
        let target = &self.head[self.target.clone()];
        // No headers reserved here: the map below replaces the empty one.
        let header = RequestHeader::build_no_case(self.method, target, Some(0)).ok()?;
        // A plain target serializes from the `Uri`, so the round trip
        // through the parts keeps it as sent.
        let mut parts = http::request::Parts::from(header);
        parts.version = Version::HTTP_11;
        parts.headers = self.headers;
        Some(Parsed {
            head: self.head,
            header: Box::new(RequestHeader::from(parts)),
        })
    }

    fn target(&self) -> &[u8] {
        &self.head[self.target.clone()]
    }

    fn path(&self) -> &[u8] {
        let t = self.target();
        &t[..self.query_at.unwrap_or(t.len())]
    }

    fn query(&self) -> &[u8] {
        let t = self.target();
        &t[self.query_at.unwrap_or(t.len())..]
    }

    fn parse(buf: &[u8]) -> Option<Plain> {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut fields);
        let httparse::Status::Complete(consumed) = req.parse(buf).ok()? else {
            return None;
        };
        if req.version != Some(1) {
            return None;
        }
        let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
        let target = req.path?.as_bytes();
        if !plain_target(target) {
            return None;
        }
        let offset = |part: &[u8]| part.as_ptr() as usize - buf.as_ptr() as usize;
        // One copy of the head, shared by every header value.
        let head = Bytes::copy_from_slice(&buf[..consumed]);
        let (headers, close) = plain_fields(req.headers, &head, buf.as_ptr() as usize)?;
        let start = offset(target);
        Some(Plain {
            method,
            target: start..start + target.len(),
            query_at: target.iter().position(|&b| b == b'?'),
            head,
            headers,
            consumed,
            close,
        })
    }
}

/// Free room in a request's header map. Its table is sized to the entries
/// it can take, and a lookup of a name it doesn't hold (Pingora and the
/// hooks ask for a dozen a request rarely has) stops at the first free slot:
/// in a table filled to the brim it probes much further.
const SPARE_SLOTS: usize = 4;

/// The head's fields (values sharing `head`, which starts at address
/// `base` in the parsed buffer), and whether the client asked to close.
/// `None` for a head the fast path leaves to Pingora: a body, an upgrade,
/// hop-by-hop nominations, anything but exactly one `Host`.
fn plain_fields(
    fields: &[httparse::Header<'_>],
    head: &Bytes,
    base: usize,
) -> Option<(HeaderMap, bool)> {
    let mut headers = HeaderMap::with_capacity(fields.len() + SPARE_SLOTS);
    let (mut hosts, mut lengths) = (0, 0);
    let mut connection = ConnectionTokens::default();
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        if name == header::TRANSFER_ENCODING || name == header::EXPECT || name == header::UPGRADE {
            return None;
        }
        if name == header::CONTENT_LENGTH {
            lengths += 1;
            if lengths > 1 || field.value.trim_ascii() != b"0" {
                return None;
            }
        }
        if name == header::CONNECTION {
            connection.add(field.value);
            if connection.other {
                // Hop-by-hop nominations are Pingora's to judge.
                return None;
            }
        }
        if name == header::HOST {
            hosts += 1;
            if field.value.contains(&b'@') {
                return None;
            }
        }
        let start = field.value.as_ptr() as usize - base;
        let value = head.slice(start..start + field.value.len());
        headers.append(name, HeaderValue::from_maybe_shared(value).ok()?);
    }
    let ConnectionTokens {
        close, keep_alive, ..
    } = connection;
    (hosts == 1 && !(close && keep_alive)).then_some((headers, close))
}

#[cfg(test)]
mod tests {
    use super::{plain_target, Plain};
    use pingora::http::RequestHeader;

    /// What Pingora's own HTTP/1 session parses from `head`, read from a
    /// real socket.
    async fn pingora_parses(head: &[u8]) -> RequestHeader {
        let (mut session, _client) = crate::edge::testing::session_after(head).await;
        session.set_preserve_header_case(false);
        assert!(session.read_request().await.unwrap());
        session.req_header().clone()
    }

    /// A head as the session writes it upstream and the hooks read it.
    fn described(req: &RequestHeader) -> String {
        let mut fields: Vec<String> = req
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.as_bytes().escape_ascii()))
            .collect();
        fields.insert(
            0,
            format!(
                "{} {} {:?} {} case-map={}",
                req.method,
                req.uri,
                req.version,
                req.raw_path().escape_ascii(),
                req.has_case()
            ),
        );
        fields.join("\n")
    }

    /// The fast path hands Pingora's session the head it parsed
    /// (`set_parsed_request`, patch 0007) instead of letting it parse the
    /// bytes again: it must be the head Pingora would have parsed. If a
    /// Pingora upgrade parses differently, this fails until `Plain` follows.
    #[tokio::test]
    async fn the_handed_over_head_is_the_one_pingora_parses() {
        let heads: [&[u8]; 3] = [
            b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: a.example\r\nOrigin: https://app.example.com\r\nUser-Agent: t/1\r\nX-Custom: 1\r\nx-custom: 2\r\nX-Bytes: caf\xe9\r\n\r\n",
            b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
            b"DELETE /{json}?q=a|b HTTP/1.1\r\nhost: a:8080\r\nAccept:  */* \r\n\r\n",
        ];
        for head in heads {
            let ours = Plain::parse(head)
                .and_then(Plain::into_parsed)
                .expect("a plain head");
            assert_eq!(&ours.head[..], head);
            assert_eq!(
                described(&ours.header),
                described(&pingora_parses(head).await),
                "{}",
                head.escape_ascii()
            );
        }
    }

    #[test]
    fn only_targets_the_uri_takes_as_they_are_are_plain() {
        for plain in ["/", "/a/b?x=1&y=%20", "/{json}?q=a|b"] {
            assert!(plain_target(plain.as_bytes()), "{plain}");
        }
        for odd in [
            "*",
            "http://a/",
            "/a#frag",
            "/a b",
            "/a\"b",
            "/<x>",
            "/caf\u{e9}",
            "",
        ] {
            assert!(!plain_target(odd.as_bytes()), "{odd}");
        }
    }
}
