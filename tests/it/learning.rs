//! Issue 21, policy learning, through the real binary: reports and CORS
//! refusals from distinct client networks (a trusted proxy's
//! X-Forwarded-For) become suggestions in /suggestions.json and in
//! `helmgate suggest` (--admin, --state, merged), forged ones from one
//! network never do; `--write` gives a config that passes --check; the
//! state survives a restart, and a corrupt state file is a WARN and a
//! fresh start.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;
use serde_json::Value;

const NETWORKS: [&str; 3] = ["203.0.113.7", "198.51.100.7", "192.0.2.7"];
const FORGER: &str = "233.252.0.9";

struct Setup {
    _up: Upstream,
    gw: Gateway,
    admin: SocketAddr,
}

fn start(settings: Settings, origins: &[&str]) -> Setup {
    let up = Upstream::start();
    let (gw, admin) = start_with_admin(
        up.addr,
        GatewayOptions {
            settings: settings.set("learning.state_file", "learning.json"),
            origins: origins.iter().map(|o| o.to_string()).collect(),
            trusted_proxies: vec!["127.0.0.1".into()],
            ..GatewayOptions::default()
        },
    );
    Setup { _up: up, gw, admin }
}

fn csp_on() -> Settings {
    Settings::new().set("reports.enabled", true).set(
        "headers.content_security_policy_report_only",
        "default-src 'self'; script-src 'self'",
    )
}

fn report(gw: &Gateway, client: &str, directive: &str, blocked: &str) -> Response {
    let body = serde_json::json!({"csp-report": {
        "document-uri": "http://gateway.test/page?x=1",
        "effective-directive": directive,
        "violated-directive": directive,
        "disposition": "report",
        "blocked-uri": blocked,
    }});
    request(
        gw.addr,
        "POST",
        "/.helmgate/reports",
        &[
            ("Content-Type", "application/csp-report"),
            ("X-Forwarded-For", client),
        ],
        body.to_string().as_bytes(),
    )
}

