//! A small HTTP/1.1 client over raw TCP, so tests control every byte that
//! goes over the wire, and the HTTP/1.1 message reading the test upstream
//! shares.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
/// The start line and the header fields of an HTTP/1.1 message.
pub(super) fn read_head<R: BufRead>(reader: &mut R) -> Option<(String, Vec<(String, String)>)> {
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
pub(super) fn read_body<R: BufRead>(
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
