//! helmgate under attack and under faults: crafted origins, request smuggling,
//! limits, upstream failures, disconnects and connection load. Every test
//! talks raw TCP to the real binary and checks what reached the upstream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const APP: &str = "https://app.example.com";

fn prod(up: &Upstream) -> Gateway {
    Gateway::start(up.addr, GatewayOptions::default())
}

// --- Crafted origins ----------------------------------------------------------

/// Origins built to fool a matcher, each with why it must not pass. The
/// allowlist holds only https://app.example.com.
const CRAFTED_ORIGINS: &[(&[u8], &str)] = &[
    (
        b"https://app.example.com.evil.com",
        "suffix: allowed origin as a subdomain of the attacker's",
    ),
    (
        b"https://evilapp.example.com",
        "prefix glued to the allowed host",
    ),
    (
        b"https://app.example.comevil.com",
        "allowed host as a prefix of another",
    ),
    (
        b"https://evil.com/https://app.example.com",
        "allowed origin inside a path",
    ),
    (b"http://app.example.com", "scheme downgrade to http"),
    (b"https://app.example.com:8443", "another port"),
    (
        b"https://app.example.com:0443",
        "non-canonical default port with a leading zero",
    ),
    (b"https://app.example.com:443:443", "two ports"),
    (
        b"https://app.example.com:443abc",
        "port with trailing garbage",
    ),
    (b"https://user@app.example.com", "userinfo"),
    (
        b"https://app.example.com@evil.com",
        "userinfo trick: the real host is evil.com",
    ),
    (
        b"https://app.example.com.",
        "trailing dot: a different origin for the browser",
    ),
    (
        b"https://app.example.com/",
        "trailing slash: not an origin serialization",
    ),
    (b"https://app.example.com#", "fragment"),
    (b"https://app.example.com?", "query"),
    (
        b"https://app.example.com\\@evil.com",
        "backslash, which some parsers treat as /",
    ),
    (b"https://app.example.com%2eevil.com", "percent-encoded dot"),
    (
        b"https://app_example.com",
        "underscore, accepted in hosts by some browsers",
    ),
    (b"https://app.example.com;evil.com", "semicolon"),
    (b"https://app.example.com&evil.com", "ampersand"),
    (
        b"https://\xd0\xb0pp.example.com",
        "IDN look-alike in raw UTF-8 (Cyrillic a)",
    ),
    (
        b"https://xn--pp-7kc.example.com",
        "IDN look-alike in punycode",
    ),
    (
        b"https://APP.EXAMPLE.COM.evil.com",
        "case games on a suffix trick",
    ),
    (
        b"null",
        "opaque origin: sandboxed frames, file: pages, redirects",
    ),
    (b"file://", "file scheme"),
    (b"chrome-extension://abcdefghijklmnop", "extension origin"),
    (
        b"javascript:alert(1)//https://app.example.com",
        "javascript scheme",
    ),
    (b"data:text/html,https://app.example.com", "data scheme"),
    (b"ws://app.example.com", "WebSocket scheme"),
    (b"https:app.example.com", "missing //"),
    (b"https:///app.example.com", "three slashes"),
    (b"//app.example.com", "scheme-relative"),
    (b"app.example.com", "no scheme"),
    (
        b"https://app.example.com https://evil.com",
        "space-separated list",
    ),
    (
        b"https://app.example.com,https://evil.com",
        "comma list in one header",
    ),
    (
        b"https://app.example.com, https://app.example.com",
        "comma list of the allowed origin",
    ),
    (b"*", "wildcard"),
    (b"", "empty value"),
    (b"https://app .example.com", "space inside the host"),
    (
        b"https://[::1]@app.example.com",
        "IPv6 literal with userinfo",
    ),
    (b"https://0x7f000001", "hex IPv4"),
    (b"https://2130706433", "decimal IPv4"),
    (
        b"https://app.example.com\xc2\xa0",
        "trailing non-breaking space",
    ),
    (b"https://app.example.com\x85", "trailing NEL (obs-text)"),
];

