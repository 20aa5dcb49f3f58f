//! `[server.acme]` at run time: stored certificates loaded before the
//! listeners serve, then one background thread that obtains what is missing
//! and renews what is due, with backoff and jitter, swapping each new
//! certificate in for new handshakes. A failure never takes away a
//! certificate that is being served: the old one stays, a WARN carries the
//! CA's problem document, and the metrics and dashboard show it.

mod ari;
mod challenge_cert;
mod describe;
mod failure;
mod http;
pub mod order;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::Account;

pub use self::describe::describe;
use self::failure::Failure;
use self::store::Storage;
use crate::policy::acme::{backoff, renewal_due, AcmeSettings};
use crate::state::SharedState;

/// How long the thread sleeps at most between looks at the plan.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// The longest one issuance (or one renewal-information request) may take
/// before it counts as failed: a CA that stops answering never stalls the
/// renewal of the other hosts for good.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(300);

/// Load what storage holds for every host, then start the renewal thread.
/// Problems are logged (naming the host and the cause); the gateway serves
/// on with whatever it has.
pub fn start(state: &Arc<SharedState>, settings: &AcmeSettings) {
    let storage = Storage::new(&settings.storage);
    if let Err(e) = storage.prepare() {
        log::error!("server.acme.storage: {e}; certificates cannot be stored, so none will be obtained until it is fixed");
    }
    for (path, mode) in storage.loose_permissions(&settings.hosts) {
        log::warn!("server.acme.storage: {} is mode {mode:04o}: others than the service user can reach the keys; chmod go= it", path.display());
    }
    let mut settings = settings.clone();
    settings.hosts.retain(|host| {
        let file = state.file_certificate_covers(host);
        if file {
            log::info!("acme: {host}: a [[server.tls]] cert file names it and wins; no ACME certificate is obtained for it");
        }
        !file
    });
    let plan = load_stored(state, &settings, &storage);
    let state = Arc::clone(state);
    let spawned = std::thread::Builder::new()
        .name("helmgate-acme".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(Renewer::new(state, settings, storage, plan).run()),
                Err(e) => log::error!("acme: cannot start the renewal runtime: {e}"),
            }
        });
    if let Err(e) = spawned {
        log::error!("acme: cannot start the renewal thread: {e}; certificates will not be obtained or renewed");
    }
}

/// When each host is next due: its stored certificate's renewal time, or
/// now when it has none (or an unusable one).
fn load_stored(
    state: &SharedState,
    settings: &AcmeSettings,
    storage: &Storage,
) -> HashMap<String, Due> {
    let now = SystemTime::now();
    let mut plan = HashMap::new();
    for host in &settings.hosts {
        let at = match storage.load(host) {
            Ok(Some(stored)) => {
                log::info!(
                    "acme: {host}: serving the stored certificate (expires in {}s)",
                    order::until(stored.facts.not_after).as_secs()
                );
                let due = renewal_due(
                    stored.facts.not_before,
                    stored.facts.not_after,
                    settings.renew_before,
                );
                install(state, host, stored, due);
                due
            }
            Ok(None) => now,
            Err(e) => {
                log::warn!(
                    "acme: {host}: the stored certificate is unusable ({e}); getting a new one"
                );
                state.metrics.certs.record_failure(host, "storage");
                now
            }
        };
        state
            .certs
            .update_status(host, |s| s.next_attempt = Some(at));
        plan.insert(host.clone(), Due { at, failures: 0 });
    }
    plan
}

fn install(state: &SharedState, host: &str, stored: store::Stored, next: SystemTime) {
    state.metrics.certs.set_expiry(host, stored.facts.not_after);
    state.certs.install(host, stored.key);
    state.certs.update_status(host, |s| {
        s.expires = Some(stored.facts.not_after);
        s.next_attempt = Some(next);
    });
}

#[derive(Debug, Clone, Copy)]
struct Due {
    at: SystemTime,
    /// Failed attempts in a row.
    failures: u32,
}

/// A certificate just issued, and the PEM text it is stored as.
struct Issued {
    stored: store::Stored,
    chain: String,
    key: String,
}

struct Renewer {
    /// Issued certificates whose save failed: saving is retried, ordering
    /// is not.
    unsaved: HashMap<String, (String, String)>,
    state: Arc<SharedState>,
    settings: AcmeSettings,
    storage: Storage,
    plan: HashMap<String, Due>,
    account: Option<Account>,
    /// When to ask the CA's renewal information next, per host with a
    /// certificate; emptied for good when the CA offers none.
    ari: HashMap<String, SystemTime>,
    ari_offered: bool,
    /// The CA's last `Retry-After` (429, 503), taken by the next failure.
    retry_after: http::RetryAfter,
}

