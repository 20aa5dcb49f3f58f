//! Configurations helmgate used to accept silently or fail on late, through
//! the real binary: what `--check` says, and what a running gateway logs or
//! does.

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const ENV_VARS: [&str; 4] = [
    "HELMGATE_ENV",
    "NODE_ENV",
    "CORS_ALLOWED_ORIGINS",
    "HELMGATE_CONFIG",
];

/// A production config with one listener; `server` lines go into `[server]`,
/// `tail` after everything.
fn config(listen: &str, server: &str, tail: &str) -> String {
    format!(
        "environment = \"production\"\n[server]\nlisten = [{listen}]\n{server}\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n{tail}"
    )
}

/// `helmgate --check`: whether it passed, and stdout + stderr.
fn check(text: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let dir = TempDir::new("hardening-check");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("--config").arg(&path).arg("--check").args(args);
    for k in ENV_VARS {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Run helmgate (not `--check`) and wait up to `limit` for it to exit: its
/// status (`None`: still running at the limit, then stopped), its log, and
/// how long it ran.
fn run_until_exit(
    text: &str,
    args: &[&str],
    limit: Duration,
) -> (Option<ExitStatus>, String, Duration) {
    let dir = TempDir::new("hardening-run");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let log_path = dir.path().join("helmgate.log");
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&path)
        .arg("--upgrade-sock")
        .arg(dir.path().join("upgrade.sock"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    for k in ENV_VARS {
        cmd.env_remove(k);
    }
    let started = Instant::now();
    let status = exit_within(cmd.spawn().unwrap(), limit);
    let ran = started.elapsed();
    (status, std::fs::read_to_string(&log_path).unwrap(), ran)
}

/// Wait up to `limit` for `child` to exit, and stop it if it has not
/// (`None`: it was still running).
fn exit_within(mut child: Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let exited = child.try_wait().ok().flatten();
    if exited.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    exited
}

fn warn_lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" WARN ") && l.contains(needle))
        .collect()
}

// --- Trusted proxies --------------------------------------------------------

#[test]
fn trusted_proxies_that_cover_everyone_fail_check_naming_the_entry_and_why() {
    let text = config(
        "\"127.0.0.1:18080\"",
        "trusted_proxies = [\"10.0.0.0/8\", \"0.0.0.0/0\", \"::/0\", \"::ffff:0:0/96\", \"1.0.0.0/7\", \"2001:db8::/31\"]",
        "",
    );
    let (ok, out) = check(&text, &[], &[]);
    assert!(!ok, "{out}");
    for (i, column) in [(1, 34), (2, 47), (3, 55), (4, 72), (5, 85)] {
        let located = format!("line 4, column {column}: server.trusted_proxies[{i}]: ");
        let line = out
            .lines()
            .find(|l| l.contains(&located))
            .unwrap_or_else(|| panic!("no {located:?} in {out}"));
        for why in [
            "too broad",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "trust_all_proxies = true",
        ] {
            assert!(line.contains(why), "{why:?} missing: {line}");
        }
    }
    assert!(!out.contains("trusted_proxies[0]"), "{out}");
    assert!(out.contains("5 problem(s)"), "{out}");
}

#[test]
fn trust_all_proxies_loads_and_check_says_every_peer_is_trusted() {
    let text = config(
        "\"127.0.0.1:18080\"",
        "trust_all_proxies = true\ntrusted_proxies = [\"0.0.0.0/0\"]",
        "",
    );
    let (ok, out) = check(&text, &[], &[]);
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("trusted_proxies:"))
        .unwrap_or_else(|| panic!("no trusted_proxies line in {out}"));
    assert!(
        line.contains("every peer") && line.contains("forge X-Forwarded-For"),
        "{line}"
    );
    assert!(
        out.contains("warning: server.trust_all_proxies = true: every peer is trusted"),
        "{out}"
    );
    // Without the flag, the narrow list is shown as it is, with no warning.
    let (ok, out) = check(
        &config(
            "\"127.0.0.1:18080\"",
            "trusted_proxies = [\"10.0.0.0/8\"]",
            "",
        ),
        &[],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("trusted_proxies: [10.0.0.0/8]"), "{out}");
    assert!(!out.contains("every peer"), "{out}");
}

