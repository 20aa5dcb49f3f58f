use super::*;
use std::time::Duration;

use crate::config::testing::{load, MINIMAL};

/// MINIMAL with `lines` added to its `[server]` table.
fn with_server_keys(lines: &str) -> String {
    MINIMAL.replace("[server]\n", &format!("[server]\n{lines}"))
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn minimal_config_loads_with_production_defaults() {
    let p = load(MINIMAL).unwrap();
    assert_eq!(p.environment, Environment::Production);
    assert_eq!(p.default_site().cors.settings().max_age_secs, 600);
    assert!(!p.default_site().cors.settings().allow_localhost);
    assert_eq!(
        p.default_site().upstream.settings.connect_timeout,
        Duration::from_secs(5)
    );
}

#[test]
fn unknown_key_is_named() {
    let err = load(&format!("{MINIMAL}\n[server2]\nx = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("server2"), "{err}");
    let err = load(&MINIMAL.replace("[cors]", "[cors]\nallowed_orgins = []"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("allowed_orgins"), "{err}");
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = load("environment = \n").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn bad_origins_are_each_named_with_a_fix() {
    let text = MINIMAL.replace(
        "[\"https://app.example.com\"]",
        "[\"https://ok.example.com\", \"https://a.example.com/\", \"b.example.com\", \"*\", \"https://c.example.com/path\"]",
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 4, "{ps:?}");
    assert!(
        ps[0].key.ends_with("allowed_origins[1]")
            && ps[0].message.contains("\"https://a.example.com\"")
    );
    assert!(ps[1].message.contains("https://b.example.com"));
    assert!(ps[2].message.contains("wildcard"));
    assert!(ps[3].message.contains("\"https://c.example.com\""));
    assert_eq!(ps[0].location.map(|l| l.0), Some(8));
}

#[test]
fn all_problems_are_reported_together() {
    let text = r#"
[server]
listen = ["nope"]
trusted_proxies = ["10.0.0.0/33"]
[upstream]
address = "127.0.0.1:3000"
read_timeout_secs = -1.0
[log]
format = "xml"
"#;
    let keys: Vec<String> = problems(text).into_iter().map(|p| p.key).collect();
    for want in [
        "server.listen[0]",
        "server.trusted_proxies[0]",
        "upstream.read_timeout_secs",
        "log.format",
    ] {
        assert!(keys.iter().any(|k| k == want), "missing {want} in {keys:?}");
    }
}

#[test]
fn profile_tables_override_shared_ones() {
    let text = format!(
        "{MINIMAL}\n[headers]\nx_frame_options = \"SAMEORIGIN\"\n[development.cors]\nallowed_origins = [\"https://dev.example.com\"]\n[production.headers]\nreferrer_policy = \"no-referrer\"\n"
    );
    let prod = load(&text).unwrap();
    assert_eq!(
        prod.default_site().header_settings.get("x_frame_options"),
        Some("SAMEORIGIN")
    );
    assert_eq!(
        prod.default_site().header_settings.get("referrer_policy"),
        Some("no-referrer")
    );
    assert_eq!(
        prod.default_site().cors.settings().allowed_origins[0].as_str(),
        "https://app.example.com"
    );
    let dev = load_str(
        &text,
        Path::new("t"),
        Overrides {
            environment: Some(Environment::Development),
        },
        &EnvVars::default(),
    )
    .unwrap();
    assert_eq!(
        dev.default_site().cors.settings().allowed_origins[0].as_str(),
        "https://dev.example.com"
    );
    assert_eq!(
        dev.default_site().header_settings.get("referrer_policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(dev.default_site().cors.settings().max_age_secs, 86_400);
}

#[test]
fn empty_header_value_turns_it_off() {
    let p = load(&format!(
        "{MINIMAL}\n[headers]\ncontent_security_policy = \"\"\n"
    ))
    .unwrap();
    assert_eq!(
        p.default_site()
            .header_settings
            .get("content_security_policy"),
        None
    );
}

#[test]
fn cors_allowed_origins_env_replaces_the_list() {
    let vars = EnvVars {
        cors_allowed_origins: Some("https://x.example.com, https://y.example.com".into()),
        ..EnvVars::default()
    };
    let p = load_str(MINIMAL, Path::new("t"), Overrides::default(), &vars).unwrap();
    let list: Vec<&str> = p
        .default_site()
        .cors
        .settings()
        .allowed_origins
        .iter()
        .map(|o| o.as_str())
        .collect();
    assert_eq!(list, ["https://x.example.com", "https://y.example.com"]);
    let bad = EnvVars {
        cors_allowed_origins: Some("https://x.example.com/".into()),
        ..EnvVars::default()
    };
    let err = load_str(MINIMAL, Path::new("t"), Overrides::default(), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("CORS_ALLOWED_ORIGINS"), "{err}");
}

#[test]
fn production_without_origins_warns() {
    let p = load(&MINIMAL.replace("[\"https://app.example.com\"]", "[]")).unwrap();
    assert!(p.warnings.iter().any(|w| w.contains("no allowed origins")));
}

#[test]
fn missing_tls_files_name_the_key() {
    let text = format!("{MINIMAL}\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n");
    let keys: Vec<String> = problems(&text).into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"server.tls[0].cert".to_string()), "{keys:?}");
    assert!(keys.contains(&"server.tls[0].key".to_string()), "{keys:?}");
}

#[test]
fn broad_trusted_proxies_are_refused_naming_the_entry() {
    let text =
        with_server_keys("trusted_proxies = [\"10.0.0.0/8\", \"0.0.0.0/0\", \"::ffff:0:0/96\"]\n");
    let ps = problems(&text);
    let keys: Vec<&str> = ps.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["server.trusted_proxies[1]", "server.trusted_proxies[2]"],
        "{ps:?}"
    );
    assert_eq!(ps[0].location, Some((4, 34)));
    assert!(
        ps[0].message.contains("X-Forwarded-For")
            && ps[0].message.contains("trust_all_proxies = true"),
        "{}",
        ps[0].message
    );
}

#[test]
fn learning_is_on_with_reports_or_report_mode_and_validated() {
    let p = load(MINIMAL).unwrap();
    assert!(p.learning.enabled && !p.learning_active());
    assert_eq!(p.learning.min_clients, 3);
    let on = load(&format!(
        "{MINIMAL}\n[reports]\nenabled = true\n[learning]\nmin_clients = 5\nstate_file = \"learn.json\"\n"
    ))
    .unwrap();
    assert!(on.learning_active());
    assert_eq!(on.learning.min_clients, 5);
    assert!(on.learning.state_file.unwrap().ends_with("learn.json"));
    let report_mode = load(&format!("{MINIMAL}mode = \"report\"\n")).unwrap();
    assert!(report_mode.learning_active());
    let off = load(&format!(
        "{MINIMAL}\n[reports]\nenabled = true\n[learning]\nenabled = false\n"
    ))
    .unwrap();
    assert!(!off.learning_active());
    let keys: Vec<String> = problems(&format!(
        "{MINIMAL}\n[learning]\nmin_clients = 17\nstate_file = \" \"\n"
    ))
    .into_iter()
    .map(|p| p.key)
    .collect();
    assert_eq!(keys, ["learning.min_clients", "learning.state_file"]);
}

#[test]
fn reports_are_off_by_default_and_validated() {
    let p = load(MINIMAL).unwrap();
    assert_eq!(p.reports, crate::policy::reports::ReportSettings::default());
    assert!(!p.reports.enabled);
    assert_eq!(p.reports.path.as_str(), "/.helmgate/reports");
    assert_eq!(
        (p.reports.max_body_bytes, p.reports.per_minute),
        (65_536, 600)
    );
    let on = load(&format!(
        "{MINIMAL}\n[reports]\nenabled = true\npath = \"/csp\"\nmax_body_bytes = 4096\nper_minute = 5\n"
    ))
    .unwrap();
    assert!(on.reports.enabled && on.reports.takes(b"/csp"));
    assert_eq!(on.reports.path.header_value(), "/csp");
    assert_eq!(
        (on.reports.max_body_bytes, on.reports.per_minute),
        (4096, 5)
    );
    let typo = load(&format!("{MINIMAL}\n[reports]\nenable = true\n"))
        .unwrap_err()
        .to_string();
    assert!(typo.contains("enable"), "{typo}");
    let keys: Vec<String> = problems(&format!(
        "{MINIMAL}\n[reports]\npath = \"/a/../b\"\nmax_body_bytes = 0\nper_minute = -1\n"
    ))
    .into_iter()
    .map(|p| p.key)
    .collect();
    assert_eq!(
        keys,
        [
            "reports.path",
            "reports.max_body_bytes",
            "reports.per_minute"
        ]
    );
}

#[test]
fn trust_all_proxies_trusts_every_peer_with_a_warning() {
    let text = with_server_keys("trust_all_proxies = true\ntrusted_proxies = [\"0.0.0.0/0\"]\n");
    let p = load(&text).unwrap();
    assert!(p.trust_all_proxies);
    assert!(p.trusted_proxies.contains("203.0.113.9".parse().unwrap()));
    assert!(p.trusted_proxies.contains("2001:db8::9".parse().unwrap()));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("every peer is trusted")),
        "{:?}",
        p.warnings
    );
    assert!(!load(MINIMAL).unwrap().trust_all_proxies);
}

#[test]
fn overlapping_listeners_are_refused_naming_both() {
    let text = format!(
        "{}\n[[server.tls]]\nlisten = \"[::]:8080\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n[admin]\nlisten = \"0.0.0.0:8080\"\n",
        MINIMAL.replace("\"127.0.0.1:8080\"]", "\"127.0.0.1:8080\", \"127.0.0.1:8081\"]")
    );
    let ps = problems(&text);
    let overlaps: Vec<&Problem> = ps
        .iter()
        .filter(|p| p.message.contains("overlaps"))
        .collect();
    assert_eq!(overlaps.len(), 2, "{ps:?}");
    assert_eq!(overlaps[0].key, "server.tls[0].listen");
    assert!(
        overlaps[0]
            .message
            .contains("[::]:8080 overlaps server.listen[0] = 127.0.0.1:8080"),
        "{}",
        overlaps[0].message
    );
    assert_eq!(overlaps[1].key, "admin.listen");
    assert!(overlaps[1].location.is_some());
}

#[test]
fn request_body_pace_has_defaults_and_is_validated() {
    let p = load(MINIMAL).unwrap();
    assert_eq!(
        p.server.request_body,
        crate::policy::body_pace::BodyPace {
            timeout: Duration::from_secs(20),
            min_rate: 500
        }
    );
    let text = with_server_keys("request_body_timeout_secs = 0\nrequest_body_min_rate = -1\n");
    let keys: Vec<String> = problems(&text).into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "server.request_body_timeout_secs",
            "server.request_body_min_rate"
        ]
    );
}

