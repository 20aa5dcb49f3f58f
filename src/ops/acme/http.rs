//! The ACME client's HTTPS: the platform verifier (instant-acme's default)
//! plus `ca_roots` when set, over the same hyper/rustls stack; and the CA's
//! `Retry-After` on a 429 or 503, which instant-acme's errors do not carry,
//! kept for the renewal backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, AccountBuilder, BodyWrapper, BytesResponse, Error, HttpClient};

use super::failure::Failure;
use crate::policy::acme::AcmeSettings;

/// How long one request to the CA may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// The last `Retry-After` the CA sent with a 429 or 503.
pub type RetryAfter = Arc<Mutex<Option<Duration>>>;

pub fn builder(
    settings: &AcmeSettings,
    retry_after: &RetryAfter,
) -> Result<AccountBuilder, Failure> {
    let roots = match &settings.ca_roots {
        Some(path) => crate::config::tls::read_pem_certificates(path)
            .map_err(|e| Failure::new("other", format!("server.acme.ca_roots: {e}")))?,
        None => Vec::new(),
    };
    pingora::tls::install_default_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| Failure::new("other", "no TLS crypto provider is installed"))?;
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, Arc::clone(&provider))
            .map_err(|e| Failure::new("other", format!("the ACME client's TLS: {e}")))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::new("other", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Account::builder_with_http(Box::new(Recording {
        inner: Box::new(client),
        retry_after: Arc::clone(retry_after),
    })))
}

/// An HTTP client that notes the CA's `Retry-After`.
struct Recording {
    inner: Box<dyn HttpClient>,
    retry_after: RetryAfter,
}

impl HttpClient for Recording {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let what = format!("{} {}", req.method(), req.uri());
        let response = self.inner.request(req);
        let slot = Arc::clone(&self.retry_after);
        Box::pin(async move {
            // A CA that takes the connection and never answers must not
            // hold the attempt (and every host after it) for minutes.
            let rsp = tokio::time::timeout(REQUEST_LIMIT, response)
                .await
                .map_err(|_| {
                    let secs = REQUEST_LIMIT.as_secs();
                    Error::Other(format!("no answer from the CA within {secs}s to {what}").into())
                })??;
            if matches!(rsp.parts.status.as_u16(), 429 | 503) {
                let wait = rsp
                    .parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                *slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = wait;
            }
            Ok(rsp)
        })
    }
}

/// RFC 9110 `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.as_second().max(0) as u64);
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
