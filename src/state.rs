//! What the running gateway shares across threads: the active policy with
//! the runtime state of its routes (swapped whole on reload), the TLS
//! certificates, the metrics and the dashboard's insight. The validated
//! `Policy` is pure data; counters, limiters and warn-once flags live here.
//!
//! May use: `policy`, `config`, `observe`.

pub mod certs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;

use crate::config::tls::{self, ReloadableCert};
use crate::config::{self, ConfigError, Overrides, Problem};
use crate::observe::blocked_log::BlockedLogLimiter;
use crate::observe::insight::Insight;
use crate::observe::learning::Learning;
use crate::observe::metrics::{Metrics, RouteMetrics};
use crate::policy::env::EnvVars;
use crate::policy::{Policy, ServerSettings};

/// The policy in force and the runtime state that goes with it. Derefs to
/// the `Policy`, so request code reads the model directly.
pub struct Active {
    policy: Policy,
    /// By site index, as `Policy::sites`.
    routes: Vec<RouteState>,
    /// Blocked-origin WARN lines: `[log]`'s rate.
    pub blocked_log: BlockedLogLimiter,
    /// Violation-report lines: `[log]`'s settings, a bucket of their own so
    /// reports can't crowd out blocked-origin lines.
    pub report_log: BlockedLogLimiter,
    /// Refused cross-site request lines (`[fetch_metadata]`): `[log]`'s
    /// settings, a bucket of their own.
    pub fetch_log: BlockedLogLimiter,
    /// Cookie lines (`[cookies]`: prefix-rule violations, malformed
    /// Set-Cookie): a bucket of their own.
    pub cookie_log: BlockedLogLimiter,
}

/// One route's runtime state.
#[derive(Debug)]
pub struct RouteState {
    /// The running counters of the route's name, carried across reloads.
    pub metrics: Arc<RouteMetrics>,
    /// WARN lines this route logs once per configuration.
    warned: [AtomicBool; OnceWarning::COUNT],
}

/// A WARN a route logs once, not per request.
#[derive(Debug, Clone, Copy)]
pub enum OnceWarning {
    NonceMadeUncacheable,
    EncodedHtmlNotRewritten,
}

impl OnceWarning {
    pub const COUNT: usize = 2;
}

impl RouteState {
    /// True the first time only, for each kind of warning.
    pub fn warn_once(&self, w: OnceWarning) -> bool {
        !self.warned[w as usize].swap(true, Ordering::Relaxed)
    }
}

impl Active {
    /// The policy with fresh limiters and warn-once flags, and each route
    /// on the running counters of its name.
    pub fn new(policy: Policy, metrics: &Metrics) -> Active {
        let routes = policy
            .sites
            .iter()
            .map(|site| RouteState {
                metrics: metrics.route(&site.name),
                warned: Default::default(),
            })
            .collect();
        let (burst, per_minute) = (
            policy.log.blocked_origin_burst,
            policy.log.blocked_origin_per_minute,
        );
        Active {
            policy,
            routes,
            blocked_log: BlockedLogLimiter::new(burst, per_minute),
            report_log: BlockedLogLimiter::new(burst, per_minute),
            fetch_log: BlockedLogLimiter::new(burst, per_minute),
            cookie_log: BlockedLogLimiter::new(burst, per_minute),
        }
    }

