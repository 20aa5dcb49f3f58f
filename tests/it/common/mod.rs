//! Test harness: the real helmgate binary, a recording upstream on loopback,
//! and a small HTTP/1.1 client over raw TCP (and TLS), so tests control every
//! byte that goes over the wire.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_helmgate");

/// The binary under test: `HELMGATE_TEST_BIN` points the suite at another
/// build (e.g. the release binary for resource measurements).
pub fn bin() -> String {
    std::env::var("HELMGATE_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

// ---------------------------------------------------------------------------
// Upstream

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
}

/// A real HTTP/1.1 server on loopback that records every request it gets.
/// Behaviour is chosen by path:
/// - `/hang`: reads the request, never answers;
/// - `/close-mid`: announces 1000 bytes, sends 10, closes;
/// - `/cors-star`: answers with its own `Access-Control-Allow-Origin: *`,
///   `Access-Control-Allow-Methods`, `Vary: Accept-Encoding`, `X-Powered-By`;
/// - `/html`: an HTML page with an inline and an external script;
/// - anything else: 200 `hello` with `X-Powered-By: Express`.
pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    /// Open connections, to cut them all when the upstream is "killed".
    conns: Arc<Mutex<Vec<Weak<TcpStream>>>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind upstream"))
    }

    pub fn start_on(listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).unwrap();
        let conns: Arc<Mutex<Vec<Weak<TcpStream>>>> = Arc::new(Mutex::new(Vec::new()));
        {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            let conns = Arc::clone(&conns);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let conn = Arc::new(conn);
                            let mut open = conns.lock().unwrap();
                            open.retain(|c| c.strong_count() > 0);
                            open.push(Arc::downgrade(&conn));
                            drop(open);
                            let requests = Arc::clone(&requests);
                            let stop = Arc::clone(&stop);
                            thread::spawn(move || serve_upstream(conn, requests, stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
        Upstream {
            addr,
            requests,
            stop,
            conns,
        }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }

    pub fn last(&self) -> Recorded {
        self.recorded()
            .last()
            .cloned()
            .expect("the upstream got a request")
    }
}

impl Drop for Upstream {
    /// Like a killed process: stop accepting and cut every open connection.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.conns.lock().unwrap().drain(..) {
            if let Some(c) = c.upgrade() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

fn serve_upstream(
    conn: Arc<TcpStream>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(&*conn);
    let mut conn = &*conn;
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        requests.lock().unwrap().push(req.clone());
        let body: &[u8] = match req.path.as_str() {
            "/hang" => {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            "/slow" => {
                thread::sleep(Duration::from_millis(1500));
                b""
            }
            "/close-mid" => {
                let _ =
                    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
            p if p.starts_with("/nonce-html") => {
                if write_nonce_html(conn, &req, p).is_err() {
                    return;
                }
                continue;
            }
            _ => b"",
        };
        let _ = body;
        let (extra, content_type, body): (&str, &str, Vec<u8>) = match req.path.as_str() {
            "/own-headers" => (
                "Content-Security-Policy: default-src *\r\nX-Frame-Options: ALLOWALL\r\nX-Content-Type-Options: none\r\nReferrer-Policy: unsafe-url\r\nCross-Origin-Embedder-Policy: unsafe-none\r\nStrict-Transport-Security: max-age=0\r\nX-Request-Id: upstream-id\r\nVary: Accept-Encoding\r\nX-Powered-By: Express\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            "/cacheable" => (
                "Cache-Control: public, max-age=600\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            "/private" => (
                "Cache-Control: private, max-age=60\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            "/cdn-cached" => (
                "Cache-Control: private, max-age=3600\r\nCDN-Cache-Control: max-age=600\r\nSurrogate-Control: max-age=600\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            "/no-store" => (
                "Cache-Control: no-store, private\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            "/cookies" => (COOKIES, "text/plain", b"hello".to_vec()),
            "/cors-star" => (
                "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: PUT\r\nAccess-Control-Expose-Headers: X-Secret\r\nVary: Accept-Encoding\r\nX-Powered-By: Express\r\n",
                "text/plain",
                b"hello".to_vec(),
            ),
            p if p.starts_with("/html") => (
                "",
                "text/html; charset=utf-8",
                HTML_PAGE.as_bytes().to_vec(),
            ),
            p if p.starts_with("/static/app.js") => ("", "application/javascript", APP_JS.as_bytes().to_vec()),
            p if p.starts_with("/e2e/") || p.starts_with("/static/e2e-") => {
                if conn.write_all(&e2e_response(&req)).is_err() {
                    return;
                }
                continue;
            }
            _ => ("X-Powered-By: Express\r\n", "text/plain", b"hello".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        // One write: a head and body in two segments would meet Nagle and
        // delayed ACK and stall each response by tens of milliseconds.
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}

/// The `Set-Cookie` headers `/cookies` answers with (the cookie tests).
pub const COOKIES: &str = "Set-Cookie: sid=abc; Path=/; Max-Age=60\r\nSet-Cookie: theme=dark; SameSite=Strict\r\nSet-Cookie: __Host-id=1; Path=/app\r\nSet-Cookie: garbage\r\nSet-Cookie: session=x; Domain=gateway.test; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\n";

/// The placeholder the nonce tests configure.
pub const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

/// HTML with the nonce placeholder split across separately written chunks
/// (`/nonce-html`), the same with a Content-Length (`/nonce-html-cl`), or
/// claimed gzip-encoded (`/nonce-html-gzip`). `X-Echo-Nonce` repeats the
/// nonce the upstream received.
fn write_nonce_html(mut conn: &TcpStream, req: &Recorded, path: &str) -> std::io::Result<()> {
    let echo = req.header("x-csp-nonce").unwrap_or("-").to_string();
    let chunks: [&[u8]; 4] = [
        b"<!doctype html><script nonce=\"__CSP_",
        b"NONCE__\">1</script><p data-n=\"__CSP_NONCE__\">",
        b"__CSP_NONCE_",
        b"_</p>",
    ];
    let body: Vec<u8> = chunks.concat();
    match path {
        "/nonce-html-cl" | "/nonce-html-gzip" => {
            let encoding = if path == "/nonce-html-gzip" {
                "Content-Encoding: gzip\r\n"
            } else {
                ""
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{encoding}X-Echo-Nonce: {echo}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes())?;
            for c in chunks {
                conn.write_all(c)?;
                conn.flush()?;
                thread::sleep(Duration::from_millis(20));
            }
        }
        _ => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\nX-Echo-Nonce: {echo}\r\n\r\n"
            );
            conn.write_all(head.as_bytes())?;
            for c in chunks {
                conn.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                conn.write_all(c)?;
                conn.write_all(b"\r\n")?;
                conn.flush()?;
                thread::sleep(Duration::from_millis(20));
            }
            conn.write_all(b"0\r\n\r\n")?;
        }
    }
    Ok(())
}

pub const HTML_PAGE: &str = r#"<!doctype html><html><head><title>t</title></head><body>
<script>window.inlineRan = true;</script>
<script src="/static/app.js"></script>
</body></html>"#;
pub const APP_JS: &str = "window.externalRan = true;";

fn read_request<R: BufRead>(reader: &mut R) -> Option<Recorded> {
    let (line, headers) = read_head(reader)?;
    let mut parts = line.splitn(3, ' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let body = read_body(reader, &headers, false)?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// The start line and the header fields of an HTTP/1.1 message.
fn read_head<R: BufRead>(reader: &mut R) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some((line.trim_end().to_string(), headers))
}

fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A chunked or Content-Length body; with neither, read to the end of the
/// connection when `to_close` (responses) or take none (requests).
fn read_body<R: BufRead>(
    reader: &mut R,
    headers: &[(String, String)],
    to_close: bool,
) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    if header_value(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) =
        header_value(headers, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if to_close {
        let _ = reader.read_to_end(&mut body);
    }
    Some(body)
}

// ---------------------------------------------------------------------------
// Gateway process

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    pub dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "helmgate-test-{tag}-{}-{}",
            std::process::id(),
            fastrand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

/// Options for starting a gateway.
pub struct GatewayOptions {
    pub environment: &'static str,
    pub extra_toml: String,
    pub origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            environment: "production",
            extra_toml: String::new(),
            origins: vec!["https://app.example.com".into()],
            trusted_proxies: vec![],
            env: vec![],
            args: vec![],
        }
    }
}

pub fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Gateway {
    pub fn start(upstream: SocketAddr, opts: GatewayOptions) -> Gateway {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let text = format!(
            "environment = \"{}\"\n[server]\nlisten = [\"{addr}\"]\ntrusted_proxies = [{}]\nthreads = 2\ngrace_period_secs = 10\n{}\n[upstream]\naddress = \"{upstream}\"\nread_timeout_secs = 2.0\nconnect_timeout_secs = 2.0\n[cors]\nallowed_origins = [{}]\n",
            opts.environment,
            quoted(&opts.trusted_proxies),
            opts.extra_toml,
            quoted(&opts.origins),
        );
        Self::start_with_config(addr, &text, opts.env, opts.args)
    }

    /// Start with a complete config text; `addr` is the proxy listener in it.
    pub fn start_with_config(
        addr: SocketAddr,
        text: &str,
        env: Vec<(String, String)>,
        args: Vec<String>,
    ) -> Gateway {
        let dir = TempDir::new("gw");
        let config_path = dir.path().join("helmgate.toml");
        std::fs::write(&config_path, text).unwrap();
        let log_path = dir.path().join("helmgate.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&config_path)
            .arg("--upgrade-sock")
            .arg(dir.path().join("upgrade.sock"))
            .args(&args)
            .env_remove("HELMGATE_ENV")
            .env_remove("NODE_ENV")
            .env_remove("CORS_ALLOWED_ORIGINS")
            .env_remove("HELMGATE_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn helmgate");
        let mut gw = Gateway {
            child,
            addr,
            log_path,
            config_path,
            dir,
        };
        gw.wait_ready(addr);
        gw
    }

    pub fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("helmgate exited early with {status}: {}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
        panic!("helmgate did not start listening on {addr}: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Wait for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers, b"")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string())
                .status();
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Client

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every Access-Control-* header name present.
    pub fn access_control(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().starts_with("access-control-"))
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect()
    }
}

pub fn build_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        out.push_str("Host: gateway.test\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a new connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut conn = TcpStream::connect(addr).expect("connect to gateway");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(&build_request(method, path, headers, body))
        .unwrap();
    read_response(&mut BufReader::new(conn), method == "HEAD").expect("a response")
}

/// Send raw bytes, read one response (or `None` if the connection closed first).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Response> {
    let mut conn = TcpStream::connect(addr).expect("connect to gateway");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(bytes).ok()?;
    read_response(&mut BufReader::new(conn), false)
}

/// Read every response the gateway sends on one connection after `bytes`.
pub fn raw_all(addr: SocketAddr, bytes: &[u8]) -> Vec<Response> {
    let mut conn = TcpStream::connect(addr).expect("connect to gateway");
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = conn.write_all(bytes);
    let mut reader = BufReader::new(conn);
    let mut out = Vec::new();
    while let Some(r) = read_response(&mut reader, false) {
        out.push(r);
    }
    out
}

pub fn read_response<R: BufRead>(reader: &mut R, head_only: bool) -> Option<Response> {
    let (line, headers) = read_head(reader)?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let bodiless = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if bodiless {
        Vec::new()
    } else {
        read_body(reader, &headers, true)?
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// A keep-alive connection for sending several requests in order.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let conn = TcpStream::connect(addr).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            writer: conn.try_clone().unwrap(),
            reader: BufReader::new(conn),
        }
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Response> {
        self.writer
            .write_all(&build_request(method, path, headers, body))
            .ok()?;
        read_response(&mut self.reader, method == "HEAD")
    }
}

/// Wait until `cond` holds, up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Security headers every production response must carry (HSTS aside).
pub const CSP_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";

pub fn assert_production_headers(r: &Response) {
    assert_production_headers_with_csp(r, CSP_PRODUCTION);
}

/// The production set from a gateway with `[reports]` on (plain HTTP): the
/// CSP names the collector.
pub fn assert_production_headers_reporting(r: &Response) {
    assert_production_headers_with_csp(
        r,
        &format!("{CSP_PRODUCTION}; report-uri /.helmgate/reports"),
    );
}

pub fn assert_production_headers_with_csp(r: &Response, csp: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(csp),
        "CSP on {r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{r:?}"
    );
    assert_eq!(
        r.header("cross-origin-embedder-policy"),
        Some("require-corp"),
        "{r:?}"
    );
    assert!(!r.has("x-powered-by"), "{r:?}");
}

pub type Queue<T> = Arc<Mutex<VecDeque<T>>>;

// ---------------------------------------------------------------------------
// Pages and endpoints for the browser tests (tests/browser.rs)

/// The cookie `/e2e/set-cookie` sets: host-only, `HttpOnly` (so no page
/// script can read or forge it: only the browser's cookie jar sends it).
pub const E2E_COOKIE: &str = "helmgate_e2e=s3cret";

/// A page like [`HTML_PAGE`] whose first (external) script records every
/// `securitypolicyviolation` event in `window.violations`.
pub const E2E_CSP_PROBE: &str = r#"<!doctype html><html><head><title>csp probe</title><link rel="icon" href="data:,"></head><body>
<script src="/static/e2e-listen.js"></script>
<script>window.inlineRan = true;</script>
<script src="/static/app.js"></script>
</body></html>"#;

/// Three inline scripts: one with the gateway's nonce (written in place of
/// the placeholder), one without a nonce, one with a wrong one. The first
/// also records every `securitypolicyviolation` with its disposition.
pub const E2E_NONCE_PROBE: &str = r#"<!doctype html><html><head><title>nonce probe</title><link rel="icon" href="data:,"></head><body>
<script nonce="__CSP_NONCE__">window.violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.violations.push({ directive: e.effectiveDirective, disposition: e.disposition });
});
window.nonceRan = true;</script>
<script>window.plainRan = true;</script>
<script nonce="d3Jvbmctbm9uY2U=">window.wrongRan = true;</script>
</body></html>"#;

pub const E2E_LISTEN_JS: &str = "window.violations = [];\
document.addEventListener('securitypolicyviolation', function (e) {\
  window.violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI });\
});";

/// A page meant to be framed: its script tells the parent it rendered.
pub const E2E_FRAMED: &str = r#"<!doctype html><html><head><title>framed</title><link rel="icon" href="data:,"></head><body>
framed
<script src="/static/e2e-framed.js"></script>
</body></html>"#;

pub const E2E_FRAMED_JS: &str = "parent.postMessage('rendered:' + location.origin, '*');";

/// The responses under `/e2e/` and `/static/e2e-`, used by the browser tests
/// both as the upstream behind the gateway and as the pages' own servers:
/// - `/e2e/page`: an empty HTML page to run scripts from;
/// - `/e2e/open-cors…`: CORS that allows anything (echoes the `Origin`, the
///   requested method and headers, with credentials), for controls;
/// - `/e2e/set-cookie`: sets [`E2E_COOKIE`] (`SameSite=Lax`, `HttpOnly`);
/// - `/e2e/csp-probe`: [`E2E_CSP_PROBE`]; `/e2e/framed`: [`E2E_FRAMED`];
/// - `/static/e2e-listen.js`, `/static/e2e-framed.js`: their scripts;
/// - anything else: 404 (e.g. `/e2e/ws`, where a WebSocket handshake fails
///   after reaching this server).
///
/// Every page names a `data:` icon, so the browser never asks for
/// `/favicon.ico` (a request that would land in the record at any time).
pub fn e2e_response(req: &Recorded) -> Vec<u8> {
    let path = req.path.split('?').next().unwrap_or("");
    let html = "text/html; charset=utf-8";
    let js = "application/javascript";
    let (status, extra, content_type, body): (&str, String, &str, &str) = match path {
        "/e2e/page" => (
            "200 OK",
            String::new(),
            html,
            "<!doctype html><html><head><title>e2e</title><link rel=\"icon\" href=\"data:,\"></head><body>e2e</body></html>",
        ),
        p if p.starts_with("/e2e/open-cors") => {
            let origin = req.header("origin").unwrap_or("*");
            let method = req.header("access-control-request-method").unwrap_or("GET");
            let headers = req.header("access-control-request-headers").unwrap_or("");
            (
                "200 OK",
                format!(
                    "Access-Control-Allow-Origin: {origin}\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Methods: {method}\r\nAccess-Control-Allow-Headers: {headers}\r\nVary: Origin\r\n"
                ),
                "text/plain",
                "open",
            )
        }
        "/e2e/set-cookie" => (
            "200 OK",
            format!("Set-Cookie: {E2E_COOKIE}; Path=/; SameSite=Lax; HttpOnly\r\n"),
            html,
            "<!doctype html><title>cookie</title><link rel=\"icon\" href=\"data:,\">cookie set",
        ),
        "/e2e/csp-probe" => ("200 OK", String::new(), html, E2E_CSP_PROBE),
        "/e2e/nonce-probe" => ("200 OK", String::new(), html, E2E_NONCE_PROBE),
        "/e2e/framed" => ("200 OK", String::new(), html, E2E_FRAMED),
        "/static/e2e-listen.js" => ("200 OK", String::new(), js, E2E_LISTEN_JS),
        "/static/e2e-framed.js" => ("200 OK", String::new(), js, E2E_FRAMED_JS),
        _ => ("404 Not Found", String::new(), "text/plain", "no such page"),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

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
        std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
        TestCert {
            cert,
            key,
            der: generated.cert.der().clone(),
        }
    }

    /// A `[[server.tls]]` table for a listener on 127.0.0.1:`port`.
    pub fn tls_toml(&self, port: u16) -> String {
        format!(
            "[[server.tls]]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\n",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

/// A production gateway (default options) with a TLS listener beside its
/// plain one: the gateway, its certificate, the TLS address, and the
/// directory holding the certificate (keep it alive as long as the gateway).
pub fn start_with_tls(upstream: SocketAddr, tag: &str) -> (Gateway, TestCert, SocketAddr, TempDir) {
    let dir = TempDir::new(tag);
    let cert = TestCert::write(dir.path());
    let tls_port = free_port();
    let gw = Gateway::start(
        upstream,
        GatewayOptions {
            extra_toml: cert.tls_toml(tls_port),
            ..GatewayOptions::default()
        },
    );
    let tls = format!("127.0.0.1:{tls_port}").parse().unwrap();
    (gw, cert, tls, dir)
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
