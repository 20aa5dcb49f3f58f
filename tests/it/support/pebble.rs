//! Let's Encrypt's test CA, Pebble, and its DNS mock `pebble-challtestsrv`
//! (Debian's `pebble` package), on loopback: challtestsrv answers every A
//! query with 127.0.0.1, and Pebble validates challenges against the
//! gateway's listeners (`httpPort`, `tlsPort`). Pebble's own HTTPS uses a
//! certificate made here, whose root the gateway gets as `ca_roots`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

use super::gateway::TempDir;
use super::ports::Port;

pub const PEBBLE: &str = "/usr/bin/pebble";
pub const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";

pub struct Pebble {
    pebble: Option<Child>,
    challtestsrv: Child,
    pub dir: TempDir,
    /// The ACME directory URL.
    pub directory: String,
    pub listen: SocketAddr,
    pub management: SocketAddr,
    /// PEM root of Pebble's own HTTPS certificate (`ca_roots`).
    pub ca_roots: PathBuf,
    root_der: CertificateDer<'static>,
    /// The issuing root of the running Pebble, once fetched.
    issuing: std::sync::OnceLock<CertificateDer<'static>>,
    config: PathBuf,
    dns: SocketAddr,
    _ports: Vec<Port>,
}

impl Pebble {
    /// Pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port`; its certificates live `validity_secs` (Pebble's default,
    /// 5 years, when `None`).
    pub fn start(http_port: u16, tls_port: u16, validity_secs: Option<u64>) -> Pebble {
        Pebble::start_refusing(http_port, tls_port, validity_secs, &[])
    }

    /// `start`, with Pebble refusing to issue for the `blocked` names.
    pub fn start_refusing(
        http_port: u16,
        tls_port: u16,
        validity_secs: Option<u64>,
        blocked: &[&str],
    ) -> Pebble {
        let dir = TempDir::new("pebble");
        let ports: Vec<Port> = (0..3).map(|_| Port::reserve()).collect();
        let (listen, management, dns) = (ports[0].addr(), ports[1].addr(), ports[2].addr());
        let (ca_roots, root_der) = https_certificate(&dir);
        let mut pebble = serde_json::json!({
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": dir.path().join("pebble.crt"),
            "privateKey": dir.path().join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "domainBlocklist": blocked,
        });
        if let Some(v) = validity_secs {
            pebble["certificateValidityPeriod"] = v.into();
        }
        let config = dir.path().join("pebble.json");
        std::fs::write(&config, serde_json::json!({ "pebble": pebble }).to_string()).unwrap();
        let challtestsrv = Command::new(CHALLTESTSRV)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args([
                "-dns01",
                &dns.to_string(),
                "-management",
                &format!("127.0.0.1:{}", Port::reserve().port()),
            ])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("challtestsrv.log")).unwrap())
            .spawn()
            .expect("pebble-challtestsrv (apt install pebble)");
        let mut p = Pebble {
            pebble: None,
            challtestsrv,
            directory: format!("https://{listen}/dir"),
            listen,
            management,
            ca_roots,
            root_der,
            issuing: std::sync::OnceLock::new(),
            config,
            dns,
            dir,
            _ports: ports,
        };
        p.restart();
        p
    }

    /// Start Pebble (again: it forgets its accounts and orders).
    pub fn restart(&mut self) {
        self.stop();
        self.issuing = std::sync::OnceLock::new();
        let log = std::fs::File::create(self.dir.path().join("pebble.log")).unwrap();
        let child = Command::new(PEBBLE)
            .arg("-config")
            .arg(&self.config)
            .arg("-dnsserver")
            .arg(self.dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble (apt install pebble)");
        self.pebble = Some(child);
        let up = super::eventually(Duration::from_secs(20), || {
            TcpStream::connect_timeout(&self.listen, Duration::from_millis(100)).is_ok()
                && TcpStream::connect_timeout(&self.management, Duration::from_millis(100)).is_ok()
        });
        assert!(up, "pebble did not start: {}", self.log());
    }

    /// Stop Pebble (challtestsrv keeps running).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.pebble.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The root that issues the certificates, from Pebble's management
    /// interface (`/roots/0`), fetched once per Pebble run.
    pub fn issuing_root(&self) -> CertificateDer<'static> {
        self.issuing
            .get_or_init(|| self.fetch_issuing_root())
            .clone()
    }

    fn fetch_issuing_root(&self) -> CertificateDer<'static> {
        let body = https_get(self.management, "/roots/0", &self.root_der);
        let certs = CertificateDer::pem_slice_iter(body.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM from /roots/0");
        certs.into_iter().next().expect("a root")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.challtestsrv.kill();
        let _ = self.challtestsrv.wait();
    }
}

use rustls::pki_types::pem::PemObject;

/// A CA and a certificate for 127.0.0.1 it signed, for Pebble's HTTPS:
/// writes pebble.crt, pebble.key and roots.pem; returns roots.pem's path
/// and the root.
fn https_certificate(dir: &TempDir) -> (PathBuf, CertificateDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "helmgate test pebble https root");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.path().join("pebble.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("pebble.key"), key.serialize_pem()).unwrap();
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.pem()).unwrap();
    (roots, ca.der().clone())
}

/// A client config trusting only `root`.
pub fn client_config(root: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    store.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// GET over HTTPS to `addr` as 127.0.0.1, trusting `root`: the body.
fn https_get(addr: SocketAddr, path: &str, root: &CertificateDer<'static>) -> String {
    let name = ServerName::IpAddress(addr.ip().into());
    let (_, response) = get(addr, name, &addr.to_string(), path, root).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// One verified HTTPS request to the gateway's TLS listener with SNI
/// `host`: the certificate chain it presented and the response's status
/// line, or the TLS or I/O error.
pub fn verified_get(
    addr: SocketAddr,
    host: &str,
    root: &CertificateDer<'static>,
) -> Result<(Vec<CertificateDer<'static>>, String), String> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let (chain, response) = get(addr, name, host, "/", root)?;
    let status = response.lines().next().unwrap_or_default().to_string();
    Ok((chain, status))
}

/// `GET path` over HTTP/1.1 and TLS to `name`, trusting only `root`: the
/// chain the server presented and the whole response.
fn get(
    addr: SocketAddr,
    name: ServerName<'static>,
    host: &str,
    path: &str,
    root: &CertificateDer<'static>,
) -> Result<(Vec<CertificateDer<'static>>, String), String> {
    let conn = rustls::ClientConnection::new(client_config(root, &[b"http/1.1"]), name)
        .map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if !out.is_empty() => drop(e),
        Err(e) => return Err(e.to_string()),
    }
    let chain = tls
        .conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    Ok((chain, String::from_utf8_lossy(&out).to_string()))
}
