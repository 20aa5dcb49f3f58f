//! `[server.acme] storage`: the ACME account and every host's certificate.
//!
//! ```text
//! storage/            0700
//!   account.json      0600  the account key (PKCS#8) and URL, with the directory it is for
//!   HOST.crt          0644  the certificate chain, PEM, leaf first
//!   HOST.key          0600  its private key, PEM (PKCS#8)
//! ```
//! Files are written to a temporary name and renamed, so a crash never
//! leaves half a certificate.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pingora::tls::sign::CertifiedKey;

use crate::config::tls::{certified_key_from_pem, load_certified_key, CertFacts};
use crate::ops::files;

#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

/// A stored certificate, ready to serve.
pub struct Stored {
    pub key: Arc<CertifiedKey>,
    pub facts: CertFacts,
}

impl Stored {
    /// A certificate just issued for `host`, from the CA's PEM chain and our
    /// key, checked as a stored one would be.
    pub fn from_pem(host: &str, chain: &str, key: &str) -> Result<Stored, String> {
        let certified = certified_key_from_pem(chain.as_bytes(), key.as_bytes())?;
        let leaf = certified.end_entity_cert().map_err(|e| e.to_string())?;
        let facts = CertFacts::of(leaf)?;
        if !facts.covers(host) {
            return Err(format!(
                "it is not for {host} (it names {})",
                facts.names.join(", ")
            ));
        }
        Ok(Stored {
            key: certified,
            facts,
        })
    }
}

impl Storage {
    pub fn new(dir: &Path) -> Storage {
        Storage {
            dir: dir.to_path_buf(),
        }
    }

    /// Make the directory (0700) if it is not there, and check that it can
    /// be written.
    pub fn prepare(&self) -> Result<(), String> {
        if !self.dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        }
        let probe = self.dir.join(".helmgate-write-test");
        files::replace(&probe, b"", 0o600)
            .map_err(|e| format!("{} is not writable: {e}", self.dir.display()))?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    /// The files (the directory, keys, the account) others than the
    /// service user can read or write, with their modes.
    pub fn loose_permissions(&self, hosts: &[String]) -> Vec<(PathBuf, u32)> {
        let mut paths = vec![self.dir.clone(), self.account_path()];
        paths.extend(hosts.iter().map(|h| self.key_path(h)));
        paths
            .into_iter()
            .filter_map(|p| {
                let mode = fs::metadata(&p).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then_some((p, mode))
            })
            .collect()
    }

    pub fn cert_path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.crt"))
    }

    pub fn key_path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.key"))
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    /// The stored certificate of `host`: `Ok(None)` when there is none, an
    /// error naming the file when it is unreadable, corrupt or not for
    /// `host`.
    pub fn load(&self, host: &str) -> Result<Option<Stored>, String> {
        let (cert, key) = (self.cert_path(host), self.key_path(host));
        if !cert.exists() && !key.exists() {
            return Ok(None);
        }
        let certified = load_certified_key(&cert, &key)?;
        let leaf = certified
            .end_entity_cert()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        let facts = CertFacts::of(leaf).map_err(|e| format!("{}: {e}", cert.display()))?;
        if !facts.covers(host) {
            return Err(format!(
                "{} is not a certificate for {host} (it names {})",
                cert.display(),
                facts.names.join(", ")
            ));
        }
        Ok(Some(Stored {
            key: certified,
            facts,
        }))
    }

    /// Store a new certificate. Both files are written whole beside their
    /// places first, then renamed in, key then chain: a failed write (a
    /// full disk) leaves the stored pair as it was.
    pub fn save(&self, host: &str, chain_pem: &str, key_pem: &str) -> Result<(), String> {
        let (key, cert) = (self.key_path(host), self.cert_path(host));
        let written = files::write_temporary(&key, key_pem.as_bytes(), 0o600).and_then(|key_tmp| {
            let cert_tmp = files::write_temporary(&cert, chain_pem.as_bytes(), 0o644)
                .inspect_err(|_| drop(fs::remove_file(&key_tmp)))?;
            fs::rename(&key_tmp, &key)?;
            fs::rename(&cert_tmp, &cert)
        });
        written.map_err(|e| format!("cannot write to {}: {e}", self.dir.display()))
    }

    /// The stored account for `directory`, if any.
    pub fn account(&self, directory: &str) -> Result<Option<serde_json::Value>, String> {
        let path = self.account_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("account key {} unreadable: {e}", path.display())),
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("account key {} is corrupt: {e}", path.display()))?;
        if value.get("directory").and_then(|d| d.as_str()) != Some(directory) {
            return Ok(None);
        }
        Ok(value.get("credentials").cloned())
    }

    /// Drop the stored account (the CA no longer knows it): the next
    /// attempt creates a new one.
    pub fn forget_account(&self) {
        let path = self.account_path();
        if let Err(e) = fs::remove_file(&path) {
            log::warn!("acme: cannot remove {}: {e}", path.display());
        }
    }

    pub fn save_account(
        &self,
        directory: &str,
        credentials: serde_json::Value,
    ) -> Result<(), String> {
        let text = serde_json::json!({ "directory": directory, "credentials": credentials });
        files::replace(&self.account_path(), text.to_string().as_bytes(), 0o600)
            .map_err(|e| format!("cannot write {}: {e}", self.account_path().display()))
    }
}