impl Renewer {
    fn new(
        state: Arc<SharedState>,
        settings: AcmeSettings,
        storage: Storage,
        plan: HashMap<String, Due>,
    ) -> Renewer {
        // Stored certificates: ask once the gateway has settled.
        let first = SystemTime::now() + Duration::from_secs(60 + fastrand::u64(0..60));
        let ari = plan
            .iter()
            .filter(|(_, d)| d.at > SystemTime::now())
            .map(|(h, _)| (h.clone(), first))
            .collect();
        Renewer {
            state,
            settings,
            storage,
            plan,
            account: None,
            unsaved: HashMap::new(),
            ari,
            ari_offered: true,
            retry_after: http::RetryAfter::default(),
        }
    }

    async fn run(mut self) {
        loop {
            let hosts = self.settings.hosts.clone();
            for host in &hosts {
                let now = SystemTime::now();
                if self.plan.get(host).is_some_and(|d| d.at <= now) {
                    self.attempt(host).await;
                } else if self.ari.get(host).is_some_and(|at| *at <= now) {
                    self.renewal_info(host).await;
                }
            }
            let next = self
                .plan
                .values()
                .map(|d| d.at)
                .chain(self.ari.values().copied())
                .min();
            let wait = next.map_or(MAX_SLEEP, order::until).min(MAX_SLEEP);
            tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
        }
    }

    /// One issuance or renewal of `host` (or, when the last one could not
    /// be stored, one more try to store it), and what it means for the plan.
    async fn attempt(&mut self, host: &str) {
        let due = match self.unsaved.remove(host) {
            Some((chain, key)) => self.store_again(host, chain, key),
            None => self.issue(host).await,
        };
        self.plan.insert(host.to_string(), due);
    }