#[test]
fn crafted_origins_are_refused_and_never_reach_the_upstream() {
    let up = Upstream::start();
    let gw = prod(&up);
    let mut passed = Vec::new();
    for (origin, why) in CRAFTED_ORIGINS {
        for method in ["GET", "OPTIONS"] {
            let mut req =
                format!("{method} /probe HTTP/1.1\r\nHost: gateway.test\r\nOrigin: ").into_bytes();
            req.extend_from_slice(origin);
            req.extend_from_slice(b"\r\nAccess-Control-Request-Method: GET\r\n\r\n");
            match raw(gw.addr, &req) {
                // Refused by us (403) or by the HTTP parser (400) are both fine.
                Some(r) if r.status == 403 || r.status == 400 => {
                    assert!(!r.has("access-control-allow-origin"), "{why}: {r:?}");
                }
                Some(r) => passed.push(format!(
                    "{method} {:?} ({why}): {}",
                    String::from_utf8_lossy(origin),
                    r.status
                )),
                None => {}
            }
        }
    }
    assert!(
        passed.is_empty(),
        "crafted origins got through: {passed:#?}"
    );
    assert_eq!(up.count(), 0, "{:?}", up.recorded());
    // Control: the genuine origin, in any case and with its default port, works.
    assert_eq!(
        gw.get("/", &[("Origin", "HTTPS://APP.EXAMPLE.COM:443")])
            .status,
        200
    );
}

#[test]
fn two_origin_headers_are_refused() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = raw(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: gateway.test\r\nOrigin: https://evil.com\r\nOrigin: https://app.example.com\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(up.count(), 0);
}

#[test]
fn spoofed_forwarded_host_and_proto_cannot_buy_same_origin() {
    let up = Upstream::start();
    let gw = prod(&up);
    for headers in [
        vec![
            ("X-Forwarded-Host", "evil.com"),
            ("Origin", "http://evil.com"),
        ],
        vec![
            ("X-Forwarded-Host", "evil.com"),
            ("X-Forwarded-Proto", "https"),
            ("Origin", "https://evil.com"),
        ],
        vec![
            ("Forwarded", "host=evil.com;proto=https"),
            ("Origin", "https://evil.com"),
        ],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("Origin", "https://gateway.test"),
        ],
    ] {
        let r = gw.get("/", &headers);
        assert_eq!(r.status, 403, "{headers:?}");
    }
    assert_eq!(up.count(), 0);
}

// --- Request smuggling and malformed framing ------------------------------------

struct Case {
    name: &'static str,
    bytes: &'static [u8],
    /// Status the client must get (any of these); `None` means the connection
    /// may simply be closed.
    status: &'static [u16],
    /// Must the gateway's own security headers be on that response?
    our_headers: bool,
}

const SMUGGLING: &[Case] = &[
    Case {
        name: "CL.TE: Content-Length and Transfer-Encoding together",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: true,
    },
    Case {
        name: "TE.CL: the same, in the other order",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
        status: &[400],
        our_headers: true,
    },
    Case {
        name: "obfuscated Transfer-Encoding value",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "chunked not last",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "space before the colon",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "two different Content-Length values",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "Content-Length list with different values",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 4, 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "obs-fold continuation line",
        bytes: b"GET / HTTP/1.1\r\nHost: gateway.test\r\nX-Folded: a\r\n b\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "NUL in a header value",
        bytes: b"GET / HTTP/1.1\r\nHost: gateway.test\r\nX-Nul: a\x00b\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "bare CR inside a header value",
        bytes: b"GET / HTTP/1.1\r\nHost: gateway.test\r\nX-Cr: a\rb\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "HTTP/1.1 without Host",
        bytes: b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
        status: &[400],
        our_headers: true,
    },
    Case {
        name: "two Host headers",
        bytes: b"GET / HTTP/1.1\r\nHost: gateway.test\r\nHost: evil.com\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "HTTP/1.0 with Transfer-Encoding",
        bytes: b"POST / HTTP/1.0\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "HTTP/0.9 request line",
        bytes: b"GET /smuggled\r\n\r\n",
        status: &[400],
        our_headers: false,
    },
    Case {
        name: "invalid chunk size",
        bytes: b"POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        status: &[400, 502],
        our_headers: false,
    },
];