#[test]
fn trust_all_proxies_is_warned_at_start_and_reload_and_believes_any_peer() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new().set("server.trust_all_proxies", true),
            ..GatewayOptions::default()
        },
    );
    let needle = "server.trust_all_proxies = true: every peer is trusted";
    assert_eq!(warn_lines(&gw.log(), needle).len(), 1, "{}", gw.log());
    // The test client is no configured proxy, yet its X-Forwarded-Proto is
    // believed: that is what the flag means.
    let r = gw.get("/", &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status, 200);
    assert!(r.has("strict-transport-security"), "{r:?}");
    gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&gw.log(), needle)
            .len()
            == 2),
        "{}",
        gw.log()
    );
}

// --- Listeners --------------------------------------------------------------

#[test]
fn overlapping_listeners_fail_check_naming_both() {
    let p = 18_090;
    for (listen, tail, key, first) in [
        (
            format!("\"127.0.0.1:{p}\""),
            format!("[admin]\nlisten = \"0.0.0.0:{p}\"\n"),
            "admin.listen",
            format!("server.listen[0] = 127.0.0.1:{p}"),
        ),
        (
            format!("\"[::1]:{p}\", \"[::]:{p}\""),
            String::new(),
            "server.listen[1]",
            format!("server.listen[0] = [::1]:{p}"),
        ),
        (
            format!("\"0.0.0.0:{p}\", \"[::]:{p}\""),
            String::new(),
            "server.listen[1]",
            format!("server.listen[0] = 0.0.0.0:{p}"),
        ),
        (
            format!("\"127.0.0.1:{p}\""),
            format!("[admin]\nlisten = \"127.0.0.1:{p}\"\n"),
            "admin.listen",
            format!("server.listen[0] = 127.0.0.1:{p}"),
        ),
    ] {
        let (ok, out) = check(&config(&listen, "", &tail), &[], &[]);
        assert!(!ok, "{listen} {tail}: {out}");
        let line = out
            .lines()
            .find(|l| l.contains(&format!(": {key}: ")))
            .unwrap_or_else(|| panic!("{key} not named: {out}"));
        assert!(
            line.contains(&format!("overlaps {first}")) && line.contains("line "),
            "{line}"
        );
    }
}

#[test]
fn overlapping_proxy_and_admin_listeners_stop_start_up_at_once() {
    let reserved = Port::reserve();
    let port = reserved.port();
    let text = config(
        &format!("\"127.0.0.1:{port}\""),
        "",
        &format!("[admin]\nlisten = \"0.0.0.0:{port}\"\n"),
    );
    let (status, log, ran) = run_until_exit(&text, &[], Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("still running after {ran:?}: {log}"));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("admin.listen")
            && log.contains(&format!("server.listen[0] = 127.0.0.1:{port}")),
        "{log}"
    );
}

#[test]
fn admin_port_held_by_another_socket_exits_non_zero_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = taken.local_addr().unwrap();
    let listen = Port::reserve();
    let text = config(
        &format!("\"{}\"", listen.addr()),
        "",
        &format!("[admin]\nlisten = \"{admin}\"\n"),
    );
    let (status, log, ran) = run_until_exit(&text, &[], Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("still running after {ran:?}: {log}"));
    assert!(!status.success(), "{log}");
    assert!(ran < Duration::from_secs(5), "took {ran:?}");
    assert!(
        log.contains(&format!("admin.listen: cannot listen on {admin}")),
        "{log}"
    );
}

/// On `--upgrade` the new process can't bind-test the addresses it will
/// inherit (the old process still holds them), so a busy admin port is only
/// found when Pingora binds it: Pingora retries for 30 s, then panics in the
/// admin service's thread. The process must exit non-zero then, naming the
/// listener, rather than serve on without its admin listener.
#[test]
fn upgrade_onto_a_busy_admin_port_exits_non_zero_naming_it() {
    let up = Upstream::start();
    let listen = Port::reserve();
    let addr = listen.addr();
    let old_text =
        config(&format!("\"{addr}\""), "", "").replace("127.0.0.1:3000", &up.addr.to_string());
    let old = Gateway::start_with_config(addr, &old_text, vec![], vec![]);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = taken.local_addr().unwrap();
    let new_text = format!("{old_text}[admin]\nlisten = \"{admin}\"\n");

    let dir = TempDir::new("upgrade-busy");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, &new_text).unwrap();
    let log_path = dir.path().join("new.log");
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&path)
        .arg("--upgrade")
        .arg("--upgrade-sock")
        .arg(old.dir.path().join("upgrade.sock"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    for k in ENV_VARS {
        cmd.env_remove(k);
    }
    let new = cmd.spawn().unwrap();
    // Pingora's new process creates the upgrade socket and waits on it.
    let sock = old.dir.path().join("upgrade.sock");
    assert!(eventually(Duration::from_secs(10), || sock.exists()));
    old.signal("QUIT");
    let status = exit_within(new, Duration::from_secs(60));
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("the new process runs on: {log}"));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!("admin.listen = {admin}: cannot listen")),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    drop(taken);
}

