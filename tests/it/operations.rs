//! Operating the gateway: reload under load, graceful shutdown, binary
//! upgrade, HTTPS redirect, admin endpoints and access logs, through the real
//! binary.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const APP: &str = "https://app.example.com";
const NEW: &str = "https://new.example.com";

/// A production config allowing `origins`, with a 10 s grace period.
fn config(addr: std::net::SocketAddr, upstream: std::net::SocketAddr, origins: &[&str]) -> Config {
    let mut config = Config::production(addr, upstream, origins);
    config.server.grace_period_secs = Some(10);
    config
}

fn config_text(
    addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    origins: &[&str],
) -> String {
    config(addr, upstream, origins).render()
}

/// Wait until the gateway has applied `reloads` reloads and the workers have
/// sent `more` requests since `mark` (load under the policy in force).
fn load_after_reload(
    gw: &Gateway,
    sent: &AtomicUsize,
    reloads: usize,
    mark: usize,
    more: usize,
) -> bool {
    eventually(Duration::from_secs(15), || {
        gw.log().matches("configuration reloaded").count() == reloads
            && sent.load(Ordering::Relaxed) >= mark + more
    })
}

/// Requests sent continuously from several keep-alive connections while the
/// policy is reloaded again and again (after 400 requests under each),
/// toggling an origin. Not one may fail.
#[test]
fn reload_under_load_drops_nothing_and_applies_the_new_policy() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let addr = listen.addr();
    let with_new = config_text(addr, up.addr, &[APP, NEW]);
    let without_new = config_text(addr, up.addr, &[APP]);
    let gw = Gateway::start_with_config(addr, &without_new, vec![], vec![]);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent, failures) =
                (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failures));
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                // About 250 requests/s per worker, 1,000/s in all.
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let i = sent.fetch_add(1, Ordering::Relaxed);
                    let origin = if i % 2 == 0 { APP } else { NEW };
                    match conn.send("GET", "/", &[("Origin", origin)], b"") {
                        Some(r) if r.status == 200 || (origin == NEW && r.status == 403) => {}
                        Some(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{origin}: {}", r.status)),
                        None => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{origin}: connection dropped"));
                            conn = Conn::open(addr);
                        }
                    }
                    next += Duration::from_millis(4);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
            })
        })
        .collect();

    let reloads = 8;
    let mut mark = 0;
    for i in 0..reloads {
        assert!(load_after_reload(&gw, &sent, i, mark, 400), "{}", gw.log());
        mark = sent.load(Ordering::Relaxed);
        let text = if i % 2 == 0 { &with_new } else { &without_new };
        std::fs::write(&gw.config_path, text).unwrap();
        gw.signal("HUP");
    }
    assert!(
        load_after_reload(&gw, &sent, reloads, mark, 400),
        "{}",
        gw.log()
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let total = sent.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap();
    assert!(total > 3_000, "only {total} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(gw.log().matches("configuration reloaded").count(), reloads);

    // The last reload removed the new origin; add it back and check it applies.
    assert_eq!(gw.get("/", &[("Origin", NEW)]).status, 403);
    std::fs::write(&gw.config_path, &with_new).unwrap();
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || gw
        .get("/", &[("Origin", NEW)])
        .status
        == 200));
}

#[test]
fn invalid_reload_keeps_the_old_policy_and_logs_why() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let addr = listen.addr();
    let gw = Gateway::start_with_config(addr, &config_text(addr, up.addr, &[APP]), vec![], vec![]);
    let broken = config_text(addr, up.addr, &["https://new.example.com/"]);
    std::fs::write(&gw.config_path, broken).unwrap();
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || gw
        .log()
        .contains("reload failed")));
    let log = gw.log();
    let line = log.lines().find(|l| l.contains("reload failed")).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(log.contains("cors.allowed_origins[0]"), "{log}");
    assert_eq!(gw.get("/", &[("Origin", APP)]).status, 200);
    assert_eq!(gw.get("/", &[("Origin", NEW)]).status, 403);
}