    /// The runtime state of `Policy::sites[site]`.
    pub fn route(&self, site: usize) -> &RouteState {
        &self.routes[site]
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl std::ops::Deref for Active {
    type Target = Policy;

    fn deref(&self) -> &Policy {
        &self.policy
    }
}

pub struct SharedState {
    policy: ArcSwap<Active>,
    pub metrics: Metrics,
    config_path: PathBuf,
    overrides: Overrides,
    in_flight: AtomicUsize,
    /// The certificate of each running TLS listener, replaced on reload.
    certificates: Mutex<Vec<(SocketAddr, Arc<ReloadableCert>)>>,
    /// The certificates served per SNI (files, then ACME) and the ACME
    /// challenges in flight.
    pub certs: Arc<certs::Certificates>,
    /// Rate limit for the lines about refused request heads: one bucket,
    /// so a flood from anywhere yields a bounded number of lines.
    pub client_log: BlockedLogLimiter,
    /// Rate limit for the WARN about an upstream that is not there
    /// (`upstream_hint`): a few lines, then one every 10 s.
    pub upstream_log: BlockedLogLimiter,
    /// Top-K tables, the last hour, the last reports: for the dashboard.
    pub insight: Insight,
    /// What reports and CORS refusals taught, by route name: kept across
    /// reloads, saved to `[learning] state_file`.
    pub learning: Learning,
    config_history: Mutex<ConfigHistory>,
}

/// When the running policy was loaded, and how the last reload went.
#[derive(Debug, Clone)]
pub struct ConfigHistory {
    pub loaded_at: SystemTime,
    pub last_reload: Option<ReloadOutcome>,
}

#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    pub at: SystemTime,
    /// `Err` holds the problems, as the ERROR line lists them.
    pub result: Result<(), String>,
}

/// What changed on reload that only a restart can apply.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub needs_restart: Vec<String>,
    pub certificates_reloaded: usize,
}

type Renewal = (Arc<ReloadableCert>, Arc<CertifiedKey>);

impl SharedState {
    pub fn new(policy: Policy, config_path: PathBuf, overrides: Overrides) -> SharedState {
        let metrics = Metrics::default();
        let active = Active::new(policy, &metrics);
        SharedState {
            policy: ArcSwap::from_pointee(active),
            metrics,
            config_path,
            overrides,
            in_flight: AtomicUsize::new(0),
            certificates: Mutex::new(Vec::new()),
            certs: Arc::default(),
            client_log: BlockedLogLimiter::new(20, 60),
            upstream_log: BlockedLogLimiter::new(3, 6),
            insight: Insight::default(),
            learning: Learning::default(),
            config_history: Mutex::new(ConfigHistory {
                loaded_at: SystemTime::now(),
                last_reload: None,
            }),
        }
    }

    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    pub fn config_history(&self) -> ConfigHistory {
        lock(&self.config_history).clone()
    }

