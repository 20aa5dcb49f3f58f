//! Building and running the Pingora server from a `Policy`: listeners, the
//! proxy service, the optional admin and redirect services, and signals.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::proxy::{http_proxy, HttpProxy, ProxyHttp};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::listening::Service;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::tls::ReloadableCert;
use crate::edge::answering::AnsweringProxy;
use crate::edge::front::FrontDoor;
use crate::edge::listener::Listener;
use crate::edge::proxy::Gateway;
use crate::edge::redirect::HttpsRedirect;
use crate::ops::admin::Admin;
use crate::ops::signals;
use crate::policy::acme::{Challenge, ACME_TLS_ALPN};
use crate::policy::{Policy, TlsListener};
use crate::state::certs::SniResolver;
use crate::state::SharedState;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Take the listening sockets from a running helmgate (zero-downtime upgrade).
    pub upgrade: bool,
    pub upgrade_sock: String,
}

/// Every listener of the policy with the config key that sets it.
fn listen_addresses(policy: &Policy) -> Vec<(String, SocketAddr)> {
    let s = &policy.server;
    s.listen
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("server.listen[{i}]"), *a))
        .chain(
            s.tls
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("server.tls[{i}].listen"), t.listen)),
        )
        .chain(
            s.https_redirect_listen
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("server.https_redirect_listen[{i}]"), *a)),
        )
        .chain(policy.admin_listen.map(|a| ("admin.listen".to_string(), a)))
        .collect()
}

/// Bind-test every address before Pingora does, because Pingora retries a
/// busy address for 30 s and then panics in the service's thread while the
/// rest of the process runs on; this names the key and address and stops
/// start-up. All are held at once, so two listeners that overlap fail here
/// too. When taking over from a running helmgate (`upgrade`) an address in
/// use is expected (the old process holds it); other errors still count.
pub fn check_binds(policy: &Policy, upgrade: bool) -> Result<(), String> {
    let mut held = Vec::new();
    for (key, addr) in listen_addresses(policy) {
        match TcpListener::bind(addr) {
            Ok(listener) => held.push(listener),
            Err(e) if upgrade && e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => {
                return Err(format!(
                    "{key}: cannot listen on {addr}: {e} (is another process or listener using it? ports below 1024 need CAP_NET_BIND_SERVICE)"
                ))
            }
        }
    }
    Ok(())
}

/// Pingora builds a service's listeners in a task of that service and
/// panics when one fails (at once, or after 30 s of retries when the
/// address is in use), leaving the process running without that listener.
/// Turn that panic into an ERROR naming the key and address, and exit 1 so
/// a supervisor sees the failure. Other panics keep the previous hook.
pub fn exit_if_a_listener_fails(policy: &Policy) {
    let addresses = listen_addresses(policy);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        let Some(cause) = message.strip_prefix(PINGORA_LISTENER_PANIC) else {
            return previous(info);
        };
        log::error!("{}", listener_failure(cause, &addresses));
        crate::observe::access_log::flush();
        std::process::exit(1);
    }));
}

