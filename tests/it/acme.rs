//! `[server.acme]` against a real ACME CA: Pebble and pebble-challtestsrv
//! on loopback (Debian's `pebble`), with Pebble's challenge ports pointed at
//! the gateway's listeners. Certificates are obtained with each challenge
//! type, served per SNI with a chain that verifies against Pebble's issuing
//! root, renewed and swapped while a client keeps connecting, kept when the
//! CA is gone, and reused from storage after a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use crate::support::*;

const HOST: &str = "app.acme.test";

/// Pebble beside a gateway-to-be: the ports the gateway will listen on
/// (redirect for HTTP-01, TLS for TLS-ALPN-01, admin) and its storage.
struct Setup {
    up: Upstream,
    http: Option<Port>,
    tls: Option<Port>,
    http_addr: SocketAddr,
    tls_addr: SocketAddr,
    admin_addr: SocketAddr,
    admin: Option<Port>,
    storage: TempDir,
    pebble: Pebble,
    hosts: Vec<&'static str>,
    /// `cert`/`key` lines for the TLS listener, if it has files too.
    files: String,
    /// `storage` when not the temporary directory.
    storage_dir: Option<String>,
}

impl Setup {
    fn new(validity_secs: Option<u64>) -> Setup {
        Setup::refusing(validity_secs, &[])
    }

    /// A setup whose Pebble refuses to issue for `blocked`.
    fn refusing(validity_secs: Option<u64>, blocked: &[&str]) -> Setup {
        Setup::build(validity_secs, blocked, None)
    }

    /// `tls_port`: where Pebble sends its TLS-ALPN-01 validation, when not
    /// to the gateway's TLS listener.
    fn build(validity_secs: Option<u64>, blocked: &[&str], tls_port: Option<u16>) -> Setup {
        let (http, tls, admin) = (Port::reserve(), Port::reserve(), Port::reserve());
        let pebble_tls = tls_port.unwrap_or(tls.port());
        let pebble = Pebble::start_refusing(http.port(), pebble_tls, validity_secs, blocked);
        Setup {
            up: Upstream::start(),
            http_addr: http.addr(),
            tls_addr: tls.addr(),
            admin_addr: admin.addr(),
            http: Some(http),
            tls: Some(tls),
            admin: Some(admin),
            storage: TempDir::new("acme-storage"),
            pebble,
            hosts: vec![HOST],
            files: String::new(),
            storage_dir: None,
        }
    }

    /// The `[server.acme]` tables for `challenges`, with `directory`.
    fn tables(&self, challenges: &[&str], directory: &str) -> String {
        let challenges: Vec<String> = challenges.iter().map(|c| format!("{c:?}")).collect();
        let hosts: Vec<String> = self.hosts.iter().map(|h| format!("{h:?}")).collect();
        format!(
            "[[server.tls]]\nlisten = \"{}\"\n{}\n[server.acme]\ndirectory = \"{directory}\"\nca_roots = \"{}\"\nstorage = \"{}\"\nhosts = [{}]\nchallenges = [{}]\nemail = \"ops@example.com\"\n\n[admin]\nlisten = \"{}\"\n",
            self.tls_addr,
            self.files,
            self.pebble.ca_roots.display(),
            self.storage_dir
                .clone()
                .unwrap_or_else(|| self.storage.path().display().to_string()),
            hosts.join(", "),
            challenges.join(", "),
            self.admin_addr,
        )
    }

    fn start(&mut self, challenges: &[&str]) -> Gateway {
        let directory = self.pebble.directory.clone();
        self.start_with_directory(challenges, &directory)
    }

    fn start_with_directory(&mut self, challenges: &[&str], directory: &str) -> Gateway {
        let opts = GatewayOptions {
            settings: Settings::new().set(
                "server.https_redirect_listen",
                vec![self.http_addr.to_string()],
            ),
            ..GatewayOptions::default()
        };
        let mut gw =
            Gateway::start_with_tables(self.up.addr, opts, &self.tables(challenges, directory));
        for port in [self.http.take(), self.tls.take(), self.admin.take()]
            .into_iter()
            .flatten()
        {
            gw.hold(port);
        }
        for addr in [self.http_addr, self.tls_addr, self.admin_addr] {
            gw.wait_ready(addr);
        }
        gw
    }

