//! The certificates the running gateway serves, chosen per SNI: the files of
//! `[[server.tls]]` win for the names they cover, then what `[server.acme]`
//! obtained; and the ACME challenges in flight (TLS-ALPN-01 certificates,
//! HTTP-01 key authorizations). A renewed certificate is swapped in for new
//! handshakes; open connections keep theirs.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, ResolvesServerCert};

use crate::config::tls::ReloadableCert;
use crate::policy::acme::ACME_TLS_ALPN;

/// Where a host's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `[[server.tls]]` cert file.
    File(String),
    Acme,
}

/// One certificate's state, for the dashboard and `/status.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStatus {
    pub source: Source,
    /// When the certificate now served expires (`None`: none yet).
    pub expires: Option<SystemTime>,
    /// The last issuance or renewal: when, and its error if it failed.
    pub last_result: Option<(SystemTime, Result<(), String>)>,
    /// When the next attempt is planned (ACME only).
    pub next_attempt: Option<SystemTime>,
}

/// The certificate table shared by every TLS listener, the HTTP-01
/// responder and the ACME task.
#[derive(Default)]
pub struct Certificates {
    acme: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 tokens in flight: the host each is for, and its key
    /// authorization.
    http_challenges: RwLock<HashMap<String, (String, String)>>,
    status: Mutex<BTreeMap<String, CertStatus>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Certificates")
    }
}

impl Certificates {
    /// Serve `key` for `host` from the next handshake on.
    pub fn install(&self, host: &str, key: Arc<CertifiedKey>) {
        write(&self.acme).insert(host.to_string(), key);
    }

    pub fn acme_key(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        read(&self.acme).get(host).cloned()
    }

    pub fn set_alpn_challenge(&self, host: &str, key: Option<Arc<CertifiedKey>>) {
        let mut all = write(&self.alpn_challenges);
        match key {
            Some(k) => all.insert(host.to_string(), k),
            None => all.remove(host),
        };
    }

    /// `answer`: the host the token is for and its key authorization;
    /// `None` ends the challenge.
    pub fn set_http_challenge(&self, token: &str, answer: Option<(String, String)>) {
        let mut all = write(&self.http_challenges);
        match answer {
            Some(a) => all.insert(token.to_string(), a),
            None => all.remove(token),
        };
    }

    /// The key authorization for an HTTP-01 token, while its challenge is
    /// in flight.
    /// Only for a request to the host it was issued for (`host`, the
    /// request's Host without its port), as the CA makes it.
    pub fn http_challenge(&self, token: &str, host: &str) -> Option<String> {
        let all = read(&self.http_challenges);
        let (for_host, key_authorization) = all.get(token)?;
        for_host
            .eq_ignore_ascii_case(host.trim_end_matches('.'))
            .then(|| key_authorization.clone())
    }

    /// Change a host's status (created as ACME with nothing yet).
    pub fn update_status(&self, host: &str, change: impl FnOnce(&mut CertStatus)) {
        let mut all = lock(&self.status);
        let entry = all.entry(host.to_string()).or_insert(CertStatus {
            source: Source::Acme,
            expires: None,
            last_result: None,
            next_attempt: None,
        });
        change(entry);
    }

    /// Every host's certificate status, by host.
    pub fn statuses(&self) -> Vec<(String, CertStatus)> {
        lock(&self.status)
            .iter()
            .map(|(h, s)| (h.clone(), s.clone()))
            .collect()
    }

    /// The certificate for a handshake: the challenge certificate when the
    /// client offers only `acme-tls/1` (RFC 8737), else the file that names
    /// the host, else the host's ACME certificate, else the file; without
    /// a file, none (the handshake fails).
    pub fn resolve(
        &self,
        file: Option<&ReloadableCert>,
        server_name: Option<&str>,
        alpn_challenge: bool,
    ) -> Option<Arc<CertifiedKey>> {
        let host = server_name.map(str::to_ascii_lowercase);
        if alpn_challenge {
            return read(&self.alpn_challenges).get(host.as_deref()?).cloned();
        }
        if let (Some(f), Some(h)) = (file, host.as_deref()) {
            if f.covers(h) {
                return Some(f.key());
            }
        }
        // An unknown name (or none) gets the listener's certificate file,
        // like nginx's default server, but never another name's ACME
        // certificate: without a file the handshake fails, as Caddy's does.
        host.as_deref()
            .and_then(|h| self.acme_key(h))
            .or_else(|| file.map(ReloadableCert::key))
    }
}

/// A TLS listener's certificate resolver: its own files (if any) and the
/// shared table.
pub struct SniResolver {
    pub file: Option<Arc<ReloadableCert>>,
    pub table: Arc<Certificates>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737: the validation offers acme-tls/1 and nothing else.
        let challenge = hello.alpn().is_some_and(|mut protocols| {
            protocols.next() == Some(ACME_TLS_ALPN) && protocols.next().is_none()
        });
        self.table
            .resolve(self.file.as_deref(), hello.server_name(), challenge)
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<CertifiedKey> {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let der = pingora::tls::CertificateDer::from(generated.cert.der().to_vec());
        let private = pingora::tls::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()),
        );
        pingora::tls::install_default_crypto_provider();
        let provider = pingora::tls::CryptoProvider::get_default().unwrap();
        let signing = provider.key_provider.load_private_key(private).unwrap();
        Arc::new(CertifiedKey::new(vec![der], signing))
    }

    fn same(a: &Option<Arc<CertifiedKey>>, b: &Arc<CertifiedKey>) -> bool {
        a.as_ref().is_some_and(|a| Arc::ptr_eq(a, b))
    }

    #[test]
    fn files_win_for_their_names_then_acme_then_files() {
        let table = Certificates::default();
        let (file_key, acme_key, challenge) = (
            key("a.example.com"),
            key("b.example.com"),
            key("b.example.com"),
        );
        let file = ReloadableCert::new(Arc::clone(&file_key));
        table.install("b.example.com", Arc::clone(&acme_key));
        table.install("a.example.com", key("a.example.com"));
        table.set_alpn_challenge("b.example.com", Some(Arc::clone(&challenge)));
        let picks = [
            (Some("A.example.com"), false, &file_key),
            (Some("b.example.com"), false, &acme_key),
            (Some("c.example.com"), false, &file_key),
            (Some("b.example.com"), true, &challenge),
        ];
        for (sni, alpn, want) in picks {
            assert!(
                same(&table.resolve(Some(&file), sni, alpn), want),
                "{sni:?} {alpn}"
            );
        }
        assert!(table
            .resolve(Some(&file), Some("a.example.com"), true)
            .is_none());
        // Without a file, a name it has no certificate for (or no name)
        // gets none: never another host's.
        assert!(table.resolve(None, None, false).is_none());
        assert!(table
            .resolve(None, Some("unknown.example.org"), false)
            .is_none());
        table.set_alpn_challenge("b.example.com", None);
        assert!(table.resolve(None, Some("b.example.com"), true).is_none());
    }

    #[test]
    fn http_01_tokens_are_answered_only_while_set() {
        let table = Certificates::default();
        let answer = ("a.example.com".to_string(), "tok.thumb".to_string());
        table.set_http_challenge("tok", Some(answer));
        assert_eq!(
            table.http_challenge("tok", "A.example.com").as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(table.http_challenge("tok", "evil.example"), None);
        table.set_http_challenge("tok", None);
        assert_eq!(table.http_challenge("tok", "a.example.com"), None);
    }
}