#[test]
fn reload_reports_settings_that_need_a_restart() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let addr = listen.addr();
    let gw = Gateway::start_with_config(addr, &config_text(addr, up.addr, &[APP]), vec![], vec![]);
    let other = Port::reserve();
    let mut more = config(addr, up.addr, &[APP]);
    more.server.listen.push(other.addr());
    let text = more.render();
    std::fs::write(&gw.config_path, text).unwrap();
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || gw
        .log()
        .contains("needs a restart")));
}

#[test]
fn sigterm_with_nothing_in_flight_exits_at_once() {
    let up = Upstream::start();
    let mut gw = Gateway::start(up.addr, GatewayOptions::default());
    assert_eq!(gw.get("/", &[]).status, 200);
    let started = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(8)).expect("exited");
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    // The configured grace period is 10 s; idle, it must not be waited out.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    eprintln!("idle SIGTERM exit took {took:?}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits() {
    let up = Upstream::start();
    let mut gw = Gateway::start(up.addr, GatewayOptions::default());
    let addr = gw.addr;
    let slow = thread::spawn(move || request(addr, "GET", "/slow", &[], b""));
    assert!(eventually(Duration::from_secs(3), || up.count() == 1));
    let started = Instant::now();
    gw.signal("TERM");
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "the in-flight request must complete");
    let status = gw.wait_exit(Duration::from_secs(8)).expect("exited");
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    eprintln!("SIGTERM with a 1.5 s request in flight: exit after {took:?}");
}

#[test]
fn binary_upgrade_hands_over_the_socket_without_failures() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let addr = listen.addr();
    let text = config_text(addr, up.addr, &[APP]);
    let mut old = Gateway::start_with_config(addr, &text, vec![], vec![]);
    let sock = old.dir.path().join("upgrade.sock");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (stop, ok, failures) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failures));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => {}
                    Err(e) => {
                        failures.lock().unwrap().push(format!("connect: {e}"));
                        continue;
                    }
                }
                let r = request(addr, "GET", "/", &[("Connection", "close")], b"");
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status));
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };

    // The new process waits on the upgrade socket; SIGQUIT makes the old one
    // send its listeners there, then drain and exit.
    let dir = TempDir::new("upgrade");
    let config = dir.path().join("helmgate.toml");
    std::fs::write(&config, &text).unwrap();
    let new_log = dir.path().join("new.log");
    let new = StopOnDrop(
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--upgrade")
            .arg("--upgrade-sock")
            .arg(&sock)
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&new_log).unwrap())
            .spawn()
            .unwrap(),
    );
    // Pingora's new process creates the upgrade socket and waits on it.
    assert!(
        eventually(Duration::from_secs(10), || sock.exists()),
        "the new process never listened on {}",
        sock.display()
    );
    old.signal("QUIT");
    let status = old
        .wait_exit(Duration::from_secs(25))
        .expect("the old process exited");
    assert!(status.success(), "{status}");
    // Requests keep succeeding with only the new process left.
    let served = ok.load(Ordering::Relaxed);
    assert!(eventually(Duration::from_secs(5), || ok
        .load(Ordering::Relaxed)
        >= served + 20));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let after = request(addr, "GET", "/", &[("Origin", APP)], b"");
    drop(new);
    let failures = failures.lock().unwrap();
    assert_eq!(
        after.status,
        200,
        "the new process serves: {}",
        std::fs::read_to_string(&new_log).unwrap_or_default()
    );
    assert!(ok.load(Ordering::Relaxed) > 100);
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn https_redirect_listener_sends_308_with_headers_but_no_hsts() {
    let up = Upstream::start();
    let dir = TempDir::new("redir");
    let cert = TestCert::write(dir.path());
    let (tls_port, redirect_port) = (Port::reserve(), Port::reserve());
    let redirect_addr = redirect_port.addr();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new()
                .set("server.https_redirect_listen", [redirect_addr])
                .set("server.tls", [cert.tls(tls_port.addr())]),
            ..GatewayOptions::default()
        },
    );
    let r = request(
        redirect_addr,
        "GET",
        "/path?q=1",
        &[("Host", "shop.example.com")],
        b"",
    );
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://shop.example.com:{}/path?q=1", tls_port.port()).as_str())
    );
    assert_production_headers(&r);
    assert!(!r.has("strict-transport-security"));
    assert_eq!(up.count(), 0);
    drop(gw);
}