    /// A GET to the admin listener: the body.
    fn admin(&self, path: &str) -> String {
        request(self.admin_addr, "GET", path, &[("Host", "localhost")], b"").body_text()
    }

    fn metrics(&self) -> String {
        self.admin("/metrics")
    }

    /// Wait for the TLS listener to serve HOST a certificate that verifies
    /// against Pebble's issuing root; the leaf and how long it took.
    fn wait_for_certificate(
        &self,
        gw: &Gateway,
        limit: Duration,
    ) -> (CertificateDer<'static>, Duration) {
        let root = self.pebble.issuing_root();
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            match verified_get(self.tls_addr, HOST, &root) {
                Ok((chain, status)) => {
                    assert!(status.starts_with("HTTP/1.1 "), "{status}");
                    return (chain[0].clone(), started.elapsed());
                }
                Err(e) => last = e,
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no verified certificate for {HOST} within {limit:?} (last: {last})\ngateway log:\n{}\npebble log:\n{}",
            gw.log(),
            self.pebble.log()
        );
    }
}

/// Wait for the gateway's log to hold `needle`: lines are written in
/// batches, up to a second after what they tell.
fn logged(gw: &Gateway, needle: &str) -> bool {
    eventually(Duration::from_secs(5), || gw.log().contains(needle))
}

fn logged_within(gw: &Gateway, needle: &str, limit: Duration) -> bool {
    eventually(limit, || gw.log().contains(needle))
}

