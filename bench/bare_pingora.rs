//! A bare Pingora proxy: the baseline that helmgate's own cost is measured
//! against (issue 13). It only proxies: no CORS, no security headers, no
//! X-Forwarded-*, no request id, no access log, no front door. Everything else
//! is set up the way helmgate's `src/server.rs` sets it up, so the difference
//! between the two is what helmgate adds on top of the framework:
//!
//! - the same vendored Pingora, release profile (fat LTO) and dependency build
//!   (it is a cargo example of the helmgate crate; never installed or packaged);
//! - `L4BufferSettings` of 4096/4096 bytes (helmgate's default
//!   `server.connection_buffer_bytes`);
//! - `threads` (default 1) and `work_stealing` (default false), as helmgate's
//!   benchmark configuration;
//! - `keepalive_request_limit = 10000`, `max_retries = 2`;
//! - an upstream peer built once, with helmgate's default timeouts (connect 5 s,
//!   read/write/idle 60 s), cloned into a `Box` per request.
//!
//! `--header-case canonical` runs Pingora's own HTTP/1 connection loop with one
//! change, as helmgate runs by default (`[server] preserve_header_case =
//! false`): no header-name case map per request head, header names written
//! in canonical form. That is the like-for-like baseline for helmgate's GET;
//! the default, `preserve`, is stock Pingora (and helmgate-keepcase's match).
//!
//! One difference is left in on purpose: Pingora's default client keep-alive
//! is unlimited in time; helmgate closes an idle client connection after
//! `keepalive_timeout_secs` (60). `--keepalive-timeout-secs N` sets the same
//! through `early_request_filter` (the only other hook), to measure what that
//! timer costs.
//!
//! ```sh
//! cargo build --release --example bare_pingora
//! target/release/examples/bare_pingora --listen 127.0.0.1:8080 --upstream 127.0.0.1:3000
//! ```
//!
//! SIGINT and SIGTERM end the process at once (a benchmark target has nothing
//! to drain).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ServerApp};
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::proxy::{http_proxy, ProxyHttp, Session};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora::services::listening::Service;
use pingora::upstreams::peer::HttpPeer;
use pingora::Result;
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str = "usage: bare_pingora --listen ADDR --upstream ADDR [--threads N] \
[--work-stealing true|false] [--buffer-bytes N] [--keepalive-timeout-secs N] \
[--header-case preserve|canonical]";

/// The command line as given.
struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    work_stealing: bool,
    buffer_bytes: usize,
    keepalive_timeout_secs: Option<u64>,
    /// Keep each head's header-name case (stock Pingora) or not.
    preserve_header_case: bool,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> std::result::Result<Args, String> {
    let (mut listen, mut upstream) = (None, None);
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        upstream: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: 1,
        work_stealing: false,
        buffer_bytes: 4096,
        keepalive_timeout_secs: None,
        preserve_header_case: true,
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag}: {value:?} is not {what}");
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|_| bad("an IP:PORT"))?),
            "--upstream" => upstream = Some(value.parse().map_err(|_| bad("an IP:PORT"))?),
            "--threads" => args.threads = value.parse().map_err(|_| bad("a count"))?,
            "--work-stealing" => args.work_stealing = value.parse().map_err(|_| bad("a bool"))?,
            "--buffer-bytes" => args.buffer_bytes = value.parse().map_err(|_| bad("a size"))?,
            "--keepalive-timeout-secs" => {
                args.keepalive_timeout_secs = Some(value.parse().map_err(|_| bad("seconds"))?)
            }
            "--header-case" => {
                args.preserve_header_case = match value.as_str() {
                    "preserve" => true,
                    "canonical" => false,
                    _ => return Err(bad("preserve or canonical")),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    args.listen = listen.ok_or("--listen is required")?;
    args.upstream = upstream.ok_or("--upstream is required")?;
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(args)
}

/// Proxies every request to one upstream; nothing else.
struct Bare {
    peer: HttpPeer,
    keepalive_timeout_secs: Option<u64>,
}

impl Bare {
    fn new(upstream: SocketAddr, keepalive_timeout_secs: Option<u64>) -> Bare {
        // helmgate's defaults (src/config/upstream.rs, src/policy.rs).
        let mut peer = HttpPeer::new(upstream, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        peer.options.total_connection_timeout = Some(Duration::from_secs(5));
        peer.options.read_timeout = Some(Duration::from_secs(60));
        peer.options.write_timeout = Some(Duration::from_secs(60));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Bare {
            peer,
            keepalive_timeout_secs,
        }
    }
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<()> {
        if let Some(secs) = self.keepalive_timeout_secs {
            session.set_keepalive(Some(secs));
        }
        Ok(())
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }
}

/// Pingora's HTTP/1 connection loop (pingora-core apps/mod.rs, `impl
/// ServerApp for T`, its HTTP/1 branch) with every session told not to keep
/// header-name case, as helmgate's front door tells it.
struct CanonicalCase<A>(Arc<A>);

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for CanonicalCase<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut session = ServerSession::new_http1(stream);
        session.set_keepalive((!*shutdown.borrow()).then_some(60));
        let limit = self
            .0
            .server_options()
            .and_then(|o| o.keepalive_request_limit);
        session.set_keepalive_reuses_remaining(limit);
        session.set_preserve_header_case(false);
        let mut result = self.0.process_new_http(session, shutdown).await;
        while let Some((stream, persistent)) = result.map(|r| r.consume()) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(persistent) = persistent {
                persistent.apply_to_session(&mut session);
            }
            session.set_preserve_header_case(false);
            result = self.0.process_new_http(session, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.0.http_cleanup().await;
    }
}

/// SIGINT/SIGTERM: exit now.
struct ExitOnSignal;

#[async_trait]
impl ShutdownSignalWatch for ExitOnSignal {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("bare_pingora: cannot install signal handlers; stop it with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        std::process::exit(0)
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare_pingora: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let conf = ServerConf {
        threads: args.threads,
        work_stealing: args.work_stealing,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        max_retries: 2,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();

    let mut options = HttpServerOptions::default();
    options.keepalive_request_limit = Some(10_000);
    let mut app = http_proxy(
        &server.configuration,
        Bare::new(args.upstream, args.keepalive_timeout_secs),
    );
    app.server_options = Some(options);
    let listener = ListenerConfig::tcp(args.listen.to_string())
        .l4_buffer(L4BufferSettings::new(args.buffer_bytes, args.buffer_bytes));
    let name = "bare pingora proxy".to_string();
    if args.preserve_header_case {
        let mut service = Service::new(name, app);
        service.add_listener(listener);
        server.add_service(service);
    } else {
        let mut service = Service::new(name, CanonicalCase(Arc::new(app)));
        service.add_listener(listener);
        server.add_service(service);
    }
    eprintln!(
        "bare_pingora: {} -> {}, {} thread(s), work_stealing {}, header case {}",
        args.listen,
        args.upstream,
        args.threads,
        args.work_stealing,
        if args.preserve_header_case {
            "preserved"
        } else {
            "canonical"
        }
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(ExitOnSignal),
    });
    ExitCode::SUCCESS
}