#[test]
fn admin_serves_prometheus_metrics_health_and_readiness() {
    let up = Upstream::start();
    let admin_port = Port::reserve();
    let admin = admin_port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("admin", Admin::on(admin)),
            ..GatewayOptions::default()
        },
    );
    gw.hold(admin_port);
    gw.get("/", &[("Origin", APP)]);
    gw.get("/", &[("Origin", "https://evil.example.com")]);
    gw.get("/", &[("Origin", "null")]);
    request(
        gw.addr,
        "OPTIONS",
        "/",
        &[("Origin", APP), ("Access-Control-Request-Method", "GET")],
        b"",
    );

    // The logging hook that counts a request runs just after its response
    // is sent, so give the last one a moment.
    let scrape_text = || request(admin, "GET", "/metrics", &[], b"").body_text();
    assert!(eventually(Duration::from_secs(3), || scrape_text()
        .contains("helmgate_request_duration_seconds_count 4")));
    let r = request(admin, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let text = r.body_text();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(value("helmgate_preflights_total", None), 1.0);
    assert_eq!(
        value(
            "helmgate_origins_blocked_total",
            Some(("reason", "not_allowed"))
        ),
        1.0
    );
    assert_eq!(
        value(
            "helmgate_origins_blocked_total",
            Some(("reason", "null_origin"))
        ),
        1.0
    );
    assert!(value("helmgate_requests_total", Some(("class", "2xx"))) >= 2.0);
    assert_eq!(
        value("helmgate_requests_total", Some(("class", "4xx"))),
        2.0
    );
    assert_eq!(value("helmgate_build_info", None), 1.0);
    assert!(scrape
        .samples
        .iter()
        .all(|s| !s.labels.values().any(|v| v.contains("evil"))));

    assert_eq!(request(admin, "GET", "/healthz", &[], b"").status, 200);
    assert_eq!(request(admin, "GET", "/readyz", &[], b"").status, 200);
    drop(up);
    assert!(eventually(Duration::from_secs(5), || request(
        admin,
        "GET",
        "/readyz",
        &[],
        b""
    )
    .status
        == 503));
    assert_eq!(request(admin, "GET", "/healthz", &[], b"").status, 200);
    // The admin routes are not reachable on the proxy port.
    assert_ne!(gw.get("/metrics", &[]).body_text(), text);
}

#[test]
fn json_access_log_is_one_object_per_line_with_escaped_client_values() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("log.format", "json"),
            ..GatewayOptions::default()
        },
    );
    let evil = b"GET /a%22b HTTP/1.1\r\nHost: gateway.test\r\nOrigin: https://x\xc2\x85INFO fake\r\nX-Request-Id: rid-1\r\n\r\n";
    let r = raw(gw.addr, evil).unwrap();
    assert_eq!(r.status, 403);
    gw.get("/ok", &[("X-Request-Id", "rid-2")]);
    assert!(eventually(Duration::from_secs(3), || gw
        .log()
        .contains("rid-2")));
    let log = gw.log();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(access.len(), 2, "{log}");
    assert_eq!(access[0]["status"], 403);
    assert_eq!(access[0]["cors"], "malformed");
    assert_eq!(access[0]["request_id"], "rid-1");
    assert_eq!(access[1]["status"], 200);
    assert_eq!(access[1]["upstream_status"], 200);
    assert_eq!(access[1]["path"], "/ok");
    assert_eq!(access[1]["client"], "127.0.0.1");
    for key in ["time", "method", "bytes", "duration_ms", "origin"] {
        assert!(access[1].get(key).is_some(), "{key} missing");
    }
    // The raw NEL byte never reaches the log unescaped.
    assert!(!log.as_bytes().windows(2).any(|w| w == b"\xc2\x85"));
}

