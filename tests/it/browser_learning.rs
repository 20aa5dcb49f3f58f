//! Issue 21 end to end in a real Chromium: reports and CORS refusals from
//! three client networks become `helmgate suggest`'s change, `--write`
//! applies it, and after a SIGHUP the same pages get through.
//!
//! Client networks: the gateway trusts 127.0.0.1 as a proxy, and the
//! browser reaches it through small forwarding proxies on loopback (one
//! per network), each adding its own `X-Forwarded-For`. A page loaded
//! through a proxy sends its reports (relative `report-uri`) through the
//! same proxy, so browser-sent reports carry the network honestly. Each
//! proxied request is one connection (`Connection: close`), so the proxy
//! only has to rewrite one head.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::browser_support::{goto, page_fetch, run_async, Browser};
use crate::support::*;
use serde_json::{json, Value};

const NETWORKS: [&str; 3] = ["203.0.113.10", "198.51.100.10", "192.0.2.10"];

fn http(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A loopback proxy to `target` that adds `X-Forwarded-For: client`.
struct XffProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl XffProxy {
    fn start(target: SocketAddr, client: &'static str) -> XffProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        thread::spawn(move || forward(conn, target, client));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        XffProxy { addr, stop }
    }
}

impl Drop for XffProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One request: its head with `Connection: close` and the client's
/// `X-Forwarded-For`, the rest copied both ways.
fn forward(mut conn: TcpStream, target: SocketAddr, client: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let mut out = format!("{}\r\n", lines.next().unwrap_or(""));
    for line in lines {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name != "connection" && name != "x-forwarded-for" && name != "keep-alive" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "Connection: close\r\nX-Forwarded-For: {client}\r\n\r\n"
    ));
    let Ok(mut up) = TcpStream::connect(target) else {
        return;
    };
    if up.write_all(out.as_bytes()).is_err() || up.write_all(&buf[head_end..]).is_err() {
        return;
    }
    if let (Ok(mut from), Ok(mut to)) = (conn.try_clone(), up.try_clone()) {
        thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
        });
    }
    let _ = std::io::copy(&mut up, &mut conn);
    let _ = conn.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
}

fn proxies(gw: &Gateway) -> Vec<XffProxy> {
    NETWORKS
        .iter()
        .map(|ip| XffProxy::start(gw.addr, ip))
        .collect()
}

fn suggestions(admin: SocketAddr) -> Value {
    let r = request(admin, "GET", "/suggestions.json", &[], b"");
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// `helmgate suggest --admin ... --config CFG --write CFG`: the stdout.
fn suggest_and_write(admin: SocketAddr, config: &std::path::Path) -> String {
    let config = config.to_str().unwrap();
    let out = Command::new(bin())
        .args([
            "suggest",
            "--admin",
            &http(admin),
            "--config",
            config,
            "--write",
            config,
        ])
        .env_remove("HELMGATE_CONFIG")
        .env_remove("HELMGATE_ADMIN_TOKEN")
        .output()
        .expect("run helmgate suggest");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn reload(gw: &Gateway) {
    let before = gw.log().matches("configuration reloaded").count();
    gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || gw
            .log()
            .matches("configuration reloaded")
            .count()
            > before),
        "no reload: {}",
        gw.log()
    );
}

