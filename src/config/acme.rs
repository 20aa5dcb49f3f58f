//! `[server.acme]`: checked once at load into [`AcmeSettings`]. Every
//! problem names its key; nothing here talks to the CA.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use toml::Spanned;

use super::problems::Validator;
use super::raw;
use crate::policy::acme::{
    AcmeSettings, Challenge, ExternalAccount, DEFAULT_STORAGE, LETS_ENCRYPT, LETS_ENCRYPT_STAGING,
};

impl Validator<'_> {
    /// `[server.acme]`, or `Some(None)` when absent. The default hosts are
    /// the exact ones among the routes' `hosts`.
    pub fn acme(
        &mut self,
        server: &raw::RawServer,
        routes: &[raw::RawRoute],
    ) -> Option<Option<AcmeSettings>> {
        let Some(raw) = &server.acme else {
            return Some(None);
        };
        let route_hosts: Vec<&str> = routes
            .iter()
            .flat_map(|r| r.hosts.iter().flatten())
            .map(|h| h.get_ref().as_str())
            .collect();
        let before = self.count();
        if server.tls.is_empty() {
            self.problem::<()>(
                "server.acme",
                None,
                "certificates need a TLS listener to serve them: add [[server.tls]] with listen = \"0.0.0.0:443\" (cert and key may be left out)",
            );
        }
        let email = raw.email.as_ref().and_then(|e| self.acme_email(e));
        let directory = self.acme_directory(raw.directory.as_ref());
        let hosts = self.acme_hosts(raw.hosts.as_ref(), &route_hosts);
        let storage = self.acme_storage(raw.storage.as_ref());
        let challenges = self.acme_challenges(raw.challenges.as_ref(), server);
        let days = self.int(
            "server.acme.renew_before_days",
            raw.renew_before_days.as_ref(),
            30,
            1,
            365,
        );
        let external_account = self.acme_eab(raw);
        let ca_roots = raw.ca_roots.as_ref().and_then(|r| self.acme_ca_roots(r));
        if self.count() != before {
            return None;
        }
        Some(Some(AcmeSettings {
            email,
            directory: directory?,
            hosts: hosts?,
            storage: storage?,
            challenges: challenges?,
            renew_before: Duration::from_secs(days? as u64 * 86_400),
            external_account: external_account?,
            ca_roots,
        }))
    }

    fn acme_email(&mut self, raw: &Spanned<String>) -> Option<String> {
        let e = raw.get_ref().trim();
        let e = e.strip_prefix("mailto:").unwrap_or(e);
        let why = "is not an e-mail address; write e.g. \"ops@example.com\"";
        self.accepted("server.acme.email", raw, e, is_email(e), why)
    }

    fn acme_directory(&mut self, raw: Option<&Spanned<String>>) -> Option<String> {
        let Some(raw) = raw else {
            return Some(LETS_ENCRYPT.to_string());
        };
        let d = raw.get_ref().trim();
        match d {
            "staging" => Some(LETS_ENCRYPT_STAGING.to_string()),
            "production" | "letsencrypt" => Some(LETS_ENCRYPT.to_string()),
            _ => {
                let why = "is not an ACME directory URL; write an https:// URL, or \"staging\" for Let's Encrypt's staging CA";
                self.accepted("server.acme.directory", raw, d, is_directory_url(d), why)
            }
        }
    }

    /// `value` when `ok`; otherwise a problem at `raw` that quotes `value`
    /// and says `why`.
    fn accepted(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        value: &str,
        ok: bool,
        why: &str,
    ) -> Option<String> {
        if ok {
            return Some(value.to_string());
        }
        self.problem(key, Some(raw), format!("{value:?} {why}"));
        None
    }

    fn acme_hosts(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        route_hosts: &[&str],
    ) -> Option<Vec<String>> {
        let Some(raw) = raw else {
            // A public CA issues for names under a public suffix only: a
            // wildcard needs DNS-01, `localhost` or `intranet` never passes.
            let (hosts, skipped): (Vec<String>, Vec<String>) = route_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .partition(|h| {
                    !h.starts_with("*.") && h.contains('.') && dns_name_problem(h).is_none()
                });
            if !skipped.is_empty() {
                self.warn(format!("server.acme.hosts (from [[route]] hosts) leaves out {}: a wildcard needs DNS-01 and a CA won't issue for a single-label or malformed name; serve them from a [[server.tls]] cert file, or list server.acme.hosts", skipped.join(", ")));
            }
            if hosts.is_empty() {
                self.problem::<()>(
                    "server.acme.hosts",
                    None,
                    "no host to get a certificate for: no [[route]] names an exact host; list them, e.g. hosts = [\"app.example.com\"]",
                );
                return None;
            }
            return Some(dedup(hosts));
        };
        let before = self.count();
        let mut hosts = Vec::new();
        for (i, h) in raw.get_ref().iter().enumerate() {
            let name = h.get_ref().trim().to_ascii_lowercase();
            let key = format!("server.acme.hosts[{i}]");
            if name.starts_with("*.") {
                self.problem(&key, Some(h), format!("{name:?}: a wildcard certificate needs the DNS-01 challenge, which helmgate does not answer; list the exact hosts, or put a wildcard certificate in [[server.tls]] cert/key"));
            } else if let Some(why) = dns_name_problem(&name) {
                self.problem(&key, Some(h), format!("{name:?} {why}"));
            } else {
                hosts.push(name);
            }
        }
        if raw.get_ref().is_empty() {
            self.problem("server.acme.hosts", Some(raw), "is empty: list the hosts to get certificates for, or leave hosts out for every exact [[route]] host");
        }
        (self.count() == before).then(|| dedup(hosts))
    }

    fn acme_storage(&mut self, raw: Option<&Spanned<String>>) -> Option<PathBuf> {
        if let Some(r) = raw.filter(|r| r.get_ref().trim().is_empty()) {
            self.problem("server.acme.storage", Some(r), "is empty: name the directory for keys and certificates, e.g. \"/var/lib/helmgate/acme\"");
            return None;
        }
        let path = raw.map_or_else(
            || PathBuf::from(DEFAULT_STORAGE),
            |r| self.resolve(r.get_ref()),
        );
        let problem = match std::fs::metadata(&path) {
            Ok(m) if !m.is_dir() => Some("exists and is not a directory".to_string()),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Made at start: its parent must be there.
                // `st` relative to a config named without a directory: its
                // parent is "", the current directory.
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                match std::fs::metadata(parent) {
                    Ok(m) if m.is_dir() => None,
                    _ => Some("does not exist, nor does its parent directory: create it (0700, owned by the service user)".to_string()),
                }
            }
            Err(e) => Some(format!("cannot be read: {e}")),
        };
        if let Some(why) = problem {
            let key = "server.acme.storage";
            self.problem(key, raw, format!("{}: {why}", path.display()));
            return None;
        }
        Some(path)
    }

    fn acme_challenges(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        server: &raw::RawServer,
    ) -> Option<Vec<Challenge>> {
        let has_redirect = !server.https_redirect_listen.is_empty();
        let Some(raw) = raw else {
            let mut all = vec![Challenge::TlsAlpn01];
            if has_redirect {
                all.push(Challenge::Http01);
            }
            return Some(all);
        };
        let before = self.count();
        let mut out = Vec::new();
        for (i, c) in raw.get_ref().iter().enumerate() {
            let key = format!("server.acme.challenges[{i}]");
            match Challenge::parse(c.get_ref().trim()) {
                Some(Challenge::Http01) if !has_redirect => self.problem(&key, Some(c), "http-01 is answered on the plain-HTTP listener: add server.https_redirect_listen = [\"0.0.0.0:80\"], or leave http-01 out"),
                Some(ch) if !out.contains(&ch) => out.push(ch),
                Some(_) => {}
                None if c.get_ref().trim() == "dns-01" => self.problem(&key, Some(c), "dns-01 is not supported (helmgate answers tls-alpn-01 and http-01)"),
                None => self.problem(&key, Some(c), format!("{:?} is not a challenge type; use \"tls-alpn-01\" or \"http-01\"", c.get_ref())),
            }
        }
        if raw.get_ref().is_empty() {
            self.problem(
                "server.acme.challenges",
                Some(raw),
                "is empty: use [\"tls-alpn-01\", \"http-01\"] or leave it out",
            );
        }
        (self.count() == before).then_some(out)
    }

    fn acme_eab(&mut self, raw: &raw::RawAcme) -> Option<Option<ExternalAccount>> {
        match (&raw.eab_kid, &raw.eab_hmac_key) {
            (None, None) => Some(None),
            (Some(kid), Some(key)) => {
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key.get_ref().trim().trim_end_matches('='));
                match decoded {
                    Ok(k) if !k.is_empty() && !kid.get_ref().trim().is_empty() => {
                        Some(Some(ExternalAccount {
                            kid: kid.get_ref().trim().to_string(),
                            hmac_key: k,
                        }))
                    }
                    _ => {
                        self.problem("server.acme.eab_hmac_key", Some(key), "is not a base64url MAC key (copy it as the CA shows it), or eab_kid is empty");
                        None
                    }
                }
            }
            (Some(kid), None) => {
                self.problem(
                    "server.acme.eab_hmac_key",
                    Some(kid),
                    "eab_kid is set: set eab_hmac_key too, as the CA gave it",
                );
                None
            }
            (None, Some(key)) => {
                self.problem(
                    "server.acme.eab_kid",
                    Some(key),
                    "eab_hmac_key is set: set eab_kid too, as the CA gave it",
                );
                None
            }
        }
    }

    fn acme_ca_roots(&mut self, raw: &Spanned<String>) -> Option<PathBuf> {
        let path = self.resolve(raw.get_ref());
        match crate::config::tls::read_pem_certificates(&path) {
            Ok(certs) if !certs.is_empty() => Some(path),
            Ok(_) => {
                self.problem(
                    "server.acme.ca_roots",
                    Some(raw),
                    format!("{}: no PEM certificate in it", path.display()),
                );
                None
            }
            Err(e) => {
                self.problem("server.acme.ca_roots", Some(raw), e);
                None
            }
        }
    }
}

