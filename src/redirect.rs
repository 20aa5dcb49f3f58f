//! Plain-HTTP listeners that send every request to HTTPS with a 308, carrying
//! the security headers (never HSTS: it means nothing over plain HTTP).

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::origin::{Host, Origin};
use crate::state::SharedState;

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

#[async_trait]
impl ServeHttp for HttpsRedirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let policy = self.state.policy();
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .map(|h| h.as_bytes().to_vec());
        let path = req
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let target = host.and_then(|h| location(&h, &path, policy.https_port()));
        let mut builder = Response::builder();
        let body: Vec<u8> = match &target {
            Some(url) => {
                builder = builder
                    .status(StatusCode::PERMANENT_REDIRECT)
                    .header("location", url.as_str());
                b"Moved to HTTPS\n".to_vec()
            }
            None => {
                builder = builder.status(StatusCode::BAD_REQUEST);
                b"Bad Request: missing or invalid Host\n".to_vec()
            }
        };
        let mut resp = builder
            .header("content-type", "text/plain; charset=utf-8")
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default();
        let mut head = crate::cors::new_response(resp.status().as_u16(), 8);
        policy.default_site().headers.apply(&mut head, false);
        for (name, value) in head.headers.iter() {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
        resp
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
