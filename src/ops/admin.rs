//! The admin listener: the dashboard (`/`), `/status.json`, `/metrics`,
//! `/healthz`, `/readyz`. Off unless `[admin] listen` is set, and never on a
//! proxy port. With a token (required beyond loopback), every path but
//! `/healthz` needs `Authorization: Bearer <token>`. Only a Host naming the
//! listener is answered (`admin_host`: DNS rebinding), else 421. It
//! answers every request itself (`edge::answering`), so its answers carry
//! the security headers and a malformed request gets the gateway's own 400.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use http::header::{HeaderName, HeaderValue};
use http::{header, Method, Version};
use pingora::proxy::Session;

use crate::edge::answer::Answer;
use crate::edge::answering::Answering;
use crate::edge::listener::Listener;
use crate::edge::request::RequestFacts;
use crate::edge::request_id::{self, X_REQUEST_ID};
use crate::ops::dashboard;
use crate::policy::cors;
use crate::policy::header_edit::Name;
use crate::policy::Policy;
use crate::state::SharedState;

pub struct Admin {
    state: Arc<SharedState>,
}

impl Admin {
    pub fn new(state: Arc<SharedState>) -> Admin {
        Admin { state }
    }
}

/// Every upstream a route uses that does not accept a TCP connection within
/// 2 s, as `name (address)`. All are tried at once.
async fn unreachable_upstreams(policy: &Policy) -> Vec<String> {
    let probes: Vec<_> = policy
        .upstreams
        .iter()
        .map(|u| {
            let addr = u.settings.address;
            let name = u.name.clone();
            tokio::spawn(async move {
                let connect = tokio::net::TcpStream::connect(addr);
                match tokio::time::timeout(Duration::from_secs(2), connect).await {
                    Ok(Ok(_)) => None,
                    _ => Some(format!("{name} ({addr})")),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for probe in probes {
        if let Ok(Some(failed)) = probe.await {
            out.push(failed);
        }
    }
    out
}

/// One admin answer: status, content type, body and headers of its own.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

const TEXT: &str = "text/plain; charset=utf-8";

fn text(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: TEXT,
        body: body.as_bytes().to_vec(),
        headers: Vec::new(),
    }
}

impl Admin {
    async fn route(&self, method: &Method, path: &str, authorization: Option<&[u8]>) -> Reply {
        if method != Method::GET && method != Method::HEAD {
            return text(
                405,
                "method not allowed: the admin listener answers GET and HEAD\n",
            );
        }
        let policy = self.state.policy();
        if path != "/healthz" {
            if let Some(refused) = unauthorized(&policy, authorization) {
                return refused;
            }
        }
        match path {
            "/" => self.dashboard(),
            "/status.json" => {
                let status = dashboard::status(&self.state, Instant::now(), SystemTime::now());
                reply(
                    200,
                    "application/json",
                    dashboard::json(&status).into_bytes(),
                )
            }
            "/metrics" => self.metrics(&policy),
            "/healthz" => text(200, "ok\n"),
            "/readyz" => {
                let unreachable = unreachable_upstreams(&policy).await;
                if unreachable.is_empty() {
                    text(200, "ready\n")
                } else {
                    text(
                        503,
                        &format!("upstream unreachable: {}\n", unreachable.join(", ")),
                    )
                }
            }
            _ => text(
                404,
                "not found: try / (dashboard), /status.json, /metrics, /healthz or /readyz\n",
            ),
        }
    }

    /// The dashboard page, under its own CSP.
    fn dashboard(&self) -> Reply {
        let status = dashboard::status(&self.state, Instant::now(), SystemTime::now());
        let mut page = reply(
            200,
            "text/html; charset=utf-8",
            dashboard::html(&status).into_bytes(),
        );
        page.headers.push((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&dashboard::CSP)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        ));
        page
    }

    /// Prometheus text, with each route's CORS mode.
    fn metrics(&self, policy: &Policy) -> Reply {
        let modes: Vec<(&str, cors::CorsMode)> = policy
            .sites
            .iter()
            .map(|s| (&*s.name, s.cors.mode()))
            .collect();
        let text = self
            .state
            .metrics
            .render(policy.environment.as_str(), &modes);
        reply(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            text.into_bytes(),
        )
    }
}

/// The 401 for a request without the `[admin] token`, if one is set.
fn unauthorized(policy: &Policy, authorization: Option<&[u8]>) -> Option<Reply> {
    let token = policy.admin_token.as_ref()?;
    if token.authorizes(authorization) {
        return None;
    }
    let mut refused = text(
        401,
        "unauthorized: send Authorization: Bearer <the [admin] token>\n",
    );
    refused.headers.push((
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"helmgate admin\""),
    ));
    Some(refused)
}

fn reply(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
    Reply {
        status,
        content_type,
        body,
        headers: Vec::new(),
    }
}

/// Whether the request names this listener: its IP address (the socket's,
/// or the configured one), `localhost`, or an `[admin] hosts` entry, in the
/// Host header and in an absolute-form target alike. A DNS-rebinding page
/// can only send its own name, so anything else is refused, `/healthz` too.
fn host_allowed(session: &Session, policy: &Policy) -> bool {
    let req = session.req_header();
    let mut local: Vec<IpAddr> = Vec::with_capacity(2);
    if let Some(addr) = session.server_addr().and_then(|a| a.as_inet()) {
        local.push(addr.ip());
    }
    if let Some(addr) = policy.admin_listen.filter(|a| !a.ip().is_unspecified()) {
        local.push(addr.ip());
    }
    let http10 = req.version <= Version::HTTP_10;
    let allows = |host: Option<&[u8]>| policy.admin_hosts.allows(host, http10, &local);
    let target_ok = req
        .uri
        .authority()
        .is_none_or(|a| allows(Some(a.as_str().as_bytes())));
    target_ok && allows(req.headers.get(header::HOST).map(HeaderValue::as_bytes))
}

const CACHE_CONTROL: Name = Name::from_static("cache-control");
const ALLOW: Name = Name::from_static("allow");

#[async_trait]
impl Answering for Admin {
    const LISTENER: Listener = Listener::Admin;

    fn state(&self) -> &SharedState {
        &self.state
    }

    async fn answer(&self, session: &mut Session) -> Answer {
        let policy = self.state.policy();
        let req = session.req_header();
        let authorization = req
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let reply = if host_allowed(session, &policy) {
            self.route(&req.method, req.uri.path(), authorization).await
        } else {
            text(
                421,
                "misdirected request: the admin listener answers only a Host that is its IP address, localhost or a name in [admin] hosts\n",
            )
        };
        let mut facts = RequestFacts::early(None, false);
        facts.request_id = request_id::keep_or_generate(req.headers.get(X_REQUEST_ID));
        let mut answer = Answer::new(reply.status, reply.content_type, reply.body)
            .with(&CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if reply.status == 405 {
            answer = answer.with(&ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        // The admin listener is plain HTTP: the top-level headers, never HSTS.
        answer = answer.decorated(policy.default_site(), &facts);
        for (name, value) in reply.headers {
            answer = answer.with(&Name::new(name), value);
        }
        answer
    }
}
