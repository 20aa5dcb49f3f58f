//! The recording test upstream: a real HTTP/1.1 server on loopback whose
//! behaviour is chosen by the request path.

use std::io::BufReader;
use std::io::{BufRead, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use super::client::{read_body, read_head};
use super::pages::e2e_response;

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

/// The placeholder the nonce tests configure.
pub const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

/// The `Set-Cookie` headers `/cookies` answers with (the cookie tests).
pub const COOKIES: &str = "Set-Cookie: sid=abc; Path=/; Max-Age=60\r\nSet-Cookie: theme=dark; SameSite=Strict\r\nSet-Cookie: __Host-id=1; Path=/app\r\nSet-Cookie: garbage\r\nSet-Cookie: session=x; Domain=gateway.test; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\n";

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