/// `local@domain`, the domain a DNS name with a dot.
fn is_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && dns_name_problem(domain).is_none()
                && !local.contains(|c: char| c.is_whitespace() || c == '@' || c.is_control())
        }
        None => false,
    }
}

/// An https:// URL with a host, one the ACME client parses (a bad
/// authority made it panic at run time).
fn is_directory_url(d: &str) -> bool {
    let rest = d.strip_prefix("https://").unwrap_or("");
    let parses = d
        .parse::<http::Uri>()
        .is_ok_and(|u| u.authority().is_some_and(|a| !a.host().is_empty()));
    !rest.is_empty() && !rest.starts_with('/') && !d.contains(char::is_whitespace) && parses
}

fn dedup(mut hosts: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    hosts
}

/// Why `name` cannot be in a certificate an ACME CA issues, if it cannot: a
/// DNS name of letters, digits and hyphens, not an IP address.
pub fn dns_name_problem(name: &str) -> Option<&'static str> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Some("is an IP address; ACME certificates here are for host names");
    }
    if name.is_empty() || name.len() > 253 {
        return Some("is not a host name (1 to 253 characters)");
    }
    let bad_label = |l: &str| {
        l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.split('.').any(bad_label) {
        return Some("is not a host name (labels of a-z, 0-9 and '-', separated by dots; IDNs in their xn-- form)");
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{load_str, ConfigError, Overrides};
    use crate::policy::acme::{Challenge, LETS_ENCRYPT};
    use crate::policy::env::EnvVars;
    use crate::policy::Policy;

    fn load(acme: &str, extra_server: &str) -> Result<Policy, ConfigError> {
        let storage = std::env::temp_dir();
        let text = format!(
            "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:8080\"]\n{extra_server}\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\n[server.acme]\nstorage = {:?}\n{acme}\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n[[route]]\nname = \"app\"\nhosts = [\"App.Example.com\", \"*.example.net\"]\n",
            storage.display().to_string()
        );
        load_str(
            &text,
            Path::new("test.toml"),
            Overrides::default(),
            &EnvVars::default(),
        )
    }

    fn keys(acme: &str, extra_server: &str) -> Vec<String> {
        match load(acme, extra_server) {
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.into_iter().map(|p| p.key).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn defaults_take_the_exact_route_hosts_and_lets_encrypt() {
        let p = load("", "").unwrap();
        let acme = p.server.acme.unwrap();
        assert_eq!(acme.hosts, ["app.example.com"]);
        assert_eq!(acme.directory, LETS_ENCRYPT);
        assert_eq!(acme.challenges, [Challenge::TlsAlpn01]);
        assert_eq!(acme.renew_before.as_secs(), 30 * 86_400);
        assert!(p.server.tls[0].files.is_none());
    }

    #[test]
    fn http_01_is_a_default_with_a_redirect_listener() {
        let p = load("", "https_redirect_listen = [\"127.0.0.1:8081\"]").unwrap();
        let acme = p.server.acme.unwrap();
        assert_eq!(acme.challenges, [Challenge::TlsAlpn01, Challenge::Http01]);
    }

    #[test]
    fn bad_values_are_each_named_by_key() {
        let acme = "email = \"not an address\"\ndirectory = \"ftp://x\"\nhosts = [\"*.example.com\", \"10.0.0.1\", \"ok.example.com\"]\nchallenges = [\"dns-01\", \"http-01\"]\nrenew_before_days = 0\neab_kid = \"kid\"\n";
        assert_eq!(
            keys(acme, ""),
            [
                "server.acme.email",
                "server.acme.directory",
                "server.acme.hosts[0]",
                "server.acme.hosts[1]",
                "server.acme.challenges[0]",
                "server.acme.challenges[1]",
                "server.acme.renew_before_days",
                "server.acme.eab_hmac_key",
            ]
        );
    }

    #[test]
    fn an_email_or_directory_problem_quotes_the_value() {
        let acme = "email = \"mailto:ops at example.com\"\ndirectory = \"https:///dir\"\n";
        let Err(ConfigError::Invalid { problems, .. }) = load(acme, "") else {
            panic!("expected problems");
        };
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "\"ops at example.com\" is not an e-mail address; write e.g. \"ops@example.com\"",
                "\"https:///dir\" is not an ACME directory URL; write an https:// URL, or \"staging\" for Let's Encrypt's staging CA",
            ]
        );
        let acme = "email = \"mailto:ops@example.com\"\ndirectory = \" https://ca.example/dir \"\n";
        let acme = load(acme, "").unwrap().server.acme.unwrap();
        assert_eq!(acme.email.as_deref(), Some("ops@example.com"));
        assert_eq!(acme.directory, "https://ca.example/dir");
    }

    #[test]
    fn a_tls_listener_without_files_needs_acme() {
        let text = "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:8080\"]\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n";
        match load_str(
            text,
            Path::new("t.toml"),
            Overrides::default(),
            &EnvVars::default(),
        ) {
            Err(ConfigError::Invalid { problems, .. }) => {
                assert_eq!(problems[0].key, "server.tls[0]");
                assert!(
                    problems[0].message.contains("[server.acme]"),
                    "{}",
                    problems[0].message
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn staging_is_a_shortcut_and_eab_keys_decode() {
        let p = load(
            "directory = \"staging\"\neab_kid = \"k\"\neab_hmac_key = \"c2VjcmV0\"\n",
            "",
        )
        .unwrap();
        let acme = p.server.acme.unwrap();
        assert!(acme.directory.contains("staging"));
        assert_eq!(acme.external_account.unwrap().hmac_key, b"secret");
    }
}