#[test]
fn ambiguous_framing_is_refused_and_nothing_is_smuggled() {
    let up = Upstream::start();
    let gw = prod(&up);
    for case in SMUGGLING {
        up.clear();
        let responses = raw_all(gw.addr, case.bytes);
        let first = responses.first();
        match first {
            Some(r) => {
                assert!(
                    case.status.contains(&r.status),
                    "{}: got {} {r:?}",
                    case.name,
                    r.status
                );
                if case.our_headers {
                    assert_production_headers(r);
                }
            }
            None => panic!("{}: the connection closed without a response", case.name),
        }
        assert!(
            responses.len() <= 1,
            "{}: a second response means a second request was parsed",
            case.name
        );
        let seen = up.recorded();
        assert!(
            seen.iter().all(|r| r.path != "/smuggled"),
            "{}: the upstream got a smuggled request {seen:?}",
            case.name
        );
        // A refused request never reaches the upstream at all.
        if first.is_some_and(|r| r.status == 400) {
            assert!(seen.is_empty(), "{}: {seen:?}", case.name);
        }
    }
}

#[test]
fn a_request_hidden_in_a_body_stays_body() {
    let up = Upstream::start();
    let gw = prod(&up);
    let hidden = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    )
    .into_bytes();
    req.extend_from_slice(hidden);
    let responses = raw_all(gw.addr, &req);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    let seen = up.recorded();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/upload");
    assert_eq!(seen[0].body, hidden);
    // Same with a chunked body.
    up.clear();
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    req.extend_from_slice(format!("{:x}\r\n", hidden.len()).as_bytes());
    req.extend_from_slice(hidden);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let responses = raw_all(gw.addr, &req);
    assert_eq!(responses.len(), 1);
    let seen = up.recorded();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body, hidden);
}

#[test]
fn connection_header_cannot_strip_forwarding_headers() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = raw(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: gateway.test\r\nConnection: close, X-Forwarded-For, X-Request-Id\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
    )
    .unwrap();
    // Pingora refuses hop-by-hop tricks on these names with its own 400; if a
    // future version forwards instead, our headers must still be there.
    if r.status == 200 {
        let seen = up.last();
        assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
        assert!(seen.header("x-request-id").is_some());
    } else {
        assert_eq!(r.status, 400);
        assert_eq!(up.count(), 0);
    }
}

#[test]
fn absolute_form_target_does_not_change_the_host_seen_upstream() {
    let up = Upstream::start();
    let gw = prod(&up);
    let r = raw(
        gw.addr,
        b"GET http://evil.com/x HTTP/1.1\r\nHost: gateway.test\r\n\r\n",
    )
    .unwrap();
    if r.status == 200 {
        let seen = up.last();
        assert_eq!(seen.header("host"), Some("gateway.test"));
        assert_eq!(seen.header_count("host"), 1);
    } else {
        assert_eq!(r.status, 400);
        assert_eq!(up.count(), 0);
    }
}

// --- Limits -------------------------------------------------------------------------

#[test]
fn oversized_request_head_gets_431_with_headers() {
    let up = Upstream::start();
    let gw = prod(&up);
    let big = "a".repeat(70 * 1024);
    let r = request(gw.addr, "GET", "/", &[("X-Big", &big)], b"");
    assert_eq!(r.status, 431);
    assert_production_headers(&r);
    assert_eq!(up.count(), 0);
    // Just under the default 64 KiB cap is fine.
    let ok = "a".repeat(60 * 1024);
    assert_eq!(
        request(gw.addr, "GET", "/", &[("X-Big", &ok)], b"").status,
        200
    );
}

#[test]
fn body_over_the_limit_gets_413() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("server.max_request_body_bytes", 100),
            ..GatewayOptions::default()
        },
    );
    let r = request(gw.addr, "POST", "/", &[], &[b'x'; 200]);
    assert_eq!(r.status, 413);
    assert_production_headers(&r);
    assert_eq!(up.count(), 0);
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        300,
        "y".repeat(300)
    );
    let r = raw(gw.addr, chunked.as_bytes()).unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(request(gw.addr, "POST", "/", &[], &[b'x'; 50]).status, 200);
}

#[test]
fn idle_keepalive_connections_are_closed_after_the_timeout() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("server.keepalive_timeout_secs", 1),
            ..GatewayOptions::default()
        },
    );
    let mut conn = TcpStream::connect(gw.addr).unwrap();
    conn.write_all(&build_request("GET", "/", &[], b""))
        .unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let n = reader.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the gateway should close the idle connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

