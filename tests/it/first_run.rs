//! The first run against an upstream that is not there (issue 20, part 7):
//! a rate-limited WARN names the address and the config file that set it,
//! and the 502 says the same to a client on this machine only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;

/// A loopback address nothing listens on (reserved, never listening, for
/// as long as the `Port` lives).
fn nothing_there() -> Port {
    Port::reserve()
}

fn warn_lines(gw: &Gateway, addr: SocketAddr) -> usize {
    gw.log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&format!("upstream {addr} refused")))
        .count()
}

#[test]
fn a_loopback_client_is_told_which_upstream_refused_and_where_it_is_set() {
    let dead_port = nothing_there();
    let dead = dead_port.addr();
    let gw = Gateway::start(dead, GatewayOptions::default());
    let r = gw.get("/", &[]);
    assert_eq!(r.status, 502);
    assert_production_headers(&r);
    let body = r.body_text();
    assert!(body.starts_with("Bad Gateway\n"), "{body}");
    assert!(
        body.contains(&format!("the upstream {dead} refused the connection")),
        "{body}"
    );
    let config = gw.config_path.display().to_string();
    assert!(
        body.contains(&format!("[upstream] address in {config}")),
        "{body}"
    );
    assert_eq!(
        r.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&gw, dead) == 1),
        "{}",
        gw.log()
    );
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("upstream {dead} refused")))
        .unwrap();
    assert!(
        line.contains(&format!("[upstream] address in {config}")),
        "{line}"
    );
}

#[test]
fn a_relayed_client_gets_the_plain_502_without_addresses_or_paths() {
    let dead_port = nothing_there();
    let dead = dead_port.addr();
    let gw = Gateway::start(
        dead,
        GatewayOptions {
            trusted_proxies: vec!["127.0.0.0/8".into()],
            ..GatewayOptions::default()
        },
    );
    for relayed in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7"),
        ("X-Real-IP", "203.0.113.7"),
    ] {
        let r = gw.get("/", &[relayed]);
        assert_eq!(r.status, 502, "{relayed:?}");
        assert_eq!(r.body_text(), "Bad Gateway\n", "{relayed:?}");
        assert_eq!(r.header("content-length"), Some("12"));
    }
    // The operator still learns it from the log.
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&gw, dead) >= 1),
        "{}",
        gw.log()
    );
}

#[test]
fn a_routes_upstream_is_named_by_its_own_table() {
    let up = Upstream::start();
    let dead_port = nothing_there();
    let dead = dead_port.addr();
    let listen_port = Port::reserve();
    let listen = listen_port.addr();
    let text = format!(
        "environment = \"production\"\n[server]\nlisten = [\"{listen}\"]\n[upstream]\naddress = \"{}\"\n[upstreams.api]\naddress = \"{dead}\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n[[route]]\nname = \"v1\"\npath_prefix = \"/v1\"\nupstream = \"api\"\n",
        up.addr
    );
    let mut gw = Gateway::start_with_config(listen, &text, vec![], vec![]);
    gw.hold(listen_port);
    assert_eq!(gw.get("/", &[]).status, 200);
    let r = gw.get("/v1/x", &[]);
    assert_eq!(r.status, 502);
    let body = r.body_text();
    assert!(
        body.contains(&format!(
            "the upstream {dead} refused the connection (route v1)"
        )),
        "{body}"
    );
    assert!(body.contains("[upstreams.api] address in "), "{body}");
}

#[test]
fn the_warning_is_rate_limited() {
    let dead_port = nothing_there();
    let dead = dead_port.addr();
    let gw = Gateway::start(dead, GatewayOptions::default());
    let started = Instant::now();
    for _ in 0..30 {
        assert_eq!(gw.get("/", &[]).status, 502);
    }
    // 3 at once, then one per 10 s: however slow this machine was.
    let allowed = 3 + started.elapsed().as_secs() as usize / 10 + 1;
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&gw, dead) >= 3),
        "{}",
        gw.log()
    );
    let lines = warn_lines(&gw, dead);
    assert!(
        lines <= allowed,
        "{lines} WARN lines for 30 refusals:\n{}",
        gw.log()
    );
}
