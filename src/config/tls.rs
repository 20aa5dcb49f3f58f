//! TLS certificates that can be replaced on reload: a renewed certificate is
//! picked up by SIGHUP, like nginx, without new sockets.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::CertificateDer;
use pingora::tls::{load_certs_and_key_files, ClientHello, CryptoProvider, ResolvesServerCert};
use rustls::pki_types::pem::PemObject;

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
    certified(certs, private_key, &cert.display(), &key.display())
}

/// The same from PEM text in memory (a certificate just issued, before it
/// is stored).
pub fn certified_key_from_pem(chain: &[u8], key: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    pingora::tls::install_default_crypto_provider();
    let certs = pem_certificates(chain)?;
    let private_key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("no PEM private key: {e}"))?;
    certified(certs, private_key, &"the new certificate", &"its key")
}

/// A chain and its key as rustls signs with them, checked to belong
/// together; `cert` and `key` name them in messages.
fn certified(
    certs: Vec<CertificateDer<'static>>,
    private_key: rustls::pki_types::PrivateKeyDer<'static>,
    cert: &dyn fmt::Display,
    key: &dyn fmt::Display,
) -> Result<Arc<CertifiedKey>, String> {
    let provider = CryptoProvider::get_default()
        .ok_or_else(|| "no TLS crypto provider is installed".to_string())?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| format!("unusable private key in {key}: {e}"))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified
        .keys_match()
        .map_err(|e| format!("certificate {cert} does not match key {key}: {e}"))?;
    Ok(Arc::new(certified))
}

/// The certificate a TLS listener presents, swappable at run time, with the
/// names it covers.
pub struct ReloadableCert {
    current: ArcSwap<(Arc<CertifiedKey>, Vec<String>)>,
}

impl ReloadableCert {
    pub fn new(key: Arc<CertifiedKey>) -> ReloadableCert {
        ReloadableCert {
            current: ArcSwap::from_pointee(with_names(key)),
        }
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        self.current.store(Arc::new(with_names(key)));
    }

    pub fn key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.load().0)
    }

    /// Whether the certificate names `host` (lower-case).
    pub fn covers(&self, host: &str) -> bool {
        let current = self.current.load();
        covers(&current.1, host)
    }

    /// The facts of the certificate now served, if it parses.
    pub fn facts(&self) -> Option<CertFacts> {
        let current = self.current.load();
        current
            .0
            .end_entity_cert()
            .ok()
            .and_then(|c| CertFacts::of(c).ok())
    }
}

fn with_names(key: Arc<CertifiedKey>) -> (Arc<CertifiedKey>, Vec<String>) {
    let names = key
        .end_entity_cert()
        .ok()
        .and_then(|c| CertFacts::of(c).ok())
        .map(|f| f.names)
        .unwrap_or_default();
    (key, names)
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReloadableCert")
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }
}

/// Every PEM certificate in a file, in order; the error names the file.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    pem_certificates(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every certificate in PEM text, in order.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))
}

/// What a leaf certificate says about itself: the DNS names it covers and
/// when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// Subject alternative DNS names, lower-case (`*.example.com` kept).
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl CertFacts {
    pub fn of(der: &CertificateDer<'_>) -> Result<CertFacts, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let time = |t: x509_parser::time::ASN1Time| {
            let secs = t.timestamp();
            if secs >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
            } else {
                SystemTime::UNIX_EPOCH
            }
        };
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                    names.push(d.to_ascii_lowercase());
                }
            }
        }
        Ok(CertFacts {
            names,
            not_before: time(cert.validity().not_before),
            not_after: time(cert.validity().not_after),
        })
    }

    /// Whether the certificate covers `host` (lower-case).
    pub fn covers(&self, host: &str) -> bool {
        covers(&self.names, host)
    }
}

/// Whether certificate `names` cover `host` (lower-case), a wildcard
/// covering one label.
fn covers(names: &[String], host: &str) -> bool {
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => n == host,
    })
}