/// Slowloris: 1,000 clients trickling their heads leave a normal client's
/// latency alone while they last (the front door cuts them at the header
/// timeout: tests/it/hardening.rs).
#[test]
fn a_thousand_trickling_clients_leave_normal_latency_unharmed() {
    let up = Upstream::start();
    let gw = prod(&up);
    let measure = |n: usize| {
        let mut conn = Conn::open(gw.addr);
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(conn.send("GET", "/", &[], b"").unwrap().status, 200);
                t.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() * 99 / 100]
    };
    let baseline = measure(200);
    let mut slow: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(gw.addr).ok())
        .collect();
    assert!(slow.len() >= 990, "opened {}", slow.len());
    for s in &mut slow {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let passes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let trickler = {
        let (stop, passes) = (std::sync::Arc::clone(&stop), std::sync::Arc::clone(&passes));
        thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for s in &mut slow {
                    let _ = s.write_all(b"a");
                }
                passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                thread::sleep(Duration::from_millis(200));
            }
            slow.len()
        })
    };
    // Measure once every slow client has trickled a few bytes.
    assert!(eventually(Duration::from_secs(10), || passes
        .load(std::sync::atomic::Ordering::Relaxed)
        >= 3));
    let under_attack = measure(200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickler.join().unwrap();
    eprintln!("p99 without trickling clients {baseline:?}, with 1,000 of them {under_attack:?}");
    assert!(
        under_attack < baseline * 10 + Duration::from_millis(50),
        "p99 {baseline:?} -> {under_attack:?}"
    );
}

// --- Upstream faults ---------------------------------------------------------------------

#[test]
fn upstream_closing_mid_response_breaks_the_response_without_hanging() {
    let up = Upstream::start();
    let gw = prod(&up);
    let mut conn = TcpStream::connect(gw.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(&build_request("GET", "/close-mid", &[], b""))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the client was left hanging"
    );
    let text = String::from_utf8_lossy(&got);
    // Either the headers went out and the body was cut short, or a 502.
    if text.starts_with("HTTP/1.1 200") {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(
            body.len() < 1000,
            "the truncated body must not look complete"
        );
    } else {
        assert!(text.starts_with("HTTP/1.1 502"), "{text}");
    }
}

#[test]
fn upstream_killed_and_restarted_under_load_recovers_without_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Upstream::start_on(listener);
    let gw = prod(&up);
    let gw_addr = gw.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            thread::spawn(move || {
                let mut counts = [0usize; 3]; // ok, 502/504, other
                let mut conn = Conn::open(gw_addr);
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && counts.iter().sum::<usize>() < 2_000
                {
                    match conn.send("GET", "/", &[("Origin", APP)], b"") {
                        Some(r) if r.status == 200 => counts[0] += 1,
                        Some(r) if r.status == 502 || r.status == 504 => {
                            assert_production_headers(&r);
                            counts[1] += 1;
                            conn = Conn::open(gw_addr);
                        }
                        Some(r) => panic!("unexpected {r:?}"),
                        None => {
                            counts[2] += 1;
                            conn = Conn::open(gw_addr);
                        }
                    }
                }
                counts
            })
        })
        .collect();
    // Load before, during and after the outage: the upstream serves, the
    // gateway answers 502/504, the restarted upstream serves again.
    assert!(eventually(Duration::from_secs(10), || up.count() >= 20));
    drop(up);
    assert!(eventually(Duration::from_secs(10), || matches!(
        gw.get("/", &[("Origin", APP)]).status,
        502 | 504
    )));
    let up = Upstream::start_on(TcpListener::bind(addr).expect("rebind the upstream port"));
    assert!(eventually(Duration::from_secs(10), || up.count() >= 20));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = [0usize; 3];
    for w in workers {
        let c = w.join().unwrap();
        for i in 0..3 {
            total[i] += c[i];
        }
    }
    eprintln!(
        "during the upstream restart: {} ok, {} 502/504, {} dropped",
        total[0], total[1], total[2]
    );
    assert!(
        total[1] > 0,
        "the upstream outage was not noticed: {total:?}"
    );
    assert_eq!(
        total[2], 0,
        "connections dropped without a response: {total:?}"
    );
    assert!(eventually(Duration::from_secs(5), || gw
        .get("/", &[])
        .status
        == 200));
    assert!(up.count() > 0);
}

