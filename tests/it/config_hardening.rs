//! Configurations helmgate used to accept silently or fail on late, through
//! the real binary: what `--check` says, and what a running gateway logs or
//! does.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

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
            extra_toml: "trust_all_proxies = true".into(),
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
