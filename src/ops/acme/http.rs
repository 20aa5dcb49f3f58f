//! The ACME client's HTTPS: instant-acme's default (the platform's roots),
//! or, with `ca_roots`, the platform verifier plus those roots.

use std::sync::Arc;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, AccountBuilder, BodyWrapper};

use super::failure::Failure;
use crate::policy::acme::AcmeSettings;

pub fn builder(settings: &AcmeSettings) -> Result<AccountBuilder, Failure> {
    let Some(path) = &settings.ca_roots else {
        return Account::builder().map_err(|e| {
            Failure::new("other", format!("cannot set up the ACME client's TLS: {e}"))
        });
    };
    let roots = crate::config::tls::read_pem_certificates(path)
        .map_err(|e| Failure::new("other", format!("server.acme.ca_roots: {e}")))?;
    pingora::tls::install_default_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| Failure::new("other", "no TLS crypto provider is installed"))?;
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, Arc::clone(&provider))
            .map_err(|e| Failure::new("other", format!("server.acme.ca_roots: {e}")))?;
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
    Ok(Account::builder_with_http(Box::new(client)))
}