#[test]
fn port_zero_is_refused() {
    let ps = problems(&format!("{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:0\"\n"));
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].key, "admin.listen");
    assert!(ps[0].message.contains("port 0"), "{}", ps[0].message);
}

#[test]
fn an_admin_listener_beyond_loopback_needs_a_token() {
    let public = format!("{MINIMAL}\n[admin]\nlisten = \"0.0.0.0:9901\"\n");
    let ps = problems(&public);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].key, "admin.token");
    assert!(ps[0].location.is_some());
    let with_token = format!("{public}token = \"0123456789abcdef0123\"\n");
    assert!(load(&with_token).unwrap().admin_token.is_some());
    let short = format!("{public}token = \"abc\"\n");
    assert_eq!(problems(&short)[0].key, "admin.token");
    // The environment wins over the file, and is validated the same way.
    let vars = |t: &str| EnvVars {
        admin_token: Some(t.into()),
        ..EnvVars::default()
    };
    let from_env = load_str(
        &public,
        Path::new("t"),
        Overrides::default(),
        &vars("0123456789abcdef-env"),
    );
    let token = from_env.unwrap().admin_token.unwrap();
    assert!(token.authorizes(Some(b"Bearer 0123456789abcdef-env")));
    let bad_env = load_str(
        &with_token,
        Path::new("t"),
        Overrides::default(),
        &vars("short"),
    );
    assert!(bad_env
        .unwrap_err()
        .to_string()
        .contains("HELMGATE_ADMIN_TOKEN"));
    // Loopback needs none, and a token set there is used.
    let local = format!("{MINIMAL}\n[admin]\nlisten = \"[::1]:9901\"\n");
    assert!(load(&local).unwrap().admin_token.is_none());
}

#[test]
fn admin_hosts_are_names_or_addresses_and_a_bad_one_is_named() {
    let ok = format!(
        "{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:9901\"\nhosts = [\"Gateway-01.internal\", \"10.0.0.5\"]\n"
    );
    let hosts = load(&ok).unwrap().admin_hosts.entries();
    assert_eq!(hosts, ["gateway-01.internal", "10.0.0.5"]);
    let bad = format!(
        "{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:9901\"\nhosts = [\"ok.internal\", \"*.internal\"]\n"
    );
    let ps = problems(&bad);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].key, "admin.hosts[1]");
    assert!(
        ps[0].message.contains("no scheme, port or wildcard"),
        "{ps:?}"
    );
}

#[test]
fn every_shipped_example_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load_file(&path, Overrides::default(), &EnvVars::default()) {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the three example configs, found {checked}"
    );
}