/// Waits for the page's scripts: `want` violations, or 5 s.
const LEARN_STATE_JS: &str = r#"
const [want, done] = arguments;
const deadline = Date.now() + 5000;
(function poll() {
  const v = window.violations || [];
  const loaded = window.externalRan === true;
  if ((loaded && v.length >= want) || Date.now() > deadline) {
    done({ inline: window.inlineRan === true, external: loaded, violations: v });
  } else {
    setTimeout(poll, 20);
  }
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_16_suggest_learns_a_report_only_csp_from_three_networks_and_the_written_config_is_clean(
) {
    let up = Upstream::start();
    let cdn = Upstream::start();
    let admin_port = Port::reserve();
    let admin = admin_port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new()
                .set("reports.enabled", true)
                .set("admin", Admin::on(admin))
                // Report-Only alone: the preset's enforced CSP off.
                .set("headers.content_security_policy", "")
                // The preset's COEP (require-corp) would block the CDN's script.
                .set("headers.cross_origin_embedder_policy", "")
                .set("headers.nonce_html_placeholder", "__CSP_NONCE__")
                .set("headers.csp_report_only.default-src", "'self'")
                .set("headers.csp_report_only.script-src", "'self'")
                .set("headers.csp_report_only.object-src", "'none'")
                // The pages' `data:` icon.
                .set("headers.csp_report_only.img-src", "'self' data:"),
            trusted_proxies: vec!["127.0.0.1".into()],
            ..GatewayOptions::default()
        },
    );
    gw.hold(admin_port);
    let via = proxies(&gw);
    let cdn_source = http(cdn.addr);
    Browser::with(|c| async move {
        let page =
            |p: &XffProxy| format!("{}/e2e/learn-probe?cdn={}", http(p.addr), cdn.addr.port());
        for p in &via {
            goto(&c, &page(p)).await;
            let state = run_async(&c, LEARN_STATE_JS, vec![json!(2)]).await;
            assert_eq!(
                state["external"],
                json!(true),
                "report-only blocks nothing: {state}"
            );
            assert_eq!(state["inline"], json!(true), "{state}");
            assert_eq!(
                state["violations"].as_array().map(Vec::len),
                Some(2),
                "{state}"
            );
        }
        let learned = eventually(Duration::from_secs(10), || {
            let s = suggestions(admin);
            s["routes"][0]["csp"][0]["add"][0]["networks"] == json!(3)
                && s["routes"][0]["advice"][0]["seen"]["networks"] == json!(3)
        });
        assert!(learned, "{:#}\n{}", suggestions(admin), gw.log());
        let s = suggestions(admin);
        let change = &s["routes"][0]["csp"];
        assert_eq!(change.as_array().map(Vec::len), Some(1), "{s:#}");
        assert_eq!(change[0]["table"], "csp_report_only");
        assert_eq!(change[0]["directive"], "script-src");
        let added: Vec<&str> = change[0]["add"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["source"].as_str())
            .collect();
        assert_eq!(
            added,
            [cdn_source.as_str()],
            "exactly the second origin: {s:#}"
        );
        assert!(s["routes"][0]["advice"][0]["advice"]
            .as_str()
            .unwrap()
            .contains("nonce"));

        let text = suggest_and_write(admin, &gw.config_path);
        assert!(text.contains("# in [headers.csp_report_only]:"), "{text}");
        let line = format!("script-src = \"'self' {cdn_source} 'nonce-{{nonce}}'\"");
        assert!(text.contains(&line), "{line}\n{text}");
        assert!(
            text.contains("# advice for 'inline' in script-src"),
            "{text}"
        );
        reload(&gw);

        goto(&c, &page(&via[0])).await;
        let state = run_async(&c, LEARN_STATE_JS, vec![json!(1)]).await;
        assert_eq!(state["external"], json!(true), "{state}");
        assert_eq!(state["inline"], json!(true), "{state}");
        assert_eq!(state["violations"], json!([]), "no new violation: {state}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_17_suggest_learns_three_partner_origins_from_report_mode_and_enforce_lets_only_them_in(
) {
    let up = Upstream::start();
    let partners: Vec<Upstream> = (0..4).map(|_| Upstream::start()).collect();
    let admin_port = Port::reserve();
    let admin = admin_port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new()
                .set("cors.mode", "report")
                .set("admin", Admin::on(admin)),
            trusted_proxies: vec!["127.0.0.1".into()],
            ..GatewayOptions::default()
        },
    );
    gw.hold(admin_port);
    let via = proxies(&gw);
    let origins: Vec<String> = partners.iter().map(|p| http(p.addr)).collect();
    Browser::with(|c| async move {
        // Three partners from three networks, the fourth from one.
        for (i, origin) in origins.iter().enumerate() {
            goto(&c, &format!("{origin}/e2e/page")).await;
            let networks = if i < 3 { &via[..] } else { &via[..1] };
            for p in networks {
                page_fetch(&c, &format!("{}/e2e/page", http(p.addr)), json!({})).await;
            }
        }
        let learned = eventually(Duration::from_secs(10), || {
            suggestions(admin)["routes"][0]["cors"]["add"]
                .as_array()
                .map(Vec::len)
                == Some(3)
        });
        assert!(learned, "{:#}", suggestions(admin));
        let text = suggest_and_write(admin, &gw.config_path);
        let mut three = origins[..3].to_vec();
        three.sort();
        let list = format!(
            "allowed_origins = [\"https://app.example.com\", \"{}\", \"{}\", \"{}\"]",
            three[0], three[1], three[2]
        );
        assert!(text.contains(&list), "{list}\n{text}");
        assert!(
            text.contains(&format!("{}: seen from 1 client network(s)", origins[3])),
            "{text}"
        );

        let config = std::fs::read_to_string(&gw.config_path).unwrap();
        std::fs::write(
            &gw.config_path,
            config.replace("mode = \"report\"", "mode = \"enforce\""),
        )
        .unwrap();
        reload(&gw);
        for (i, origin) in origins.iter().enumerate() {
            goto(&c, &format!("{origin}/e2e/page")).await;
            let f = page_fetch(&c, &format!("{}/e2e/page", http(via[0].addr)), json!({})).await;
            if i < 3 {
                assert!(
                    f.resolved && f.status == 200,
                    "{origin} gets through: {f:?}"
                );
            } else {
                assert!(
                    !f.resolved && f.error.starts_with("TypeError"),
                    "{origin}: {f:?}"
                );
            }
        }
        let refused = format!("CORS blocked origin \"{}\"", origins[3]);
        assert!(
            eventually(Duration::from_secs(5), || gw.log().contains(&refused)),
            "{}",
            gw.log()
        );
        assert!(!gw
            .log()
            .contains(&format!("CORS blocked origin \"{}\"", origins[0])));
    })
    .await;
}
