//! What the running gateway shares across threads: the current policy (swapped
//! whole on reload) and the metrics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{self, ConfigError, Overrides};
use crate::env::EnvVars;
use crate::metrics::Metrics;
use crate::policy::Policy;

pub struct SharedState {
    policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    config_path: PathBuf,
    overrides: Overrides,
    in_flight: AtomicUsize,
}

/// What changed on reload that only a restart can apply.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub needs_restart: Vec<String>,
}

impl SharedState {
    pub fn new(policy: Policy, config_path: PathBuf, overrides: Overrides) -> SharedState {
        SharedState {
            policy: ArcSwap::from_pointee(policy),
            metrics: Metrics::default(),
            config_path,
            overrides,
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Count a request as in flight until the guard drops, so a graceful
    /// shutdown can exit as soon as the last one is done.
    pub fn track_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Re-read the file and the environment; swap the policy only if all of
    /// it is valid. Socket-level settings keep their old values until restart.
    pub fn reload(&self) -> Result<ReloadReport, ConfigError> {
        let result = config::load_file(&self.config_path, self.overrides, &EnvVars::from_process());
        let mut new = match result {
            Ok(p) => p,
            Err(e) => {
                self.metrics.record_reload(false);
                return Err(e);
            }
        };
        let old = self.policy();
        let mut report = ReloadReport::default();
        if new.server != old.server {
            new.server = old.server.clone();
            report.needs_restart.push(
                "[server] (listeners, TLS, threads, buffers and limits are fixed at start; the running values stay)".into(),
            );
        }
        if new.admin_listen != old.admin_listen {
            new.admin_listen = old.admin_listen;
            report.needs_restart.push("admin.listen".into());
        }
        self.policy.store(Arc::new(new));
        self.metrics.record_reload(true);
        Ok(report)
    }
}

pub struct InFlight(Arc<SharedState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