// --- Resource use -----------------------------------------------------------------------

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn client_disconnects_leak_neither_connections_nor_memory() {
    let up = Upstream::start();
    let gw = prod(&up);
    let pid = gw.pid();
    let fds_idle = open_fds(pid);
    let round = |addr: SocketAddr| {
        for i in 0..1_000 {
            let mut c = TcpStream::connect(addr).unwrap();
            match i % 3 {
                // Mid-request: half a head, then gone.
                0 => {
                    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: gatew");
                }
                // Mid-body: announce 1000 bytes, send 10.
                1 => {
                    let _ = c.write_all(b"POST / HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 1000\r\n\r\n0123456789");
                }
                // Mid-response: ask for a slow response and leave.
                _ => {
                    let _ = c.write_all(&build_request("GET", "/slow", &[], b""));
                }
            }
            drop(c);
        }
    };
    round(gw.addr);
    // The first round's connections closed (its slow responses too).
    eventually(Duration::from_secs(10), || open_fds(pid) <= fds_idle + 5);
    let (fds_before, rss_before) = (open_fds(pid), rss_kib(pid));
    round(gw.addr);
    round(gw.addr);
    let settled = eventually(Duration::from_secs(10), || open_fds(pid) <= fds_before + 5);
    let (fds_after, rss_after) = (open_fds(pid), rss_kib(pid));
    eprintln!("after 3,000 disconnects: fds {fds_before} -> {fds_after}, RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(
        settled,
        "file descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew {rss_before} -> {rss_after} KiB"
    );
    assert_eq!(gw.get("/", &[]).status, 200);
}

/// 10,000 idle keep-alive clients held at once. Needs about 10,100 file
/// descriptors in the gateway and in this test (RLIMIT_NOFILE).
///
/// The target is 256 MiB; Pingora 0.9 itself keeps about 31 KiB per
/// idle HTTP/1 connection (heaptrack: the boxed `process_new` future ~13.8 KiB,
/// the connection task ~8.8 KiB, header and socket buffers), so 10,000 take
/// about 405 MiB in a release build with our 4 KiB socket buffers (523 MiB at
/// Pingora's 64 KiB default). This bound guards against regressions from
/// there; see README "Capacity".
/// Issue 12's target; measured 212 MiB with the debug build (bench/idle-memory.sh
/// measures the release build).
const IDLE_10K_RSS_LIMIT_KIB: u64 = 256 * 1024;

#[test]
fn ten_thousand_idle_keepalive_connections_hold_with_bounded_memory() {
    let up = Upstream::start();
    let gw = prod(&up);
    let pid = gw.pid();
    let mut rounds = Vec::new();
    for round in 0..3 {
        let mut held = Vec::with_capacity(10_000);
        // Each one a real keep-alive connection that has served a request,
        // one at a time so the gateway reuses one upstream connection.
        for _ in 0..10_000 {
            let mut c = match TcpStream::connect(gw.addr) {
                Ok(c) => c,
                Err(e) => panic!(
                    "connection {} failed: {e} (raise the open-file limit: ulimit -n 20000)",
                    held.len()
                ),
            };
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
                .unwrap();
            let mut reader = std::io::BufReader::new(&c);
            assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
            held.push(c);
        }
        let t = Instant::now();
        assert_eq!(gw.get("/", &[]).status, 200);
        let prompt = t.elapsed();
        let rss = rss_kib(pid);
        eprintln!("round {round}: 10,000 idle connections, RSS {} MiB, a new client answered in {prompt:?}", rss / 1024);
        assert!(rss < IDLE_10K_RSS_LIMIT_KIB, "RSS {rss} KiB");
        assert!(prompt < Duration::from_secs(1), "{prompt:?}");
        rounds.push(rss);
        drop(held);
        assert!(eventually(Duration::from_secs(10), || open_fds(pid) < 200));
    }
    // RSS is not handed back to the OS, but it must stop growing.
    assert!(
        rounds[2] as f64 <= rounds[1] as f64 * 1.05,
        "RSS by round: {rounds:?}"
    );
}