/// Whether `text` names `addr` (`127.0.0.1:80` is not named by
/// `127.0.0.1:8080`).
fn mentions(text: &str, addr: SocketAddr) -> bool {
    let addr = addr.to_string();
    text.match_indices(&addr)
        .any(|(i, _)| !text[i + addr.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// How `pingora_core::services::listening` words the panic when it cannot
/// build a service's listeners (0.9: `.expect("Failed to build listeners")`).
const PINGORA_LISTENER_PANIC: &str = "Failed to build listeners";

/// The ERROR line for a listener Pingora could not build, naming the
/// listeners whose address its error mentions.
fn listener_failure(cause: &str, addresses: &[(String, SocketAddr)]) -> String {
    let named: Vec<String> = addresses
        .iter()
        .filter(|(_, a)| mentions(cause, *a))
        .map(|(k, a)| format!("{k} = {a}"))
        .collect();
    let which = if named.is_empty() {
        "a listener".to_string()
    } else {
        named.join(", ")
    };
    format!(
        "{which}: cannot listen, exiting rather than running without it (is another process using the address?): {}",
        cause.trim_start_matches(':').trim()
    )
}

fn listener(addr: SocketAddr, policy: &Policy) -> ListenerConfig {
    let buf = policy.server.connection_buffer_bytes;
    ListenerConfig::tcp(addr.to_string()).l4_buffer(L4BufferSettings::new(buf, buf))
}

/// Run until a signal stops the server. Returns only after a graceful or fast
/// shutdown, or exits the process once the last request has drained.
pub fn run(state: Arc<SharedState>, options: RunOptions) -> Result<(), String> {
    let policy = state.policy();
    let mut server = pingora_server(&policy, &options);

    let mut options = HttpServerOptions::default();
    options.keepalive_request_limit = Some(10_000);
    // Pingora keeps an idle HTTP/2 connection forever unless told.
    options.h2_idle_timeout = Some(policy.server.keepalive_timeout.max(Duration::from_secs(1)));
    let mut gateway = http_proxy(&server.configuration, Gateway::new(Arc::clone(&state)));
    gateway.server_options = Some(options.clone());
    let mut proxy = service_of(&state, "helmgate proxy", gateway, Listener::Proxy);
    for addr in &policy.server.listen {
        proxy.add_listener(listener(*addr, &policy));
    }
    for t in &policy.server.tls {
        proxy.add_listener(tls_listener(&state, &policy, t)?);
    }
    state.note_file_certificates(&policy.server);
    server.add_service(proxy);

    if let Some(addr) = policy.admin_listen {
        let mut app = http_proxy(
            &server.configuration,
            AnsweringProxy(Admin::new(Arc::clone(&state))),
        );
        app.server_options = Some(options.clone());
        let mut admin = service_of(&state, "helmgate admin", app, Listener::Admin);
        admin.add_tcp(&addr.to_string());
        admin.threads = Some(1);
        server.add_service(admin);
    }
    if !policy.server.https_redirect_listen.is_empty() {
        let mut app = http_proxy(
            &server.configuration,
            AnsweringProxy(HttpsRedirect::new(Arc::clone(&state))),
        );
        app.server_options = Some(options.clone());
        let mut redirect = service_of(&state, "helmgate https redirect", app, Listener::Redirect);
        for addr in &policy.server.https_redirect_listen {
            redirect.add_listener(listener(*addr, &policy));
        }
        redirect.threads = Some(1);
        server.add_service(redirect);
    }

    if let Some(acme) = &policy.server.acme {
        crate::ops::acme::start(&state, acme);
    }
    exit_when_drained(&server, Arc::clone(&state), policy.server.grace_period);
    flush_report_log(Arc::clone(&state));
    crate::ops::learning::spawn_saver(Arc::clone(&state));
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals(Arc::clone(&state))),
    });
    crate::ops::learning::save_now(&state);
    crate::observe::access_log::flush();
    Ok(())
}

