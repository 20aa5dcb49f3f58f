//! One certificate from the CA: the account (stored, or created), an order
//! for one host, its challenge answered by the gateway's own listeners, and
//! the finalized chain. The protocol itself is instant-acme's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};

use super::failure::{problem_json, Failure};
use super::store::Storage;
use crate::policy::acme::{AcmeSettings, Challenge};
use crate::state::certs::Certificates;

/// The account: the stored one for this directory, else a new one, stored.
pub async fn account(
    settings: &AcmeSettings,
    storage: &Storage,
    retry_after: &super::http::RetryAfter,
) -> Result<Account, Failure> {
    let directory = settings.directory.as_str();
    let stored = storage
        .account(directory)
        .map_err(|e| Failure::new("account", e))?;
    if let Some(value) = stored {
        let credentials: AccountCredentials = serde_json::from_value(value)
            .map_err(|e| Failure::new("account", format!("stored account is corrupt: {e}")))?;
        return super::http::builder(settings, retry_after)?
            .from_credentials(credentials)
            .await
            .map_err(|e| Failure::from_acme(&format!("directory {directory}"), e));
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = settings
        .external_account
        .as_ref()
        .map(|e| ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
    let new = NewAccount {
        contact: &contacts,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = super::http::builder(settings, retry_after)?
        .create(&new, directory.to_string(), eab.as_ref())
        .await
        .map_err(|e| {
            Failure::from_acme(&format!("directory {directory}: creating the account"), e)
        })?;
    let value = serde_json::to_value(&credentials)
        .map_err(|e| Failure::new("account", format!("cannot serialize the account: {e}")))?;
    storage
        .save_account(directory, value)
        .map_err(|e| Failure::new("storage", e))?;
    log::info!("acme: account {} created at {directory}", account.id());
    Ok(account)
}

/// A certificate chain and its key (both PEM) for `host`.
pub async fn obtain(
    account: &Account,
    challenges: &[Challenge],
    certs: &Arc<Certificates>,
    host: &str,
) -> Result<(String, String), Failure> {
    let identifiers = [Identifier::Dns(host.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| Failure::from_acme("new order", e))?;
    let mut cleanup = Cleanup::new(certs);
    answer_challenges(&mut order, challenges, &mut cleanup).await?;
    let retries = RetryPolicy::new()
        .initial_delay(Duration::from_millis(200))
        .timeout(Duration::from_secs(90));
    let status = order
        .poll_ready(&retries)
        .await
        .map_err(|e| Failure::from_acme("waiting for validation", e))?;
    drop(cleanup);
    if status != OrderStatus::Ready {
        return Err(failed_validation(&mut order).await);
    }
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| Failure::from_acme("finalize", e))?;
    let chain = order
        .poll_certificate(&retries)
        .await
        .map_err(|e| Failure::from_acme("downloading the certificate", e))?;
    Ok((chain, key_pem))
}

/// Set up each pending authorization's first offered challenge of ours
/// and tell the CA it is ready.
async fn answer_challenges(
    order: &mut instant_acme::Order,
    challenges: &[Challenge],
    cleanup: &mut Cleanup<'_>,
) -> Result<(), Failure> {
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result.map_err(|e| Failure::from_acme("authorization", e))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(Failure::new(
                    "rejected",
                    format!("the CA's authorization is {other:?}"),
                ))
            }
        }
        let offered: Vec<ChallengeType> =
            authz.challenges.iter().map(|c| c.r#type.clone()).collect();
        let Some(kind) = challenges
            .iter()
            .copied()
            .find(|c| offered.contains(&challenge_type(*c)))
        else {
            return Err(Failure::new(
                "challenge",
                format!("the CA offers none of the configured challenges (it offers {offered:?})"),
            ));
        };
        let mut challenge = authz
            .challenge(challenge_type(kind))
            .ok_or_else(|| Failure::new("challenge", "challenge vanished"))?;
        let host = challenge.identifier().to_string();
        let key_authorization = challenge.key_authorization();
        match kind {
            Challenge::Http01 => cleanup.http(&host, &challenge.token, key_authorization.as_str()),
            Challenge::TlsAlpn01 => cleanup.alpn(&host, key_authorization.digest().as_ref())?,
        }
        log::info!("acme: {host}: answering {}", kind.as_str());
        challenge
            .set_ready()
            .await
            .map_err(|e| Failure::from_acme("challenge", e))?;
    }
    Ok(())
}

fn challenge_type(c: Challenge) -> ChallengeType {
    match c {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

/// The CA's reason an order is invalid: the failed challenge's problem.
async fn failed_validation(order: &mut instant_acme::Order) -> Failure {
    let mut problems = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for c in &authz.challenges {
            if let Some(p) = &c.error {
                problems.push(format!("{:?}: {}", c.r#type, problem_json(p)));
            }
        }
    }
    Failure::new(
        "challenge",
        format!("validation failed: {}", problems.join("; ")),
    )
}

/// The challenge answers set up for one order, removed when it ends.
struct Cleanup<'a> {
    certs: &'a Certificates,
    tokens: Vec<String>,
    hosts: Vec<String>,
}

impl<'a> Cleanup<'a> {
    fn new(certs: &'a Arc<Certificates>) -> Cleanup<'a> {
        Cleanup {
            certs,
            tokens: Vec::new(),
            hosts: Vec::new(),
        }
    }

    fn http(&mut self, host: &str, token: &str, key_authorization: &str) {
        let answer = (host.to_string(), key_authorization.to_string());
        self.certs.set_http_challenge(token, Some(answer));
        self.tokens.push(token.to_string());
    }

    fn alpn(&mut self, host: &str, digest: &[u8]) -> Result<(), Failure> {
        let key = super::challenge_cert::tls_alpn_01(host, digest).map_err(|e| {
            Failure::new(
                "other",
                format!("cannot make the tls-alpn-01 certificate: {e}"),
            )
        })?;
        self.certs.set_alpn_challenge(host, Some(key));
        self.hosts.push(host.to_string());
        Ok(())
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for t in &self.tokens {
            self.certs.set_http_challenge(t, None);
        }
        for h in &self.hosts {
            self.certs.set_alpn_challenge(h, None);
        }
    }
}

/// Seconds until `t`, for messages ("in 59 days").
pub fn until(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::now()).unwrap_or_default()
}