// --- Environment overrides --------------------------------------------------

const OVERRIDE: &str = "environment development from";

#[test]
fn a_weaker_environment_override_is_shown_by_check() {
    let production = config("\"127.0.0.1:18080\"", "", "");
    for (env, args, source) in [
        (vec![("NODE_ENV", "development")], vec![], "NODE_ENV"),
        (
            vec![("HELMGATE_ENV", "development")],
            vec![],
            "HELMGATE_ENV",
        ),
        (
            vec![],
            vec!["--environment", "development"],
            "--environment",
        ),
    ] {
        let (ok, out) = check(&production, &env, &args);
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("warning: environment development from {source} overrides environment = \"production\" in the config file: ")),
            "{source}: {out}"
        );
    }
}

#[test]
fn agreeing_or_stronger_environment_overrides_are_not_warned() {
    let production = config("\"127.0.0.1:18080\"", "", "");
    let development = production.replace(
        "environment = \"production\"",
        "environment = \"development\"",
    );
    for (file, env) in [
        (&production, ("NODE_ENV", "production")),
        (&development, ("NODE_ENV", "development")),
        (&development, ("NODE_ENV", "production")),
        (&development, ("HELMGATE_ENV", "production")),
    ] {
        let (ok, out) = check(file, &[env], &[]);
        assert!(ok, "{out}");
        assert!(!out.contains(OVERRIDE), "{env:?}: {out}");
    }
}

#[test]
fn node_env_development_over_a_production_file_is_warned_at_start_and_reload() {
    let up = Upstream::start();
    let gw = Gateway::start(
        up.addr,
        GatewayOptions {
            env: vec![("NODE_ENV".into(), "development".into())],
            ..GatewayOptions::default()
        },
    );
    let needle = "environment development from NODE_ENV overrides environment = \"production\"";
    assert_eq!(warn_lines(&gw.log(), needle).len(), 1, "{}", gw.log());
    gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&gw.log(), needle)
            .len()
            == 2),
        "{}",
        gw.log()
    );
    // And without the variable, the same file starts with no such line.
    let quiet = Gateway::start(up.addr, GatewayOptions::default());
    assert!(!quiet.log().contains(OVERRIDE), "{}", quiet.log());
}

// --- TLS certificates on reload ---------------------------------------------

/// SIGHUP re-reads certificates (`operations::reload_picks_up_a_renewed_certificate`);
/// a pair that no longer loads fails the reload and the running certificate stays,
/// as the README's Operations table says.
#[test]
fn a_certificate_that_fails_to_load_on_reload_keeps_the_running_one() {
    let up = Upstream::start();
    let (gw, cert, tls_addr, _dir) = start_with_tls(up.addr, "bad-renewal");
    assert_eq!(tls_get(tls_addr, cert.der.clone(), &[]).status, 200);
    std::fs::write(&cert.key, "not a key\n").unwrap();
    gw.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || gw
            .log()
            .contains("reload failed, keeping the running configuration")),
        "{}",
        gw.log()
    );
    assert!(gw.log().contains("server.tls[0]"), "{}", gw.log());
    assert_eq!(tls_get(tls_addr, cert.der, &[]).status, 200);
}

#[test]
fn check_validates_the_tables_of_the_environment_not_in_force() {
    let bad_csp = "content_security_policy = \"default-src 'self'; img-source 'self'\"";
    let top = config(
        "\"127.0.0.1:18080\"",
        "",
        &format!("[development.headers]\n{bad_csp}\n"),
    );
    let route = config(
        "\"127.0.0.1:18080\"",
        "",
        &format!("[[route]]\nname = \"api\"\npath_prefix = \"/api\"\n[route.development.headers]\n{bad_csp}\n"),
    );
    let dev_file = config(
        "\"127.0.0.1:18080\"",
        "",
        &format!("[production.headers]\n{bad_csp}\n"),
    )
    .replace(
        "environment = \"production\"",
        "environment = \"development\"",
    );
    for (text, key) in [
        (&top, "development.headers.content_security_policy"),
        (
            &route,
            "route[api].development.headers.content_security_policy",
        ),
        (&dev_file, "production.headers.content_security_policy"),
    ] {
        let (ok, out) = check(text, &[], &[]);
        assert!(!ok, "{key}: --check passed:\n{out}");
        assert!(
            out.contains(&format!(": {key}: invalid CSP")),
            "{key}: {out}"
        );
        assert!(out.contains("img-source"), "{out}");
    }
}