    async fn issue(&mut self, host: &str) -> Due {
        self.take_retry_after();
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(ATTEMPT_LIMIT, self.obtain(host))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::new(
                    "timeout",
                    format!("no certificate after {}s", ATTEMPT_LIMIT.as_secs()),
                ))
            });
        let now = SystemTime::now();
        let Issued { stored, chain, key } = match result {
            Ok(issued) => issued,
            Err(f) => return self.failed(host, f, now),
        };
        log::info!(
            "acme: {host}: new certificate in {:.1}s, expires in {}s; serving it for new connections",
            started.elapsed().as_secs_f64(),
            order::until(stored.facts.not_after).as_secs()
        );
        let next = renewal_due(
            stored.facts.not_before,
            stored.facts.not_after,
            self.settings.renew_before,
        );
        install(&self.state, host, stored, next);
        if self.ari_offered {
            self.ari
                .insert(host.to_string(), now + Duration::from_secs(6 * 3600));
        }
        if let Err(f) = self.store(host, chain, key) {
            return self.failed(host, f, now);
        }
        self.state
            .certs
            .update_status(host, |s| s.last_result = Some((now, Ok(()))));
        Due {
            at: next,
            failures: 0,
        }
    }

    /// One more try to store what was issued but could not be stored.
    fn store_again(&mut self, host: &str, chain: String, key: String) -> Due {
        let now = SystemTime::now();
        match self.store(host, chain, key) {
            Ok(()) => {
                log::info!("acme: {host}: the certificate is stored now");
                self.state
                    .certs
                    .update_status(host, |s| s.last_result = Some((now, Ok(()))));
                self.renewal_of(host)
            }
            Err(f) => self.failed(host, f, now),
        }
    }

    /// The plan for a host whose certificate in force is stored: renew it
    /// when it is due.
    fn renewal_of(&self, host: &str) -> Due {
        let at = self.state.certs.acme_key(host).and_then(|k| {
            let leaf = k.end_entity_cert().ok()?;
            let facts = crate::config::tls::CertFacts::of(leaf).ok()?;
            Some(renewal_due(
                facts.not_before,
                facts.not_after,
                self.settings.renew_before,
            ))
        });
        Due {
            at: at.unwrap_or_else(SystemTime::now),
            failures: 0,
        }
    }

    fn failed(&mut self, host: &str, f: Failure, now: SystemTime) -> Due {
        let failures = self.plan.get(host).map_or(0, |d| d.failures) + 1;
        let asked = self
            .take_retry_after()
            .max(f.retry_after.unwrap_or_default());
        let counts_at_the_ca = matches!(f.reason, "challenge" | "rejected");
        let wait = backoff(failures, fastrand::f64(), counts_at_the_ca).max(asked);
        let serving = self.state.certs.acme_key(host).is_some();
        log::warn!(
            "acme: {host}: {} failed ({}): {}; {}, next try in {}s",
            if serving { "renewal" } else { "issuance" },
            f.reason,
            f.message,
            if serving {
                "the current certificate keeps serving"
            } else {
                "no certificate to serve for it yet"
            },
            wait.as_secs()
        );
        self.state.metrics.certs.record_failure(host, f.reason);
        if f.reason == "account_unknown" {
            self.storage.forget_account();
        }
        if matches!(
            f.reason,
            "account" | "account_unknown" | "unreachable" | "ca_error"
        ) {
            // Look the account up again next time (the CA may have
            // forgotten it, or the directory moved).
            self.account = None;
        }
        let at = now + wait;
        self.state.certs.update_status(host, |s| {
            s.last_result = Some((now, Err(format!("{}: {}", f.reason, f.message))));
            s.next_attempt = Some(at);
        });
        Due { at, failures }
    }

    /// RFC 9773: move `host`'s renewal earlier if the CA suggests it. Not a
    /// failure when it cannot be asked: renew_before_days stays in charge.
    async fn renewal_info(&mut self, host: &str) {
        let now = SystemTime::now();
        let leaf = self
            .state
            .certs
            .acme_key(host)
            .and_then(|k| k.end_entity_cert().ok().map(|c| c.clone().into_owned()));
        let (Some(leaf), Ok(account)) = (leaf, self.account().await) else {
            self.ari
                .insert(host.to_string(), now + Duration::from_secs(3600));
            return;
        };
        let asked = tokio::time::timeout(ATTEMPT_LIMIT, ari::suggestion(&account, &leaf)).await;
        match asked.unwrap_or_else(|_| Err("no answer".to_string())) {
            Ok(Some((at, again))) => {
                self.ari.insert(host.to_string(), now + again);
                if let Some(due) = self.plan.get_mut(host).filter(|d| at < d.at) {
                    log::info!("acme: {host}: the CA's renewal information suggests renewing now or soon; renewing in {}s", order::until(at).as_secs());
                    due.at = at;
                    self.state
                        .certs
                        .update_status(host, |s| s.next_attempt = Some(at));
                }
            }
            Ok(None) => {
                log::debug!("acme: the CA offers no renewal information (RFC 9773); renewing {} days before expiry", self.settings.renew_before.as_secs() / 86_400);
                self.ari_offered = false;
                self.ari.clear();
            }
            Err(e) => {
                log::debug!("acme: {host}: renewal information unavailable: {e}");
                self.ari
                    .insert(host.to_string(), now + Duration::from_secs(3600));
            }
        }
    }

    /// An order with the configured challenges; when validation fails, a
    /// new order with the challenges after the one that failed, in order.
    async fn each_challenge(
        &self,
        account: &Account,
        host: &str,
    ) -> Result<(String, String), Failure> {
        let all = &self.settings.challenges;
        let mut from = 0;
        loop {
            let tried = &all[from..];
            match order::obtain(account, tried, &self.state.certs, host).await {
                Err(f) if f.reason == "challenge" && from + 1 < all.len() => {
                    log::warn!(
                        "acme: {host}: {} failed: {}; trying {}",
                        tried[0].as_str(),
                        f.message,
                        all[from + 1].as_str()
                    );
                    self.state.metrics.certs.record_failure(host, f.reason);
                    from += 1;
                }
                other => return other,
            }
        }
    }

    /// The CA's `Retry-After` since the last look, if any.
    fn take_retry_after(&self) -> Duration {
        self.retry_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }

    /// The account, looked up (or created) on first use.
    async fn account(&mut self) -> Result<Account, Failure> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let a = order::account(&self.settings, &self.storage, &self.retry_after).await?;
        self.account = Some(a.clone());
        Ok(a)
    }

    async fn obtain(&mut self, host: &str) -> Result<Issued, Failure> {
        self.storage
            .prepare()
            .map_err(|e| Failure::new("storage", e))?;
        let account = self.account().await?;
        let (chain, key) = match self.each_challenge(&account, host).await {
            Err(f) if f.reason == "account_unknown" => {
                // The CA forgot the account (a reset test CA, a deactivated
                // account): make a new one and try again at once.
                log::warn!("acme: {host}: {}; creating a new account", f.message);
                self.storage.forget_account();
                self.account = None;
                let account = self.account().await?;
                self.each_challenge(&account, host).await?
            }
            other => other?,
        };
        let stored = store::Stored::from_pem(host, &chain, &key)
            .map_err(|e| Failure::new("other", format!("the CA's certificate is unusable: {e}")))?;
        Ok(Issued { stored, chain, key })
    }

    /// Store what was issued; kept in memory to retry only the save when it
    /// fails (a full disk), never ordering again meanwhile.
    fn store(&mut self, host: &str, chain: String, key: String) -> Result<(), Failure> {
        match self.storage.save(host, &chain, &key) {
            Ok(()) => {
                self.unsaved.remove(host);
                Ok(())
            }
            Err(e) => {
                self.unsaved.insert(host.to_string(), (chain, key));
                Err(Failure::new(
                    "storage",
                    format!("{e}; the new certificate serves from memory until it is stored"),
                ))
            }
        }
    }
}
