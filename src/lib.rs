//! helmgate: a Pingora reverse proxy that enforces CORS at the edge and adds
//! security headers to every response. The pure policy modules (origin, cors,
//! headers, forwarded, vary) need no session, so tests and benches call them
//! directly; `proxy` and `server` are the thin Pingora runtime around them.

pub mod access_log;
pub mod admin;
pub mod admin_host;
pub mod answer;
pub mod auth;
pub mod authority;
pub mod blocked_log;
pub mod cli;
pub mod client_rate;
pub mod config;
pub mod cors;
pub mod csp;
pub mod dashboard;
pub mod describe;
pub mod edge;
pub mod env;
pub mod fast;
pub mod forwarded;
pub mod framing;
pub mod front;
pub mod header_edit;
pub mod headers;
pub mod healthcheck;
pub mod insight;
pub mod log_files;
pub mod logfmt;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod nonce;
pub mod origin;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod redirect;
pub mod refusal;
pub mod reports;
pub mod request;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;
pub mod topk;
pub mod upstream_hint;
pub mod vary;