#[test]
fn the_other_environments_cors_tables_are_checked_and_a_valid_file_passes() {
    // The origin has a path: refused whichever environment is in force.
    let text = config(
        "\"127.0.0.1:18080\"",
        "",
        "[development.cors]\nallowed_origins = [\"https://dev.example.com/\"]\n",
    );
    let (ok, out) = check(&text, &[], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("development.cors.allowed_origins[0]"), "{out}");
    // A file whose two environments are both valid still passes.
    let (ok, out) = check(
        &config(
            "\"127.0.0.1:18080\"",
            "",
            "[development.headers]\ncontent_security_policy = \"default-src 'self'\"\n",
        ),
        &[],
        &[],
    );
    assert!(ok, "{out}");
}

/// Two misspelt keys, a wrong type and three bad origins, with a CSP that
/// has three mistakes: every one at once, each with line and column, in
/// TOML's words, the misspellings with the key they were meant to be.
#[test]
fn check_reports_every_structural_and_meaning_mistake_at_once() {
    golden_check(
        "every_mistake.txt",
        &[(
            "helmgate.toml",
            r#"environment = "production"
[server]
listen = ["127.0.0.1:8080"]
trusted_proxy = ["10.0.0.1"]
threads = "four"
[upstream]
address = "127.0.0.1:3000"
conect_timeout_secs = 5
[cors]
allowed_origins = ["https://ok.example.com", "https://a.example.com/", "b.example.com", "*"]
[headers]
content_security_policy = "default-src 'self'; scritp-src 'self'; img-src self 'slef'"
"#,
        )],
    );
}

/// A real syntax error stays one error, with its position.
#[test]
fn a_syntax_error_is_one_error_with_its_position() {
    golden_check(
        "syntax_error.txt",
        &[(
            "helmgate.toml",
            "[server]\nlisten = [\"127.0.0.1:8080\"\ntrusted_proxy = 3\n",
        )],
    );
}

const MAIN_WITH_INCLUDE: &str = "include = [\"conf.d/*.toml\", \"nothing/*.toml\"]\nenvironment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18080\"]\nthreads = 2\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n[[route]]\nname = \"web\"\npath_prefix = \"/web\"\n";

const TEAM_API: &str = "[upstreams.api]\naddress = \"127.0.0.1:4000\"\n\n[[route]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"api\"\n";

/// Included files, read in sorted order as if appended: `--check` lists
/// them, and the routes of every file add up.
#[test]
fn check_lists_the_included_files_it_read() {
    golden_check(
        "include_valid.txt",
        &[
            ("helmgate.toml", MAIN_WITH_INCLUDE),
            (
                "conf.d/20-log.toml",
                "[log]\nformat = \"json\"\n[cors]\nmax_age_secs = 30\n",
            ),
            ("conf.d/10-api.toml", TEAM_API),
        ],
    );
}

/// A key set in two files names both; a problem in an included file names
/// that file.
#[test]
fn check_names_the_file_of_each_problem_and_both_files_of_a_key_set_twice() {
    golden_check(
        "include_problems.txt",
        &[
            ("helmgate.toml", MAIN_WITH_INCLUDE),
            ("conf.d/10-api.toml", &format!("{TEAM_API}[route.cors]\nallowed_origins = [\"https://client.example.com/\"]\nmax_age = 5\n")),
            ("conf.d/20-cors.toml", "[cors]\nallowed_origins = [\"https://x.example.com\"]\n"),
        ],
    );
}

/// A syntax error in an included file names that file; an included path
/// that can't be read is an error naming it.
#[test]
fn an_included_file_that_cant_be_read_is_an_error_naming_it() {
    golden_check(
        "include_syntax.txt",
        &[
            ("helmgate.toml", MAIN_WITH_INCLUDE),
            ("conf.d/10-api.toml", "[upstreams.api\n"),
        ],
    );
    golden_check(
        "include_unreadable.txt",
        &[
            ("helmgate.toml", MAIN_WITH_INCLUDE),
            ("conf.d/10-dir.toml/x", ""),
        ],
    );
}