/// Pingora's server, bootstrapped (or taking the sockets of the process it
/// upgrades), with the settings from `[server]`.
fn pingora_server(policy: &Policy, options: &RunOptions) -> Server {
    let conf = ServerConf {
        threads: policy.server.threads,
        work_stealing: policy.server.work_stealing,
        grace_period_seconds: Some(policy.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: options.upgrade_sock.clone(),
        max_retries: 2,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    server
}

/// A TLS listener choosing its certificate per SNI: its files (swapped on
/// reload) win for the names they cover, then what `[server.acme]`
/// obtained. With TLS-ALPN-01, `acme-tls/1` joins the ALPN list so the
/// CA's validation handshake is accepted.
fn tls_listener(
    state: &SharedState,
    policy: &Policy,
    t: &TlsListener,
) -> Result<ListenerConfig, String> {
    let file = match &t.files {
        Some(f) => {
            let key = crate::config::tls::load_certified_key(&f.cert, &f.key)
                .map_err(|e| format!("server.tls {}: {e}", t.listen))?;
            let cert = Arc::new(ReloadableCert::new(key));
            state.register_certificate(t.listen, Arc::clone(&cert));
            Some(cert)
        }
        None => None,
    };
    let resolver = Arc::new(SniResolver {
        file,
        table: Arc::clone(&state.certs),
    });
    let mut tls =
        TlsSettings::intermediate("", "").map_err(|e| format!("server.tls {}: {e}", t.listen))?;
    tls.set_cert_resolver(resolver);
    let mut alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let alpn_challenge = policy
        .server
        .acme
        .as_ref()
        .is_some_and(|a| a.challenges.contains(&Challenge::TlsAlpn01));
    if alpn_challenge {
        alpn.push(ACME_TLS_ALPN.to_vec());
    }
    tls.set_alpn_protocols(alpn);
    Ok(listener(t.listen, policy).tls(tls))
}

/// A listening service: the app behind the front door.
fn service_of<SV>(
    state: &Arc<SharedState>,
    name: &str,
    app: HttpProxy<SV>,
    listener: Listener,
) -> Service<FrontDoor<HttpProxy<SV>>>
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    Service::new(
        name.to_string(),
        FrontDoor::new(Arc::new(app), Arc::clone(state), listener),
    )
}

/// Pingora sleeps the whole grace period on SIGTERM even when nothing is in
/// flight. Once the listeners are closed, exit as soon as the last request
/// finishes (the grace period stays the upper bound).
fn exit_when_drained(server: &Server, state: Arc<SharedState>, grace: Duration) {
    let mut phases = server.watch_execution_phase();
    thread::spawn(move || {
        loop {
            match phases.blocking_recv() {
                Ok(ExecutionPhase::ShutdownGracePeriod) => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
        let started = std::time::Instant::now();
        // A connection accepted just before the listeners closed may still be
        // starting its request: require two idle checks in a row.
        let mut idle_checks = 0;
        while started.elapsed() < grace {
            if state.in_flight() == 0 {
                idle_checks += 1;
                if idle_checks >= 2 {
                    log::info!(
                        "graceful shutdown: no requests in flight after {:?}; exiting",
                        started.elapsed()
                    );
                    crate::ops::learning::save_now(&state);
                    crate::observe::access_log::flush();
                    std::process::exit(0);
                }
            } else {
                idle_checks = 0;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
}

/// Every few seconds, write the violation log's summaries of a minute that
/// has ended (repeats are counted, not logged one by one), even when no new
/// report arrives to trigger it.
fn flush_report_log(state: Arc<SharedState>) {
    let spawned = thread::Builder::new()
        .name("helmgate-reports".into())
        .spawn(move || loop {
            thread::sleep(Duration::from_secs(5));
            let policy = state.policy();
            state
                .insight
                .flush(std::time::Instant::now(), &policy.report_log);
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the report log thread: {e}; repeated violations are summarised only when the next report arrives");
    }
}

/// SIGTERM: graceful stop. SIGINT: fast stop. SIGQUIT: hand the listening
/// sockets to a new process (`--upgrade`), then drain. SIGHUP is handled by
/// the reload thread.
struct Signals(Arc<SharedState>);

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            log::error!("cannot install signal handlers; stop helmgate with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => {
                // Pingora's own fast shutdown can hang: an accept loop that
                // sees "runtime is being shut down" retries without yielding,
                // logging an ERROR each time (seen once here: 4.7 GB of log in
                // 13 minutes, process never exited). A fast stop drops
                // in-flight requests either way, so end the process directly.
                log::info!("SIGINT received: fast stop");
                crate::ops::learning::save_now(&self.0);
                crate::observe::access_log::flush();
                std::process::exit(0)
            }
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
        }
    }
}

/// Reload on SIGHUP, on a thread of its own so a slow reload never blocks
/// requests. Installed before the server starts serving, because SIGHUP's
/// default action would kill the process.
pub fn install_reload_handler(state: Arc<SharedState>) -> Result<(), String> {
    signals::on_signal(
        SignalKind::hangup(),
        "SIGHUP",
        "helmgate-reload",
        move || reload(&state),
    )
}

/// One reload: the new policy in force, or the running one kept and the
/// error logged.
fn reload(state: &SharedState) {
    crate::observe::access_log::flush();
    match state.reload() {
        Ok(report) => {
            let policy = state.policy();
            crate::observe::log_files::configure(&policy.log);
            log::info!(
                    "configuration reloaded: environment {}, {} route(s), {} allowed origin(s) at top level, {} TLS certificate(s) re-read",
                    policy.environment,
                    policy.router.table().len(),
                    policy.default_site().cors.settings().allowed_origins.len(),
                    report.certificates_reloaded
                );
            for w in &policy.warnings {
                log::warn!("{w}");
            }
            for item in report.needs_restart {
                log::warn!("reload: {item} changed but needs a restart to apply");
            }
        }
        Err(e) => {
            log::error!("reload failed, keeping the running configuration: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_pingora_could_not_build_is_named_by_key_and_address() {
        let addresses = vec![
            (
                "server.listen[0]".to_string(),
                "127.0.0.1:8080".parse().unwrap(),
            ),
            (
                "admin.listen".to_string(),
                "127.0.0.1:9901".parse().unwrap(),
            ),
        ];
        let cause = r#": Error { etype: BindError, context: Some(Owned("bind() failed, after retries, 127.0.0.1:9901 still in use")) }"#;
        let line = listener_failure(cause, &addresses);
        assert!(
            line.starts_with("admin.listen = 127.0.0.1:9901: cannot listen"),
            "{line}"
        );
        assert!(line.contains("still in use"), "{line}");
        assert!(listener_failure(": other", &addresses).starts_with("a listener: "));
        let on_8080 = listener_failure(": bind() failed on 127.0.0.1:80801", &addresses);
        assert!(on_8080.starts_with("a listener: "), "{on_8080}");
    }

    /// `exit_if_a_listener_fails` recognises Pingora's panic by its text;
    /// if a Pingora upgrade rewords it, a failed listener would leave the
    /// process running without it again.
    #[test]
    fn pingora_still_panics_with_the_text_the_hook_matches() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vendor/pingora-core/src/services/listening.rs");
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (is Pingora still vendored?)", path.display()));
        let expected = format!(".expect(\"{PINGORA_LISTENER_PANIC}\")");
        assert!(
            source.contains(&expected),
            "{} no longer panics with `{expected}` when it cannot build a service's listeners: \
             find how it fails now and update PINGORA_LISTENER_PANIC and \
             exit_if_a_listener_fails in src/server.rs",
            path.display()
        );
    }
}
