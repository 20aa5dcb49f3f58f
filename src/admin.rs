//! The admin listener: `/metrics`, `/healthz`, `/readyz`. Off unless
//! `[admin] listen` is set, and never on a proxy port.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

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

fn reply(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    let body = body.into();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .body(body)
        .unwrap_or_default()
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

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let text = "text/plain; charset=utf-8";
        match path.as_str() {
            "/metrics" => {
                let policy = self.state.policy();
                reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    self.state.metrics.render(policy.environment.as_str()),
                )
            }
            "/healthz" => reply(StatusCode::OK, text, "ok\n"),
            "/readyz" => {
                let unreachable = unreachable_upstreams(&self.state.policy()).await;
                if unreachable.is_empty() {
                    reply(StatusCode::OK, text, "ready\n")
                } else {
                    reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        text,
                        format!("upstream unreachable: {}\n", unreachable.join(", ")),
                    )
                }
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                text,
                "not found: try /metrics, /healthz or /readyz\n",
            ),
        }
    }
}
