//! Issue 18 item 8: request bodies that arrive too slowly
//! (`request_body_timeout_secs`, `request_body_min_rate`) are cut: `408`
//! before anything went upstream, both connections closed after. Small
//! limits keep every test to a few seconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// What the raw upstream saw on its one connection.
struct Seen {
    bytes: Vec<u8>,
    /// The gateway closed the connection (rather than the wait running out).
    closed: bool,
}

/// An upstream that accepts one connection, never answers, and reports what
/// it read once the gateway closes it (or after 15 s).
fn silent_upstream() -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        conn.set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match conn.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        let _ = tx.send(Seen { bytes, closed });
    });
    (addr, rx)
}

/// A gateway with the given body timeout and minimum rate, an admin
/// listener for `/metrics`, reports on, and an upstream read timeout far
/// beyond the body limits (so the upstream's silence is never what ends a
/// request).
fn start(upstream: SocketAddr, timeout_secs: u64, min_rate: u64) -> (Gateway, SocketAddr) {
    let (listen, admin) = (Port::reserve(), Port::reserve());
    let admin_addr = admin.addr();
    let mut config = Config::production(listen.addr(), upstream, &["https://app.example.com"])
        .upstream(UpstreamSection::at(upstream).read_timeout(30.0))
        .set("server.request_body_timeout_secs", timeout_secs)
        .set("server.request_body_min_rate", min_rate)
        .set("reports.enabled", true)
        // `Host: gateway.test`, the test client's, must name the admin
        // listener (since the DNS-rebinding check).
        .admin(Admin::on(admin_addr));
    config.server.grace_period_secs = Some(1);
    let mut gw = Gateway::with_config(listen, &config, vec![], vec![]);
    gw.hold(admin);
    (gw, admin_addr)
}

fn body_timeouts(admin: SocketAddr, limit: &str) -> u64 {
    let r = request(admin, "GET", "/metrics", &[], b"");
    let needle = format!("helmgate_request_body_timeouts_total{{limit=\"{limit}\"}} ");
    r.body_text()
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {needle} in /metrics"))
}

/// Send a POST head announcing `length` body bytes, then `first` of them.
fn post_head(gw: &Gateway, path: &str, length: usize, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/csp-report\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(first).unwrap();
    s
}

/// Trickle one byte every `every` until the gateway closes the connection
/// (a write fails or a read sees the end), at most `limit`: how long that
/// took and whatever it sent back.
fn trickle_until_closed(mut s: TcpStream, every: Duration, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    s.set_read_timeout(Some(every)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (started.elapsed(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (started.elapsed(), got),
        }
        if s.write_all(b"x").is_err() {
            return (started.elapsed(), got);
        }
    }
    panic!("still open after {limit:?}");
}

#[test]
fn a_body_below_the_minimum_rate_closes_both_connections_after_the_head_went_upstream() {
    let (up, seen) = silent_upstream();
    let (gw, admin) = start(up, 1, 100000);
    let s = post_head(&gw, "/upload", 100_000, b"first");
    // A byte every 200 ms is never idle for 1 s, but far below the rate.
    let (took, answer) =
        trickle_until_closed(s, Duration::from_millis(200), Duration::from_secs(10));
    assert!(
        answer.is_empty(),
        "no answer once the head went upstream: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let upstream = seen
        .recv_timeout(Duration::from_secs(15))
        .expect("the upstream connection ended");
    assert!(
        upstream.closed,
        "the gateway closed the upstream connection"
    );
    assert!(upstream.bytes.starts_with(b"POST /upload HTTP/1.1\r\n"));
    assert_eq!(body_timeouts(admin, "min_rate"), 1);
    assert_eq!(body_timeouts(admin, "idle"), 0);
    assert!(
        eventually(Duration::from_secs(3), || gw
            .log()
            .contains("request body too slow limit=min_rate client=127.0.0.1")),
        "{}",
        gw.log()
    );
    assert!(!gw.log().contains(" ERROR "), "{}", gw.log());
    // Cut well before the 30 s upstream timeout could have ended it.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_body_that_stops_is_cut_after_the_body_timeout() {
    let (up, seen) = silent_upstream();
    let (gw, admin) = start(up, 1, 0);
    let mut s = post_head(&gw, "/upload", 100, b"12345");
    let started = Instant::now();
    let mut rest = Vec::new();
    // The gateway ends the connection without an answer: EOF or a reset.
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    let upstream = seen
        .recv_timeout(Duration::from_secs(15))
        .expect("the upstream connection ended");
    assert!(upstream.closed);
    assert!(
        upstream.bytes.ends_with(b"12345"),
        "{:?}",
        String::from_utf8_lossy(&upstream.bytes)
    );
    assert_eq!(body_timeouts(admin, "idle"), 1);
    assert_eq!(body_timeouts(admin, "min_rate"), 0);
}

#[test]
fn a_slow_body_not_yet_forwarded_gets_a_decorated_408() {
    // The report endpoint reads its body itself and forwards nothing.
    let up = Upstream::start();
    let (gw, admin) = start(up.addr, 1, 0);
    let s = post_head(&gw, "/.helmgate/reports", 100, b"{\"csp");
    let r = read_response(&mut std::io::BufReader::new(&s), false).expect("a 408");
    assert_eq!(r.status, 408, "{r:?}");
    assert_production_headers_reporting(&r);
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    assert!(r.header("x-request-id").is_some());
    assert_eq!(body_timeouts(admin, "idle"), 1);
    assert_eq!(up.count(), 0);
    // The default 20 s would still be waiting: the 10 s head timeout is not
    // what answered.
    let wanted = "request body too slow limit=idle";
    let log = gw.log_with(&[wanted]);
    assert!(log.contains(wanted), "{log}");
}

#[test]
fn a_body_at_a_steady_pace_is_forwarded_whole() {
    let up = Upstream::start();
    let (gw, admin) = start(up.addr, 1, 1000);
    let mut s = post_head(&gw, "/upload", 3000, &[b'a'; 1000]);
    // 1000 bytes every 300 ms: well above 1000 bytes a second.
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(300));
        s.write_all(&[b'a'; 1000]).unwrap();
    }
    let r = read_response(&mut std::io::BufReader::new(&s), false).expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(up.last().body.len(), 3000);
    assert_eq!(
        body_timeouts(admin, "idle") + body_timeouts(admin, "min_rate"),
        0
    );
}