    pub fn policy(&self) -> Arc<Active> {
        self.policy.load_full()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// List every running cert file's names, source and expiry for the
    /// dashboard and `helmgate_certificate_expiry_seconds` (at start and
    /// after a reload re-read them).
    pub fn note_file_certificates(&self, server: &ServerSettings) {
        for (listen, cert) in lock(&self.certificates).iter() {
            let files = server.tls.iter().find(|t| t.listen == *listen);
            let (Some(f), Some(facts)) = (files.and_then(|t| t.files.as_ref()), cert.facts())
            else {
                continue;
            };
            for name in &facts.names {
                self.metrics.certs.set_expiry(name, facts.not_after);
                self.certs.update_status(name, |s| {
                    s.source = certs::Source::File(f.cert.display().to_string());
                    s.expires = Some(facts.not_after);
                });
            }
        }
    }

    /// Whether a `[[server.tls]]` cert file names `host`: it wins over ACME.
    pub fn file_certificate_covers(&self, host: &str) -> bool {
        lock(&self.certificates).iter().any(|(_, c)| c.covers(host))
    }

    pub fn register_certificate(&self, listen: SocketAddr, cert: Arc<ReloadableCert>) {
        lock(&self.certificates).push((listen, cert));
    }

    /// Count a request as in flight until the guard drops, so a graceful
    /// shutdown can exit as soon as the last one is done.
    pub fn track_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Re-read the file and the environment; swap the policy only if all of
    /// it is valid. Socket-level settings keep their old values until
    /// restart; certificates of running TLS listeners are re-read.
    pub fn reload(&self) -> Result<ReloadReport, ConfigError> {
        let result = self.prepare_reload();
        self.metrics.record_reload(result.is_ok());
        let now = SystemTime::now();
        {
            let mut history = lock(&self.config_history);
            history.last_reload = Some(ReloadOutcome {
                at: now,
                result: result.as_ref().map(|_| ()).map_err(ToString::to_string),
            });
            if result.is_ok() {
                history.loaded_at = now;
            }
        }
        let (new, renewals, report) = result?;
        for (resolver, key) in renewals {
            resolver.replace(key);
        }
        self.note_file_certificates(&new.server);
        self.policy.store(Arc::new(Active::new(new, &self.metrics)));
        Ok(report)
    }

    fn prepare_reload(&self) -> Result<(Policy, Vec<Renewal>, ReloadReport), ConfigError> {
        let mut new =
            config::load_file(&self.config_path, self.overrides, &EnvVars::from_process())?;
        let renewals =
            self.load_certificates(&new.server)
                .map_err(|message| ConfigError::Invalid {
                    path: self.config_path.clone(),
                    problems: vec![Problem {
                        key: "server.tls".into(),
                        location: None,
                        file: None,
                        message,
                    }],
                })?;
        let old = self.policy();
        let mut report = ReloadReport {
            certificates_reloaded: renewals.len(),
            ..ReloadReport::default()
        };
        if new.server.acme != old.server.acme {
            report
                .needs_restart
                .push(acme_change(&old.server, &new.server));
        }
        if !same_sockets(&new.server, &old.server) {
            let acme_only = ServerSettings {
                acme: old.server.acme.clone(),
                ..new.server.clone()
            };
            if !same_sockets(&acme_only, &old.server) {
                report.needs_restart.push(
                    "[server] (listeners, threads, buffers and limits are fixed at start; the running values stay)".into(),
                );
            }
            new.server = old.server.clone();
        }
        if new.admin_listen != old.admin_listen {
            new.admin_listen = old.admin_listen;
            report.needs_restart.push("admin.listen".into());
            if new.admin_token.is_none() && old.admin_token.is_some() {
                // The running listener was validated with a token: keep it.
                new.admin_token = old.admin_token.clone();
            }
        }
        Ok((new, renewals, report))
    }

    /// Load the new certificate of every running TLS listener.
    fn load_certificates(&self, server: &ServerSettings) -> Result<Vec<Renewal>, String> {
        let running = lock(&self.certificates);
        let mut out = Vec::new();
        for (listen, resolver) in running.iter() {
            let files = server.tls.iter().find(|t| t.listen == *listen);
            if let Some(f) = files.and_then(|t| t.files.as_ref()) {
                let key = tls::load_certified_key(&f.cert, &f.key)
                    .map_err(|e| format!("{listen}: {e}"))?;
                out.push((Arc::clone(resolver), key));
            }
        }
        Ok(out)
    }
}

pub struct InFlight(Arc<SharedState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Equal apart from certificate files, which a reload applies.
/// What changed in `[server.acme]` (its hosts default to the routes'),
/// which the running renewer keeps until a restart.
fn acme_change(old: &ServerSettings, new: &ServerSettings) -> String {
    let hosts = |s: &ServerSettings| s.acme.as_ref().map(|a| a.hosts.clone()).unwrap_or_default();
    let (before, after) = (hosts(old), hosts(new));
    let added: Vec<&str> = after
        .iter()
        .filter(|h| !before.contains(h))
        .map(String::as_str)
        .collect();
    if added.is_empty() {
        "[server.acme] (the certificate manager's settings are fixed at start)".into()
    } else {
        format!(
            "[server.acme] hosts (new: {}; they get no certificate of their own until then)",
            added.join(", ")
        )
    }
}

fn same_sockets(a: &ServerSettings, b: &ServerSettings) -> bool {
    let listens = |s: &ServerSettings| s.tls.iter().map(|t| t.listen).collect::<Vec<_>>();
    let without_tls = |s: &ServerSettings| ServerSettings {
        tls: Vec::new(),
        ..s.clone()
    };
    listens(a) == listens(b) && without_tls(a) == without_tls(b)
}
