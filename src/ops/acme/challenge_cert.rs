//! RFC 8737's TLS-ALPN-01 answer: a self-signed certificate for the host
//! with the critical acmeIdentifier extension holding the SHA-256 of the key
//! authorization, served to a handshake offering ALPN `acme-tls/1`.

use std::sync::Arc;

use pingora::tls::sign::CertifiedKey;
use pingora::tls::{CertificateDer, CryptoProvider, PrivateKeyDer};
use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;

pub fn tls_alpn_01(host: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(vec![host.to_string()]).map_err(|e| e.to_string())?;
    params
        .custom_extensions
        .push(CustomExtension::new_acme_identifier(digest));
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    pingora::tls::install_default_crypto_provider();
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider is installed")?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signing,
    )))
}
