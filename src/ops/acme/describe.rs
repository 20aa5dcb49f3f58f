//! `--check`'s `certificates:` section: each host's certificate source
//! (file or ACME) and, when there is one, its expiry.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::store::Storage;
use crate::config::tls::{read_pem_certificates, CertFacts};
use crate::policy::acme::AcmeSettings;
use crate::policy::Policy;

pub fn describe(out: &mut String, policy: &Policy) {
    let server = &policy.server;
    if server.tls.is_empty() {
        return;
    }
    let _ = writeln!(out, "certificates:");
    let files = files(out, policy);
    if let Some(acme) = &server.acme {
        acme_hosts(out, acme, &files);
    }
}

/// The cert files' names, printed; their facts returned.
fn files(out: &mut String, policy: &Policy) -> Vec<CertFacts> {
    let mut all = Vec::new();
    for f in policy.server.tls.iter().filter_map(|t| t.files.as_ref()) {
        let facts = read_pem_certificates(&f.cert)
            .ok()
            .and_then(|c| c.first().and_then(|leaf| CertFacts::of(leaf).ok()));
        let Some(facts) = facts else { continue };
        for name in &facts.names {
            let _ = writeln!(
                out,
                "  {name}: file {} (expires {})",
                f.cert.display(),
                rfc3339(facts.not_after)
            );
        }
        all.push(facts);
    }
    all
}

fn acme_hosts(out: &mut String, acme: &AcmeSettings, files: &[CertFacts]) {
    let storage = Storage::new(&acme.storage);
    let challenges: Vec<&str> = acme.challenges.iter().map(|c| c.as_str()).collect();
    for host in &acme.hosts {
        if files.iter().any(|f| f.covers(host)) {
            let _ = writeln!(
                out,
                "  {host}: file (a [[server.tls]] cert names it and wins over ACME)"
            );
            continue;
        }
        let stored = match storage.load(host) {
            Ok(Some(s)) => format!("stored, expires {}", rfc3339(s.facts.not_after)),
            Ok(None) => "none stored yet: obtained at start".to_string(),
            Err(e) => format!("stored certificate unusable ({e}): a new one is obtained at start"),
        };
        let _ = writeln!(
            out,
            "  {host}: acme from {} ({}; renewed {} days before expiry), {stored}",
            acme.directory,
            challenges.join(", "),
            acme.renew_before.as_secs() / 86_400
        );
    }
    let account = match storage.account(&acme.directory) {
        Ok(Some(_)) => "account stored for this directory".to_string(),
        Ok(None) => "no account for this directory yet: made on the first order".to_string(),
        Err(e) => format!("{e}: obtaining and renewing will fail until it is fixed or removed"),
    };
    let _ = writeln!(
        out,
        "  acme storage: {} ({account})",
        acme.storage.display()
    );
}

fn rfc3339(t: SystemTime) -> String {
    crate::ops::dashboard::rfc3339(t)
}
