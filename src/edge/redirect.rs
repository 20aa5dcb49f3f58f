//! Plain-HTTP listeners that send every request to HTTPS with a 308, carrying
//! the security headers (never HSTS: it means nothing over plain HTTP).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use pingora::proxy::Session;

use crate::edge::answer::{Answer, TEXT};
use crate::edge::answering::Answering;
use crate::edge::listener::Listener;
use crate::edge::request::{self, RequestFacts};
use crate::policy::acme::HTTP01_PREFIX;
use crate::policy::header_edit::Name;
use crate::policy::origin::{Host, Origin};
use crate::state::SharedState;

/// Answers every request with a 308 to its HTTPS URL (400 without a usable
/// Host).
pub struct HttpsRedirect {
    state: Arc<SharedState>,
}

impl HttpsRedirect {
    pub fn new(state: Arc<SharedState>) -> HttpsRedirect {
        HttpsRedirect { state }
    }
}

/// The redirect target, or `None` when the Host is missing or not a host.
pub fn location(
    host_header: &[u8],
    path_and_query: &str,
    https_port: Option<u16>,
) -> Option<String> {
    // Parse through the origin parser so only a clean host reaches Location.
    let mut probe = b"http://".to_vec();
    probe.extend_from_slice(host_header);
    let origin = Origin::parse_bytes(&probe).ok()?;
    let host = match origin.host() {
        Host::Name(n) => n.to_string(),
        Host::V4(ip) => ip.to_string(),
        Host::V6(ip) => format!("[{ip}]"),
    };
    let port = match https_port {
        Some(443) | None => String::new(),
        Some(p) => format!(":{p}"),
    };
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    Some(format!("https://{host}{port}{path}"))
}

const LOCATION: Name = Name::from_static("location");

/// The key authorization of an HTTP-01 challenge in flight for this path,
/// when the request's Host is the host it is for.
fn http01_answer(state: &SharedState, path: &str, host: Option<&HeaderValue>) -> Option<String> {
    let token = path.strip_prefix(HTTP01_PREFIX)?;
    let host = host?.to_str().ok()?;
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    state.certs.http_challenge(token, name)
}

#[async_trait]
impl Answering for HttpsRedirect {
    const LISTENER: Listener = Listener::Redirect;

    fn state(&self) -> &SharedState {
        &self.state
    }

    async fn answer(&self, session: &mut Session) -> Answer {
        let policy = self.state.policy();
        let (peer, _) = request::connection_of(session.as_downstream());
        let req = session.req_header();
        let mut facts = RequestFacts::compute(&policy, peer, false, req);
        // HSTS means nothing over plain HTTP.
        facts.https = false;
        let host = req.headers.get(header::HOST);
        if let Some(key_authorization) = http01_answer(&self.state, req.uri.path(), host) {
            // RFC 8555 8.3: the CA fetches the key authorization over plain
            // HTTP, before any redirect.
            return Answer::new(200, TEXT, Bytes::from(key_authorization))
                .decorated(&policy.sites[facts.site], &facts);
        }
        let target = req.headers.get(header::HOST).and_then(|h| {
            let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
            location(h.as_bytes(), path, policy.https_port())
                .and_then(|url| HeaderValue::from_str(&url).ok())
        });
        let answer = match target {
            Some(url) => {
                Answer::new(308, TEXT, Bytes::from_static(b"Moved to HTTPS\n")).with(&LOCATION, url)
            }
            None => Answer::new(
                400,
                TEXT,
                Bytes::from_static(b"Bad Request: missing or invalid Host\n"),
            ),
        };
        answer.decorated(&policy.sites[facts.site], &facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_443_is_omitted() {
        assert_eq!(
            location(b"example.com", "/a?b=1", Some(443)).as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert_eq!(
            location(b"example.com:80", "/", Some(8443)).as_deref(),
            Some("https://example.com:8443/")
        );
    }

    #[test]
    fn a_bad_host_gets_no_redirect() {
        assert_eq!(location(b"evil.com/@x", "/", Some(443)), None);
        assert_eq!(location(b"", "/", Some(443)), None);
    }
}