fn suggestions(admin: SocketAddr) -> Value {
    let r = request(admin, "GET", "/suggestions.json", &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_slice(&r.body).expect("JSON")
}

fn helmgate(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("HELMGATE_CONFIG")
        .env_remove("HELMGATE_ADMIN_TOKEN")
        .output()
        .expect("run helmgate")
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Reports from three networks and a forger's flood from one.
fn observe(gw: &Gateway) {
    for client in NETWORKS {
        for blocked in ["https://cdn.example/lib.js?v=1", "inline"] {
            assert_eq!(report(gw, client, "script-src-elem", blocked).status, 204);
        }
        let ext = report(gw, client, "script-src-elem", "chrome-extension://abc/x.js");
        assert_eq!(ext.status, 204);
    }
    for i in 0..40 {
        let evil = format!("https://evil-{i}.example/x.js");
        assert_eq!(report(gw, FORGER, "script-src-elem", &evil).status, 204);
    }
}

#[test]
fn reports_from_three_networks_are_suggested_and_a_forgers_are_not() {
    let s = start(csp_on(), &["https://app.example.com"]);
    observe(&s.gw);
    let json = suggestions(s.admin);
    let route = &json["routes"][0];
    assert_eq!(route["route"], "default");
    assert_eq!(route["csp"].as_array().unwrap().len(), 1, "{json:#}");
    let change = &route["csp"][0];
    assert_eq!(change["table"], "csp_report_only");
    assert_eq!(change["directive"], "script-src");
    assert_eq!(
        change["value"],
        "'self' https://cdn.example 'nonce-{nonce}'"
    );
    assert_eq!(change["add"].as_array().unwrap().len(), 1, "{change}");
    assert_eq!(change["add"][0]["source"], "https://cdn.example");
    assert_eq!(change["add"][0]["networks"], 3);
    assert_eq!(change["nonce"], true);
    assert!(route["advice"][0]["advice"]
        .as_str()
        .unwrap()
        .contains("nonce"));
    assert_eq!(route["noise"]["browser-extension"], 3);
    assert!(!change.to_string().contains("evil"));
    let dashboard = request(s.admin, "GET", "/", &[], b"").body_text();
    assert!(dashboard.contains("Policy suggestions"));
    assert!(dashboard.contains("https://cdn.example"));

    let admin = format!("http://{}", s.admin);
    let config = path_str(&s.gw.config_path);
    let text = ok_stdout(&helmgate(&[
        "suggest", "--admin", &admin, "--config", config,
    ]));
    // The policy is a string in [headers]: the string is rewritten there.
    assert!(text.contains("# in [headers]:"), "{text}");
    assert!(
        text.contains("content_security_policy_report_only = \"default-src 'self'; script-src 'self' https://cdn.example 'nonce-{nonce}'\""),
        "{text}"
    );
    assert!(text.contains("nonce"), "{text}");
    assert!(!text.contains("unsafe-inline'\n"), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains("evil"), "{line}");
    }
}

/// The Report-Only CSP as a directive table.
fn csp_tables_on() -> Settings {
    Settings::new()
        .set("reports.enabled", true)
        .set("headers.csp_report_only.default-src", "'self'")
        .set("headers.csp_report_only.script-src", "'self'")
}

#[test]
fn the_state_is_saved_at_shutdown_and_written_configs_pass_check() {
    let mut s = start(csp_tables_on(), &["https://app.example.com"]);
    observe(&s.gw);
    s.gw.signal("TERM");
    assert!(s.gw.wait_exit(Duration::from_secs(15)).is_some());
    let state = s.gw.dir.path().join("learning.json");
    assert!(state.exists(), "no state saved: {}", s.gw.log());
    let out = s.gw.dir.path().join("suggested.toml");
    let config = path_str(&s.gw.config_path);
    let text = ok_stdout(&helmgate(&[
        "suggest",
        "--state",
        path_str(&state),
        "--config",
        config,
        "--write",
        path_str(&out),
    ]));
    assert!(text.contains("# wrote"), "{text}");
    let written = std::fs::read_to_string(&out).unwrap();
    let original = std::fs::read_to_string(config).unwrap();
    for line in original.lines().filter(|l| !l.starts_with("script-src")) {
        assert!(
            written.contains(line),
            "the user's line {line:?} is kept:\n{written}"
        );
    }
    assert!(
        written.contains("script-src = \"'self' https://cdn.example 'nonce-{nonce}'\""),
        "{written}"
    );
    ok_stdout(&helmgate(&["--config", path_str(&out), "--check"]));
    // Against the written config, nothing is left to suggest.
    let again = ok_stdout(&helmgate(&[
        "suggest",
        "--state",
        path_str(&state),
        "--config",
        path_str(&out),
    ]));
    assert!(!again.contains("script-src = "), "{again}");
    // A restart loads the state.
    let restarted = Gateway::start_with_config(
        s.gw.addr,
        &original.replace("learning.json", path_str(&state)),
        vec![],
        vec![],
    );
    assert!(
        eventually(Duration::from_secs(5), || restarted
            .log()
            .contains("learning: state of 1 route(s) loaded")),
        "{}",
        restarted.log()
    );
}

#[test]
fn a_corrupt_foreign_or_too_new_state_file_is_a_warning_and_a_fresh_start() {
    let up = Upstream::start();
    let dir = TempDir::new("learning-corrupt");
    let state = dir.path().join("state.json");
    let cases: [(&[u8], bool); 4] = [
        // Someone else's file, or a newer helmgate's: left alone.
        (b"\x00\xffnot json", false),
        (b"{\"format\":\"other\"}", false),
        (b"{\"format\":\"helmgate-learning\",\"version\":999}", false),
        // Ours, cut short: replaced by the next save.
        (
            b"{\"format\":\"helmgate-learning\",\"version\":1,\"rou",
            true,
        ),
    ];
    for (junk, replaced) in cases {
        std::fs::write(&state, junk).unwrap();
        let mut gw = Gateway::start(
            up.addr,
            GatewayOptions {
                settings: Settings::new()
                    .set("reports.enabled", true)
                    .set("learning.state_file", path_str(&state)),
                ..GatewayOptions::default()
            },
        );
        assert_eq!(gw.get("/", &[]).status, 200);
        assert!(
            eventually(Duration::from_secs(5), || gw
                .log()
                .contains("learning: ignoring the state file")),
            "{}",
            gw.log()
        );
        gw.signal("TERM");
        assert!(gw.wait_exit(Duration::from_secs(15)).is_some());
        let after = std::fs::read(&state).unwrap();
        assert_eq!(
            after != junk,
            replaced,
            "{:?} became {}\n{}",
            String::from_utf8_lossy(junk),
            String::from_utf8_lossy(&after),
            gw.log()
        );
        if replaced {
            assert!(after.starts_with(b"{\"format\":\"helmgate-learning\""));
        }
    }
}

#[test]
fn cors_refusals_from_three_networks_are_suggested_and_one_networks_are_not() {
    let s = start(
        Settings::new().set("cors.mode", "report"),
        &["https://app.example.com"],
    );
    let partners = [
        "https://a.partner.test",
        "https://b.partner.test",
        "https://c.partner.test",
    ];
    for client in NETWORKS {
        for origin in partners {
            let r =
                s.gw.get("/api", &[("Origin", origin), ("X-Forwarded-For", client)]);
            assert_eq!(r.status, 200);
        }
    }
    let lone = s.gw.get(
        "/api",
        &[
            ("Origin", "https://d.partner.test"),
            ("X-Forwarded-For", FORGER),
        ],
    );
    assert_eq!(lone.status, 200);
    let admin = format!("http://{}", s.admin);
    let config = path_str(&s.gw.config_path);
    let text = ok_stdout(&helmgate(&[
        "suggest", "--admin", &admin, "--config", config,
    ]));
    assert!(
        text.contains("allowed_origins = [\"https://app.example.com\", \"https://a.partner.test\", \"https://b.partner.test\", \"https://c.partner.test\"]"),
        "{text}"
    );
    assert!(
        text.contains("d.partner.test: seen from 1 client network(s)"),
        "{text}"
    );
    let out = s.gw.dir.path().join("cors.toml");
    ok_stdout(&helmgate(&[
        "suggest",
        "--admin",
        &admin,
        "--config",
        config,
        "--write",
        path_str(&out),
    ]));
    let check = ok_stdout(&helmgate(&["--config", path_str(&out), "--check"]));
    assert!(check.contains("https://c.partner.test"), "{check}");
}

fn state_with(networks: &[&str]) -> String {
    serde_json::json!({
        "format": "helmgate-learning", "version": 1, "saved_at": 1,
        "routes": {"default": {"cors": [{
            "origin": "https://partner.example", "count": 5, "first_seen": 1, "last_seen": 2,
            "networks": networks, "documents": []
        }]}}
    })
    .to_string()
}

#[test]
fn suggest_merges_the_states_of_several_gateways() {
    let dir = TempDir::new("learning-merge");
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    std::fs::write(&a, state_with(&["203.0.113.0/24", "198.51.100.0/24"])).unwrap();
    std::fs::write(&b, state_with(&["192.0.2.0/24", "198.51.100.0/24"])).unwrap();
    let one = ok_stdout(&helmgate(&["suggest", "--state", path_str(&a)]));
    assert!(one.contains("seen from 2 client network(s)"), "{one}");
    let both = ok_stdout(&helmgate(&[
        "suggest",
        "--state",
        path_str(&a),
        "--state",
        path_str(&b),
    ]));
    assert!(
        both.contains("# add to allowed_origins in [cors]"),
        "{both}"
    );
    assert!(
        both.contains("https://partner.example: 10 report(s) from 3 client network(s)"),
        "{both}"
    );
    let forged = dir.path().join("forged.json");
    std::fs::write(
        &forged,
        state_with(&["203.0.113.0/24"])
            .replace("https://partner.example", "https://x\\\"]\\n[server]"),
    )
    .unwrap();
    let refused = helmgate(&["suggest", "--state", path_str(&forged)]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid entry"));
}

#[test]
fn suggest_admin_needs_the_gateways_token() {
    let token = "learning-admin-token-0123456789";
    let s = start(
        csp_on().set("admin.token", token),
        &["https://app.example.com"],
    );
    report(
        &s.gw,
        NETWORKS[0],
        "script-src-elem",
        "https://cdn.example/a.js",
    );
    let refused = request(s.admin, "GET", "/learning.json", &[], b"");
    assert_eq!(refused.status, 401);
    let admin = format!("http://{}", s.admin);
    let out = helmgate(&["suggest", "--admin", &admin]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--token"),
        "{out:?}"
    );
    let out = Command::new(bin())
        .args(["suggest", "--admin", &admin])
        .env_remove("HELMGATE_CONFIG")
        .env("HELMGATE_ADMIN_TOKEN", token)
        .output()
        .unwrap();
    assert!(ok_stdout(&out).contains("# route \"default\""));
}

#[test]
fn write_refuses_a_route_that_lives_in_an_included_file() {
    let dir = TempDir::new("learning-include");
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    let main = dir.path().join("helmgate.toml");
    std::fs::write(
        &main,
        "include = [\"conf.d/*.toml\"]\n[server]\nlisten = [\"127.0.0.1:18081\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("conf.d/api.toml"),
        "[[route]]\nname = \"api\"\npath_prefix = \"/api/\"\n",
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let networks = ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"];
    std::fs::write(
        &state,
        state_with(&networks).replace("\"default\"", "\"api\""),
    )
    .unwrap();
    let out = dir.path().join("out.toml");
    let (main, state, out_s) = (path_str(&main), path_str(&state), path_str(&out));
    let printed = ok_stdout(&helmgate(&["suggest", "--config", main, "--state", state]));
    assert!(
        printed.contains("# in [route.cors] of the [[route]] with name = \"api\":"),
        "{printed}"
    );
    let refused = helmgate(&[
        "suggest", "--config", main, "--state", state, "--write", out_s,
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("is not defined in") && err.contains("included"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn what_was_learned_survives_a_reload() {
    let s = start(csp_on(), &["https://app.example.com"]);
    observe(&s.gw);
    let before = s.gw.log().matches("configuration reloaded").count();
    s.gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || {
            s.gw.log().matches("configuration reloaded").count() > before
        }),
        "{}",
        s.gw.log()
    );
    let json = suggestions(s.admin);
    assert_eq!(
        json["routes"][0]["csp"][0]["add"][0]["source"], "https://cdn.example",
        "{json:#}"
    );
}

/// `--write` into a config that writes a route's tables inline, through a
/// symlink, with an environment's own origins: the inline keys stay, the
/// file keeps its mode and link, a development origin stays out of
/// production, and a key's comments stay.
#[test]
fn write_keeps_inline_tables_modes_links_comments_and_environments() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("learning-write-shapes");
    let real = dir.path().join("real.toml");
    std::fs::write(
        &real,
        "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18081\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n[admin]\ntoken = \"0123456789abcdef0123456789abcdef\"\n[production.cors]\n# prod partners\nallowed_origins = [\"https://prod.example\"] # keep me\n[development.cors]\nallowed_origins = [\"http://localhost:3000\"]\n[[route]]\nname = \"api\"\npath_prefix = \"/api\"\ncors = { mode = \"report\", allowed_origins = [\"https://app.example.com\"], allowed_methods = [\"GET\", \"DELETE\"] }\n",
    )
    .unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("helmgate.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let networks = ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"];
    let state = dir.path().join("state.json");
    let both_routes =
        state_with(&networks).replace("\"routes\":{\"default\":", "\"routes\":{\"api\":");
    std::fs::write(&state, &both_routes).unwrap();
    let (link_s, state_s) = (path_str(&link), path_str(&state));
    ok_stdout(&helmgate(&[
        "suggest", "--config", link_s, "--state", state_s, "--write", link_s,
    ]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let check = ok_stdout(&helmgate(&["--config", link_s, "--check"]));
    let api = &check[check.find("route api").expect("route api")..];
    assert!(api.contains("mode: report"), "{check}");
    assert!(api.contains("GET, DELETE"), "{check}");
    assert!(api.contains("https://partner.example"), "{check}");
    // The same from the development environment: its origin goes into the
    // route's development table, production is untouched.
    std::fs::write(&state, both_routes.replace("\"api\"", "\"default\"")).unwrap();
    let dev = dir.path().join("dev.toml");
    ok_stdout(&helmgate(&[
        "suggest",
        "--config",
        link_s,
        "-e",
        "development",
        "--state",
        state_s,
        "--write",
        path_str(&dev),
    ]));
    let text = std::fs::read_to_string(&dev).unwrap();
    assert!(text.contains("# prod partners"), "{text}");
    let production = |config: &Path| {
        let out = ok_stdout(&helmgate(&[
            "--config",
            path_str(config),
            "-e",
            "production",
            "--check",
        ]));
        let body = &out[out.find("environment:").unwrap()..];
        body[..body.rfind("\nconfiguration ").unwrap()].to_string()
    };
    assert_eq!(production(&dev), production(&link));
    let development = ok_stdout(&helmgate(&[
        "--config",
        path_str(&dev),
        "-e",
        "development",
        "--check",
    ]));
    assert!(
        development.contains("https://partner.example"),
        "{development}"
    );
}