#[test]
fn text_logs_escape_control_bytes_from_clients() {
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let evil = b"GET / HTTP/1.1\r\nHost: gateway.test\r\nOrigin: https://evil.example.com\xe2\x80\xa8\xc2\x9bINFO forged\r\n\r\n";
    assert_eq!(raw(gw.addr, evil).unwrap().status, 403);
    assert!(eventually(Duration::from_secs(3), || gw
        .log()
        .contains("CORS blocked origin")));
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("CORS blocked origin"))
        .unwrap();
    assert!(
        line.contains("\\xe2\\x80\\xa8\\xc2\\x9bINFO forged"),
        "{line}"
    );
    assert!(!log.contains('\u{2028}'));
}

#[test]
fn reload_picks_up_a_renewed_certificate() {
    let up = Upstream::start();
    let dir = TempDir::new("renew");
    let first = TestCert::write(dir.path());
    let tls_port = Port::reserve();
    let tls_addr = tls_port.addr();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("server.tls", [first.tls(tls_addr)]),
            ..GatewayOptions::default()
        },
    );
    assert_eq!(tls_get(tls_addr, first.der.clone(), &[]).status, 200);
    let second = TestCert::write(dir.path()).der;
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || gw
        .log()
        .contains("1 TLS certificate(s) re-read")));
    assert_eq!(tls_get(tls_addr, second, &[]).status, 200);
    let old_root_still_works =
        std::panic::catch_unwind(|| tls_get(tls_addr, first.der, &[])).is_ok();
    assert!(!old_root_still_works, "the old certificate is still served");
}

/// A child process that is stopped when the test is done with it, panics
/// included: SIGINT, then SIGKILL after 5 s, so a test never hangs on or
/// leaks a process it started.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let child = &mut self.0;
        let _ = std::process::Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Access lines are buffered (one write per second, not per request), and
/// none is lost however the process ends or reloads.
#[test]
fn buffered_access_lines_survive_sigterm_sigint_and_sighup() {
    let count = |gw: &Gateway, tag: &str| {
        gw.log()
            .lines()
            .filter(|l| l.contains(&format!("path=\"/{tag}")))
            .count()
    };
    for signal in ["TERM", "INT"] {
        let up = Upstream::start();
        let mut gw = Gateway::start(up.addr, GatewayOptions::default());
        let mut conn = Conn::open(gw.addr);
        for i in 0..50 {
            let r = conn
                .send("GET", &format!("/{signal}-{i}"), &[], b"")
                .unwrap();
            assert_eq!(r.status, 200);
        }
        drop(conn);
        gw.signal(signal);
        assert!(
            gw.wait_exit(Duration::from_secs(10)).is_some(),
            "SIG{signal}: no exit"
        );
        assert_eq!(count(&gw, signal), 50, "SIG{signal}:\n{}", gw.log());
    }
    let up = Upstream::start();
    let gw = Gateway::start(up.addr, GatewayOptions::default());
    let mut conn = Conn::open(gw.addr);
    for i in 0..50 {
        conn.send("GET", &format!("/HUP-{i}"), &[], b"").unwrap();
    }
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || gw
        .log()
        .contains("configuration reloaded")));
    // Flushed before the reload began, not at the next tick.
    let log = gw.log();
    let before_reload = &log[..log.find("configuration reloaded").unwrap()];
    assert_eq!(before_reload.matches("path=\"/HUP-").count(), 50, "{log}");
}
