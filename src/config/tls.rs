//! TLS certificates that can be replaced on reload: a renewed certificate is
//! picked up by SIGHUP, like nginx, without new sockets.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{load_certs_and_key_files, ClientHello, CryptoProvider, ResolvesServerCert};

/// Load and check a certificate chain and its key. The error names both
/// files and what is wrong, for `server.tls[i].cert` messages.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    pingora::tls::install_default_crypto_provider();
    let (cert_s, key_s) = (cert.to_string_lossy(), key.to_string_lossy());
    let (certs, private_key) = match load_certs_and_key_files(&cert_s, &key_s) {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            return Err(format!(
                "no PEM certificate in {} or no PEM private key (PKCS#8, PKCS#1 or SEC1) in {}",
                cert.display(),
                key.display()
            ))
        }
        Err(e) => {
            return Err(format!(
                "cannot load {} / {}: {e}",
                cert.display(),
                key.display()
            ))
        }
    };
    let provider = CryptoProvider::get_default()
        .ok_or_else(|| "no TLS crypto provider is installed".to_string())?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| format!("unusable private key in {}: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|e| {
        format!(
            "certificate {} does not match key {}: {e}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// The certificate a TLS listener presents, swappable at run time.
pub struct ReloadableCert {
    current: ArcSwap<CertifiedKey>,
}

impl ReloadableCert {
    pub fn new(key: Arc<CertifiedKey>) -> ReloadableCert {
        ReloadableCert {
            current: ArcSwap::new(key),
        }
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReloadableCert")
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
