//! The gateway's own CORS answers (a preflight's 204, a refused origin's
//! 403) come from the front door's fast path for plain heads and from
//! Pingora's hooks for everything else. Whichever path answers, the client
//! gets the same response, the connection behaves the same, and the log
//! says the same.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

/// A `Connection` header naming an extra hop-by-hop field: harmless, but
/// more than the fast path takes, so the head goes through Pingora's hooks.
const VIA_HOOKS: (&str, &str) = ("Connection", "keep-alive, x-probe");

fn preflight(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h = vec![
        ("Origin", APP),
        ("Access-Control-Request-Method", "PATCH"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    h.extend_from_slice(extra);
    build_request("OPTIONS", "/api/items?x=1", &h, b"")
}

fn refused(method: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h = vec![("Origin", EVIL)];
    h.extend_from_slice(extra);
    build_request(method, "/api/items", &h, b"")
}

/// The response as a client compares it: status, headers (less the two that
/// differ per response; names as spelled on the wire, which both paths
/// spell alike), body.
fn comparable(r: &Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date") && !k.eq_ignore_ascii_case("x-request-id"))
        .cloned()
        .collect();
    headers.sort();
    (r.status, headers, r.body.clone())
}

#[test]
fn both_paths_give_the_same_answers_over_http_and_https() {
    let up = Upstream::start();
    let (gw, cert, tls, _dir) = start_with_tls(up.addr, "edge");
    let cases = [
        ("preflight", preflight(&[]), preflight(&[VIA_HOOKS]), 204),
        (
            "refused GET",
            refused("GET", &[]),
            refused("GET", &[VIA_HOOKS]),
            403,
        ),
        (
            "refused POST",
            refused("POST", &[("Content-Length", "0")]),
            refused("POST", &[("Content-Length", "0"), VIA_HOOKS]),
            403,
        ),
    ];
    for (what, fast, hooks, status) in &cases {
        let plain = (raw(gw.addr, fast).unwrap(), raw(gw.addr, hooks).unwrap());
        let https = (
            tls_raw(tls, cert.der.clone(), fast).unwrap(),
            tls_raw(tls, cert.der.clone(), hooks).unwrap(),
        );
        for (scheme, (a, b)) in [("http", &plain), ("https", &https)] {
            assert_eq!(a.status, *status, "{what} over {scheme}: {a:?}");
            assert_eq!(comparable(a), comparable(b), "{what} over {scheme}");
            assert_eq!(a.header("connection"), Some("keep-alive"), "{what}");
            assert!(a.has("date") && a.has("x-request-id"), "{what}: {a:?}");
            assert_production_headers(a);
        }
        assert!(!plain.0.has("strict-transport-security"), "{what}");
        assert!(https.0.has("strict-transport-security"), "{what}");
    }
    assert_eq!(up.count(), 0, "no CORS answer bothers the upstream");
    // Every one of them is in the access log, whichever path answered.
    let log = || gw.log();
    assert!(eventually(Duration::from_secs(5), || {
        log().matches("cors=preflight").count() == 4 && log().matches("status=403").count() == 8
    }));
    assert_eq!(log().matches("CORS blocked origin").count(), 8);
}

#[test]
fn requests_pipelined_on_one_connection_are_all_answered_in_order() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let mut bytes = refused("GET", &[]);
    bytes.extend(preflight(&[]));
    bytes.extend(build_request("GET", "/first", &[("Origin", APP)], b""));
    bytes.extend(refused("HEAD", &[]));
    bytes.extend(build_request("GET", "/second", &[], b""));
    bytes.extend(build_request("POST", "/third", &[], b"abc"));
    bytes.extend(b"POST /fourth HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n");
    bytes.extend(preflight(&[]));
    bytes.extend(b"NOT A REQUEST\r\n\r\n");
    let conn = TcpStream::connect(gw.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (&conn).write_all(&bytes).unwrap();
    let mut reader = BufReader::new(conn);
    let mut next = |head_only| read_response(&mut reader, head_only).expect("a response");
    let refused_get = next(false);
    assert_eq!(refused_get.status, 403);
    assert_eq!(refused_get.body_text(), "Forbidden: origin not allowed\n");
    assert_eq!(next(false).status, 204);
    let first = next(false);
    assert_eq!((first.status, first.body_text().as_str()), (200, "hello"));
    assert_eq!(first.header("access-control-allow-origin"), Some(APP));
    // A HEAD gets the 403's head alone: the next response starts right
    // after it, not after a stray body.
    let refused_head = next(true);
    assert_eq!(refused_head.status, 403);
    assert_eq!(refused_head.header("content-length"), Some("30"));
    let second = next(false);
    assert_eq!((second.status, second.body_text().as_str()), (200, "hello"));
    assert_eq!(next(false).status, 200);
    assert_eq!(next(false).status, 200);
    assert_eq!(next(false).status, 204);
    let garbage = next(false);
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert_production_headers(&garbage);
    let seen: Vec<(String, Vec<u8>)> = up
        .recorded()
        .into_iter()
        .map(|r| (r.path, r.body))
        .collect();
    let want = [
        ("/first", ""),
        ("/second", ""),
        ("/third", "abc"),
        ("/fourth", "de"),
    ];
    let want: Vec<(String, Vec<u8>)> = want
        .iter()
        .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
        .collect();
    assert_eq!(seen, want);
}

#[test]
fn a_fast_answer_closes_the_connection_when_the_client_or_config_says_so() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let mut bytes = refused("GET", &[("Connection", "close")]);
    bytes.extend(build_request("GET", "/never", &[], b""));
    let got = raw_all(gw.addr, &bytes);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].header("connection"), Some("close"));

    let no_keepalive = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("server.keepalive_timeout_secs", 0),
            ..GatewayOptions::default()
        },
    );
    let mut bytes = preflight(&[]);
    bytes.extend(build_request("GET", "/never", &[], b""));
    let got = raw_all(no_keepalive.addr, &bytes);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 204);
    assert_eq!(got[0].header("connection"), Some("close"));
    assert_eq!(up.count(), 0);
}

