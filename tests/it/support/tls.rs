//! TLS: a throwaway certificate, HTTP/1.1 and HTTP/2 clients over TLS, and
//! a gateway with a TLS listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{build_request, read_response, Response};
use super::config::{Settings, Tls};
use super::gateway::{Gateway, GatewayOptions, TempDir};
use super::ports::Port;

/// One GET over TLS, trusting only `root`.
pub fn tls_get(
    addr: std::net::SocketAddr,
    root: rustls::pki_types::CertificateDer<'static>,
    headers: &[(&str, &str)],
) -> Response {
    let mut h = headers.to_vec();
    h.push(("Connection", "close"));
    tls_raw(addr, root, &build_request("GET", "/", &h, b"")).expect("a TLS response")
}

/// Send raw bytes over TLS (HTTP/1.1 by ALPN default), read one response.
pub fn tls_raw(
    addr: std::net::SocketAddr,
    root: rustls::pki_types::CertificateDer<'static>,
    bytes: &[u8],
) -> Option<Response> {
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    use std::io::Write;
    stream.write_all(bytes).ok()?;
    read_response(&mut std::io::BufReader::new(stream), false)
}

/// A fresh self-signed certificate for `localhost`, written as PEM files in
/// a directory (overwriting the previous one there).
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    pub fn write(dir: &Path) -> TestCert {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        TestCert {
            cert,
            key,
            der: generated.cert.der().clone(),
        }
    }

    /// A `[[server.tls]]` listener on `listen` with this certificate.
    pub fn tls(&self, listen: SocketAddr) -> Tls {
        Tls {
            listen,
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

/// A production gateway (default options) with a TLS listener beside its
/// plain one: the gateway, its certificate, the TLS address, and the
/// directory holding the certificate (keep it alive as long as the gateway).
pub fn start_with_tls(upstream: SocketAddr, tag: &str) -> (Gateway, TestCert, SocketAddr, TempDir) {
    let dir = TempDir::new(tag);
    let cert = TestCert::write(dir.path());
    let tls = Port::reserve();
    let mut gw = Gateway::start(
        upstream,
        GatewayOptions {
            settings: Settings::new().set("server.tls", [cert.tls(tls.addr())]),
            ..GatewayOptions::default()
        },
    );
    let addr = tls.addr();
    gw.hold(tls);
    (gw, cert, addr, dir)
}

/// One HTTP/2 GET over TLS (ALPN `h2`), trusting only `root`: status,
/// headers and body. `authority` becomes `:authority`; `extra` headers are
/// sent as given (a `host` among them too).
pub fn h2_get(
    addr: SocketAddr,
    root: rustls::pki_types::CertificateDer<'static>,
    authority: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<(u16, http::HeaderMap, Vec<u8>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).map_err(|e| e.to_string())?;
        let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (mut client, connection) = h2::client::handshake(tls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = http::Request::builder()
            .method("GET")
            .uri(format!("https://{authority}{path}"));
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request.body(()).map_err(|e| e.to_string())?;
        let (response, _) = client
            .send_request(request, true)
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .map_err(|_| "no HTTP/2 response in 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        Ok((parts.status.as_u16(), parts.headers, bytes))
    })
}