/// The value of `helmgate_acme_failures_total` for HOST, all reasons.
fn failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("helmgate_acme_failures_total{{host=\"{HOST}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_certificate_is_obtained_with_http_01_and_served_for_its_host() {
    let mut s = Setup::new(None);
    let gw = s.start(&["http-01"]);
    let (_, took) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    eprintln!("acme: http-01 certificate served {took:?} after the gateway listened");
    assert!(logged(&gw, "answering http-01"), "{}", gw.log());
    let key = s.storage.path().join(format!("{HOST}.key"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());
    let metrics = s.metrics();
    assert!(
        metrics.contains(&format!(
            "helmgate_certificate_expiry_seconds{{host=\"{HOST}\"}}"
        )),
        "{metrics}"
    );
    // The redirect listener still redirects everything else.
    let r = request(s.http_addr, "GET", "/x", &[("Host", HOST)], b"");
    assert_eq!(r.status, 308);
}

#[test]
fn a_certificate_is_obtained_with_tls_alpn_01() {
    let mut s = Setup::new(None);
    let gw = s.start(&["tls-alpn-01"]);
    let (_, took) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    eprintln!("acme: tls-alpn-01 certificate served {took:?} after the gateway listened");
    assert!(logged(&gw, "answering tls-alpn-01"), "{}", gw.log());
    let status = s.admin("/status.json");
    assert!(status.contains("\"certificates\""), "{status}");
    assert!(status.contains(HOST), "{status}");
    let page = s.admin("/");
    assert!(page.contains("<h2>Certificates</h2>"), "{page}");
    assert!(
        page.contains(&format!("<td>{HOST}</td><td>acme</td>")),
        "{page}"
    );
    assert!(page.contains("ok at "), "{page}");
}

#[test]
fn renewal_swaps_the_certificate_while_a_client_keeps_connecting() {
    // 30 s certificates: renewed after two thirds of their life.
    let mut s = Setup::new(Some(30));
    let gw = s.start(&["tls-alpn-01", "http-01"]);
    let (first, _) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    let root = s.pebble.issuing_root();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let seen = Arc::new(Mutex::new(Vec::<CertificateDer<'static>>::new()));
    let client = {
        let (stop, ok, failed, seen, addr) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            seen.clone(),
            s.tls_addr,
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match verified_get(addr, HOST, &root) {
                    Ok((chain, status)) if status.starts_with("HTTP/1.1 ") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        let mut seen = seen.lock().unwrap();
                        if !seen.contains(&chain[0]) {
                            seen.push(chain[0].clone());
                        }
                    }
                    other => failed.lock().unwrap().push(format!("{other:?}")),
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let renewed = eventually(Duration::from_secs(60), || {
        seen.lock().unwrap().iter().any(|c| *c != first)
    });
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    assert!(renewed, "no renewed certificate within 60 s:\n{}", gw.log());
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok.load(Ordering::Relaxed) + failed.len(),
        &failed[..failed.len().min(3)]
    );
    eprintln!(
        "acme: renewal swapped the certificate under {} requests, none failed",
        ok.load(Ordering::Relaxed)
    );
}

#[test]
fn a_failed_challenge_is_named_and_the_next_challenge_type_is_tried() {
    // Pebble's TLS-ALPN-01 validation goes to a port nobody listens on.
    let closed = Port::reserve();
    let mut s = Setup::build(None, &[], Some(closed.port()));
    let gw = s.start(&["tls-alpn-01", "http-01"]);
    s.wait_for_certificate(&gw, Duration::from_secs(90));
    assert!(
        logged(&gw, &format!("acme: {HOST}: tls-alpn-01 failed: ")),
        "{}",
        gw.log()
    );
    // The CA's problem document names what went wrong.
    assert!(logged(&gw, "urn:ietf:params:acme:error:"), "{}", gw.log());
    assert!(logged(&gw, "trying http-01"), "{}", gw.log());
    assert!(logged(&gw, "answering http-01"), "{}", gw.log());
    assert!(s.metrics().contains(&format!(
        "helmgate_acme_failures_total{{host=\"{HOST}\",reason=\"challenge\"}} 1"
    )));
}

#[test]
fn a_cert_file_serves_its_names_beside_acme_certificates() {
    let mut s = Setup::new(None);
    let file = TestCert::write(s.storage.path());
    s.files = format!(
        "cert = \"{}\"\nkey = \"{}\"\n",
        file.cert.display(),
        file.key.display()
    );
    let gw = s.start(&["tls-alpn-01"]);
    s.wait_for_certificate(&gw, Duration::from_secs(60));
    // SNI localhost: the file's certificate (trusted as its own root).
    let (chain, _) = verified_get(s.tls_addr, "localhost", &file.der).unwrap();
    assert_eq!(chain[0], file.der);
    let status = s.admin("/status.json");
    assert!(status.contains("\"source\": \"file "), "{status}");
    assert!(status.contains("\"source\": \"acme\""), "{status}");
    let metrics = s.metrics();
    assert!(
        metrics.contains("helmgate_certificate_expiry_seconds{host=\"localhost\"}"),
        "{metrics}"
    );
}

#[test]
fn a_renewal_while_the_ca_is_down_keeps_the_old_certificate_and_counts_the_failure() {
    // 45 s certificates: renewal is due after 30 s, while Pebble is stopped.
    let mut s = Setup::new(Some(45));
    let gw = s.start(&["tls-alpn-01"]);
    let (first, _) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    s.pebble.stop();
    let counted = eventually(Duration::from_secs(60), || failures(&s.metrics()) > 0);
    assert!(
        counted,
        "no failure counted:\n{}\n{}",
        s.metrics(),
        gw.log()
    );
    // Log lines are written in batches: the WARN may follow the metric.
    let warned = eventually(Duration::from_secs(5), || {
        let log = gw.log();
        log.contains("renewal failed") && log.contains("the current certificate keeps serving")
    });
    assert!(warned, "{}", gw.log());
    let (served, _) = s.wait_for_certificate(&gw, Duration::from_secs(5));
    assert_eq!(served, first, "the old certificate must keep serving");
    // The CA comes back (a new Pebble: new root, the account forgotten):
    // the next attempt gets a new account and a new certificate.
    s.pebble.restart();
    let (renewed, _) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    assert_ne!(renewed, first);
    assert!(logged(&gw, "creating a new account"), "{}", gw.log());
}

/// A renewal whose certificate can't be stored (a full disk; here a
/// directory in the way of the chain's temporary file): the new
/// certificate serves from memory, the stored pair stays whole, only the
/// save is retried (no second order), and it is stored once it can be.
#[test]
fn a_renewal_that_cannot_be_stored_serves_from_memory_and_retries_only_the_save() {
    let mut s = Setup::new(Some(30));
    let gw = s.start(&["tls-alpn-01"]);
    let (first, _) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    let dir = s.storage.path().to_path_buf();
    let (crt, key) = (
        dir.join(format!("{HOST}.crt")),
        dir.join(format!("{HOST}.key")),
    );
    let stored_key = std::fs::read(&key).unwrap();
    let blocker = dir.join(format!(".{HOST}.crt.tmp-{}", gw.pid()));
    std::fs::create_dir(&blocker).unwrap();
    assert!(
        eventually(Duration::from_secs(60), || gw
            .log()
            .contains("renewal failed (storage)")),
        "{}",
        gw.log()
    );
    let (served, _) = s.wait_for_certificate(&gw, Duration::from_secs(5));
    assert_ne!(served, first, "the new certificate serves from memory");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        stored_key,
        "the stored pair stays whole"
    );
    // Retries (10 s, 20 s ...) only try to store it again.
    let issued = |log: &str| log.matches("new certificate in").count();
    assert!(eventually(Duration::from_secs(15), || gw
        .log()
        .matches("renewal failed (storage)")
        .count()
        >= 2));
    assert_eq!(issued(&gw.log()), 2, "{}", gw.log());
    std::fs::remove_dir(&blocker).unwrap();
    assert!(
        logged_within(
            &gw,
            "the certificate is stored now",
            Duration::from_secs(40)
        ),
        "{}",
        gw.log()
    );
    assert_eq!(issued(&gw.log()), 2, "{}", gw.log());
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(&crt).unwrap();
    let stored = CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(stored, served);
}

#[test]
fn a_restart_serves_the_stored_certificate_without_contacting_the_ca() {
    let mut s = Setup::new(None);
    let gw = s.start(&["http-01"]);
    let (first, _) = s.wait_for_certificate(&gw, Duration::from_secs(60));
    // --check shows the stored certificate with its expiry.
    let (ok, out) = check_config(&std::fs::read_to_string(&gw.config_path).unwrap());
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{HOST}: acme from {}", s.pebble.directory)),
        "{out}"
    );
    assert!(out.contains("stored, expires 20"), "{out}");
    assert!(out.contains("account stored for this directory"), "{out}");
    drop(gw);
    s.pebble.stop();
    // The same ports, held again for the second gateway.
    let (http, tls, admin) = (
        Port::reserve_at(s.http_addr),
        Port::reserve_at(s.tls_addr),
        Port::reserve_at(s.admin_addr),
    );
    (s.http, s.tls, s.admin) = (Some(http), Some(tls), Some(admin));
    let gw = s.start(&["http-01"]);
    let (served, took) = s.wait_for_certificate(&gw, Duration::from_secs(10));
    assert_eq!(served, first);
    eprintln!("acme: stored certificate served {took:?} after restart");
    assert!(
        logged(&gw, "serving the stored certificate"),
        "{}",
        gw.log()
    );
    assert_eq!(failures(&s.metrics()), 0, "{}", gw.log());
}

#[test]
fn an_unreachable_directory_is_a_clear_warning_and_the_gateway_serves_on() {
    let mut s = Setup::new(None);
    let closed = Port::reserve();
    let directory = format!("https://{}/dir", closed.addr());
    let gw = s.start_with_directory(&["http-01"], &directory);
    let warned = eventually(Duration::from_secs(20), || {
        gw.log()
            .contains(&format!("acme: {HOST}: issuance failed (unreachable)"))
    });
    assert!(warned, "{}", gw.log());
    assert!(failures(&s.metrics()) > 0);
    // The plain listener still proxies.
    assert_eq!(gw.get("/", &[("Host", HOST)]).status, 200);
}

#[test]
fn a_corrupt_stored_certificate_is_named_and_replaced() {
    let mut s = Setup::new(None);
    std::fs::write(
        s.storage.path().join(format!("{HOST}.crt")),
        "not a certificate",
    )
    .unwrap();
    std::fs::write(s.storage.path().join(format!("{HOST}.key")), "not a key").unwrap();
    let gw = s.start(&["http-01"]);
    s.wait_for_certificate(&gw, Duration::from_secs(60));
    assert!(
        logged(
            &gw,
            &format!("acme: {HOST}: the stored certificate is unusable")
        ),
        "{}",
        gw.log()
    );
    assert!(logged(&gw, &format!("{HOST}.crt")), "{}", gw.log());
    // The key file written here is 0644: said at start.
    let loose = format!("{}.key is mode 0644", s.storage.path().join(HOST).display());
    assert!(logged(&gw, &loose), "{}", gw.log());
    assert!(s.metrics().contains(&format!(
        "helmgate_acme_failures_total{{host=\"{HOST}\",reason=\"storage\"}} 1"
    )));
}

#[test]
fn storage_that_cannot_be_written_is_an_error_and_the_gateway_serves_on() {
    let mut s = Setup::new(None);
    // Not even root can make a directory in /proc.
    s.storage_dir = Some("/proc/helmgate-acme-test".to_string());
    let gw = s.start(&["http-01"]);
    assert!(
        logged(
            &gw,
            "server.acme.storage: cannot create /proc/helmgate-acme-test"
        ),
        "{}",
        gw.log()
    );
    assert!(
        logged(&gw, &format!("acme: {HOST}: issuance failed (storage)")),
        "{}",
        gw.log()
    );
    assert_eq!(gw.get("/", &[("Host", HOST)]).status, 200);
}

#[test]
fn an_unreadable_account_key_is_named_and_the_gateway_serves_on() {
    let mut s = Setup::new(None);
    let account = s.storage.path().join("account.json");
    std::fs::write(&account, "{ not json").unwrap();
    let gw = s.start(&["http-01"]);
    let warned = eventually(Duration::from_secs(20), || {
        gw.log()
            .contains(&format!("acme: {HOST}: issuance failed (account)"))
    });
    assert!(warned, "{}", gw.log());
    assert!(
        gw.log()
            .contains(&format!("{} is corrupt", account.display())),
        "{}",
        gw.log()
    );
    assert_eq!(gw.get("/", &[("Host", HOST)]).status, 200);
}

#[test]
fn a_host_the_ca_refuses_is_a_warning_with_its_problem_and_the_others_are_served() {
    let mut s = Setup::refusing(None, &["blocked.acme.test"]);
    s.hosts = vec![HOST, "blocked.acme.test"];
    let gw = s.start(&["tls-alpn-01"]);
    s.wait_for_certificate(&gw, Duration::from_secs(60));
    let warned = eventually(Duration::from_secs(30), || {
        gw.log()
            .contains("acme: blocked.acme.test: issuance failed (rejected)")
    });
    assert!(warned, "{}", gw.log());
    assert!(logged(&gw, "rejectedIdentifier"), "{}", gw.log());
    assert!(s
        .metrics()
        .contains("helmgate_acme_failures_total{host=\"blocked.acme.test\",reason=\"rejected\"}"));
}

/// `--check` on a gateway with a file-less TLS listener and `[server.acme]`
/// holding `acme` (its storage a fresh directory).
fn check_acme(acme: &str) -> (bool, String) {
    let up: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let storage = TempDir::new("acme-check");
    let text = format!(
        "{}\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\n[server.acme]\nstorage = \"{}\"\n{acme}",
        GatewayOptions::default().config(listen, up).render(),
        storage.path().display()
    );
    check_config(&text)
}

#[test]
fn check_refuses_a_wildcard_host_naming_dns_01() {
    let (ok, out) = check_acme("hosts = [\"*.example.com\"]\n");
    assert!(!ok, "{out}");
    assert!(out.contains("server.acme.hosts[0]"), "{out}");
    assert!(out.contains("DNS-01"), "{out}");
}

#[test]
fn check_refuses_http_01_without_a_plain_http_listener_and_a_bad_directory() {
    let (ok, out) = check_acme(
        "hosts = [\"a.example.com\"]\nchallenges = [\"http-01\"]\ndirectory = \"http://ca.example/dir\"\n",
    );
    assert!(!ok, "{out}");
    assert!(out.contains("server.acme.challenges[0]"), "{out}");
    assert!(out.contains("server.acme.directory"), "{out}");
}

#[test]
fn check_prints_each_hosts_certificate_source() {
    let (ok, out) = check_acme("hosts = [\"a.example.com\"]\ndirectory = \"staging\"\n");
    assert!(ok, "{out}");
    let staging = "https://acme-staging-v02.api.letsencrypt.org/directory";
    assert!(
        out.contains(&format!("a.example.com: acme from {staging}")),
        "{out}"
    );
    assert!(out.contains("none stored yet"), "{out}");
}