#[test]
fn requests_the_fast_path_hands_on_are_proxied_as_the_hooks_would() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let headers = [
        ("Origin", APP),
        ("X-Request-Id", "req-42"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Forwarded-Host", "evil.example"),
    ];
    let mut with_hooks = headers.to_vec();
    with_hooks.push(VIA_HOOKS);
    let fast = raw(
        gw.addr,
        &build_request("GET", "/a/./b/../c?q=1", &headers, b""),
    )
    .unwrap();
    let hooks = raw(
        gw.addr,
        &build_request("GET", "/a/./b/../c?q=1", &with_hooks, b""),
    )
    .unwrap();
    assert_eq!(fast.status, 200, "{fast:?}");
    assert_eq!(comparable(&fast), comparable(&hooks));
    assert_eq!(fast.header("x-request-id"), Some("req-42"));
    assert_eq!(fast.header("access-control-allow-origin"), Some(APP));
    let seen = up.recorded();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.path, "/a/c?q=1");
        assert_eq!(r.header("x-request-id"), Some("req-42"));
        assert_eq!(r.header("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(r.header("x-forwarded-host"), Some("gateway.test"));
    }
}

/// The forwarding fields and the request id go upstream as lines after a
/// caseless head's fields, or set in the map of a head that keeps case:
/// either way once each, with the gateway's values, whatever the client
/// sent; and the response's CORS fields and `Vary` likewise once.
#[test]
fn forwarding_fields_and_cors_fields_go_once_whichever_way_they_are_written() {
    let up = Upstream::start();
    let sent = [
        ("Origin", APP),
        ("X-Request-Id", "req-7"),
        ("x-request-id", "req-8"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("x-forwarded-for", "7.7.7.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-FORWARDED-HOST", "evil.example"),
    ];
    let mut seen = Vec::new();
    for preserve in [false, true] {
        up.clear();
        let gw = Gateway::start(
            up.addr,
            GatewayOptions {
                settings: Settings::new().set("server.preserve_header_case", preserve),
                ..GatewayOptions::default()
            },
        );
        let r = request(gw.addr, "GET", "/", &sent, b"");
        assert_eq!(r.status, 200, "preserve={preserve}: {r:?}");
        assert_eq!(r.all("access-control-allow-origin"), [APP]);
        assert_eq!(r.all("vary"), ["Origin"]);
        assert_eq!(r.all("x-request-id"), ["req-7"]);
        let got = up.last();
        let fields: Vec<(&str, usize, Option<String>)> = [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-request-id",
        ]
        .into_iter()
        .map(|name| {
            let value = got.header(name).map(str::to_owned);
            (name, got.header_count(name), value)
        })
        .collect();
        for (name, count, value) in &fields {
            assert_eq!(*count, 1, "preserve={preserve}: {name} {value:?}");
        }
        seen.push(fields);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0][0].2.as_deref(), Some("127.0.0.1"));
    assert_eq!(seen[0][1].2.as_deref(), Some("http"));
    assert_eq!(seen[0][2].2.as_deref(), Some("gateway.test"));
}
