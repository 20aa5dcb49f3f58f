//! Turning the file users write into a validated [`Policy`]. Every problem is
//! collected (with its key, the bad value and, where known, line and column)
//! before failing, so one `--check` run shows them all. One file per concern
//! validates its part; `layers` holds the one rule that folds global,
//! environment and route tables together.

mod acme;
mod cookies;
mod cors;
mod csp_tables;
mod fetch_metadata;
mod headers;
mod layers;
mod log_paths;
mod problems;
pub mod raw;
mod reports;
mod routes;
pub mod schema;
mod server;
mod site_layers;
mod sources;
mod structure;
pub mod tls;
mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::policy::admin_host::AdminHosts;
use crate::policy::auth::AdminToken;
use crate::policy::env::{self, EnvVars, Environment, EnvironmentChoice};
use crate::policy::routes::DEFAULT_SITE;
use crate::policy::{Policy, SitePolicy, Upstream};
pub use problems::Problem;
use problems::Validator;
use raw::RawConfig;
pub use routes::DEFAULT_NAME;
pub use server::DEFAULT_CONNECTION_BUFFER_BYTES;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/helmgate/helmgate.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (point --config or HELMGATE_CONFIG at a readable file)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}, included by {main}: {source}")]
    Include {
        path: PathBuf,
        main: PathBuf,
        source: std::io::Error,
    },
    #[error("{main}: include = [\"{pattern}\"]: {message}")]
    Glob {
        main: PathBuf,
        pattern: String,
        message: String,
    },
    #[error("{path}: invalid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {} problem(s):\n{}", .problems.len(), list(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the command line contributes to loading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub environment: Option<Environment>,
}

/// Read and validate the file at `path`.
pub fn load_file(path: &Path, overrides: Overrides, vars: &EnvVars) -> Result<Policy, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, overrides, vars)
}

/// Validate configuration text. `path` is only used in messages.
pub fn load_str(
    text: &str,
    path: &Path,
    overrides: Overrides,
    vars: &EnvVars,
) -> Result<Policy, ConfigError> {
    let sources = sources::read_all(path, text)?;
    let (all, starts) = sources::joined(&sources);
    let mut v = Validator::new(
        &all,
        path.parent().map(Path::to_path_buf).unwrap_or_default(),
    )
    .with_included(starts);
    let table = sources::merged(&mut v, &sources, path);
    let raw = read_raw(&mut v, table);
    let shape_problems = v.count();
    let built = raw.and_then(|raw| policy(&mut v, &raw, overrides, vars));
    let (problems, warnings) = v.finish();
    match built {
        Some(mut policy) if problems.is_empty() => {
            policy.warnings = warnings;
            policy.files = sources.into_iter().map(|s| s.path).collect();
            Ok(policy)
        }
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: drop_covered(problems, shape_problems),
        }),
    }
}

/// The file's tree as the raw types, its shape checked first: every
/// unknown key and wrong type is a problem and is taken out, so the meaning
/// of the rest is still checked. `None` when what is left can't be read.
fn read_raw(v: &mut Validator<'_>, mut table: toml_edit::Table) -> Option<RawConfig> {
    let schema = schema::json_schema();
    structure::Shape::new(&schema, v).check_root(&mut table);
    let shape_problems = v.count();
    match toml_edit::de::from_document::<RawConfig>(toml_edit::DocumentMut::from(table)) {
        Ok(raw) => Some(raw),
        Err(e) => {
            // Only what the shape check can't see (it has said the rest).
            if shape_problems == 0 {
                let at = v.location(e.span().map_or(0, |s| s.start));
                v.problem_at("(file)", at, e.message().trim_end().to_string());
            }
            None
        }
    }
}

/// One problem per key: a meaning check of a key the shape check already
/// refused (and took out, e.g. a required key) is not said again.
fn drop_covered(problems: Vec<Problem>, shape: usize) -> Vec<Problem> {
    let covered: Vec<String> = problems.iter().take(shape).map(|p| p.key.clone()).collect();
    let under = |key: &str| {
        covered.iter().any(|c| {
            key == c || key.starts_with(&format!("{c}.")) || key.starts_with(&format!("{c}["))
        })
    };
    problems
        .into_iter()
        .enumerate()
        .filter(|(i, p)| *i < shape || !under(&p.key))
        .map(|(_, p)| p)
        .collect()
}

fn policy(
    v: &mut Validator<'_>,
    raw: &RawConfig,
    overrides: Overrides,
    vars: &EnvVars,
) -> Option<Policy> {
    let choice = environment_choice(v, raw.environment, overrides, vars);
    let environment = choice
        .as_ref()
        .map_or(Environment::Production, |c| c.environment);
    let server = server_settings(v, raw);
    let trusted_proxies = v.trusted_proxies(&raw.server);
    let default_upstream = default_upstream(v, raw);
    let named = v.named_upstreams(&raw.upstreams);
    let reports = v.reports(&raw.reports);
    let learning = v.learning(&raw.learning);
    let mut globals = routes::Globals::new(raw, environment, vars.cors_allowed_origins.as_deref());
    globals.report_path = reports
        .as_ref()
        .filter(|r| r.enabled)
        .map(|r| r.path.as_str().to_string());
    let sites = v.sites(raw, &globals, default_upstream.clone(), &named);
    v.warn_nonce_placeholders(raw);
    other_environment(
        v,
        raw,
        environment,
        vars,
        globals.report_path.clone(),
        default_upstream,
        &named,
    );
    let log = v.log(&raw.log);
    let admin = admin(v, raw, vars);
    let (sites, router) = sites?;
    warn_no_origins(v, environment, &sites);
    let upstreams = distinct_upstreams(&sites);
    let choice = choice?;
    let log = log?;
    let (admin_listen, admin_token, admin_hosts) = admin?;
    Some(Policy {
        environment,
        environment_source: choice.source,
        server: server?,
        trusted_proxies: trusted_proxies?,
        trust_all_proxies: raw.server.trust_all_proxies.unwrap_or(false),
        sites,
        router,
        upstreams,
        log,
        admin_listen,
        admin_token,
        admin_hosts,
        reports: reports?,
        learning: learning?,
        warnings: Vec::new(),
        files: Vec::new(),
    })
}

/// `[server]` with its `[server.acme]` (whose default hosts are the routes'),
/// the problems of both recorded.
fn server_settings(
    v: &mut Validator<'_>,
    raw: &RawConfig,
) -> Option<crate::policy::ServerSettings> {
    let server = v.server(&raw.server);
    let acme = v.acme(&raw.server, &raw.routes);
    let mut server = server?;
    server.acme = acme?;
    Some(server)
}

/// The environment in force (`file`: the config's `environment`) and where
/// it came from; its warnings are passed on.
fn environment_choice(
    v: &mut Validator<'_>,
    file: Option<Environment>,
    overrides: Overrides,
    vars: &EnvVars,
) -> Option<EnvironmentChoice> {
    let choice = match env::choose(overrides.environment, vars, file) {
        Ok(c) => Some(c),
        Err(message) => {
            v.problem::<()>("HELMGATE_ENV", None, message);
            None
        }
    };
    for w in choice.iter().flat_map(|c| &c.warnings) {
        v.warn(w.clone());
    }
    choice
}

/// `[upstream]`, where requests that match no route go: required.
fn default_upstream(v: &mut Validator<'_>, raw: &RawConfig) -> Option<Arc<Upstream>> {
    match &raw.upstream {
        Some(u) => v
            .upstream("upstream", u)
            .map(|s| Arc::new(Upstream::new(DEFAULT_NAME, s))),
        None => {
            v.problem::<()>(
                "upstream.address",
                None,
                "missing: add [upstream] address = \"127.0.0.1:3000\" (requests that match no route go there)",
            );
            None
        }
    }
}

/// `[admin]`: its listener (which must not share an address with the
/// server's), token and hosts.
fn admin(
    v: &mut Validator<'_>,
    raw: &RawConfig,
    vars: &EnvVars,
) -> Option<(Option<SocketAddr>, Option<AdminToken>, AdminHosts)> {
    let admin_listen = raw
        .admin
        .listen
        .as_ref()
        .and_then(|s| v.socket_addr("admin.listen", s));
    v.check_unique_addresses(&raw.server, raw.admin.listen.as_ref());
    let admin_token = v.admin_token(&raw.admin, admin_listen, vars.admin_token.as_deref());
    let admin_hosts = v.admin_hosts(&raw.admin);
    Some((admin_listen, admin_token.ok()?, admin_hosts?))
}

fn warn_no_origins(v: &mut Validator<'_>, environment: Environment, sites: &[SitePolicy]) {
    let c = sites[DEFAULT_SITE].cors.settings();
    if environment == Environment::Production && c.allowed_origins.is_empty() && !c.allow_any_origin
    {
        v.warn("production has no allowed origins: every cross-origin request will get 403 (set cors.allowed_origins or CORS_ALLOWED_ORIGINS)");
    }
}

/// Each upstream once, in the order sites first use it.
fn distinct_upstreams(sites: &[SitePolicy]) -> Vec<Arc<Upstream>> {
    let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
    for site in sites {
        if !upstreams.iter().any(|u| Arc::ptr_eq(u, &site.upstream)) {
            upstreams.push(Arc::clone(&site.upstream));
        }
    }
    upstreams
}

/// Validate the tables of the environment not in force too, and report their
/// problems with the rest: a file that passes `--check` must also start with
/// the other environment (as `nginx -t` checks the whole file). Only the
/// active environment's policy is built for use.
fn other_environment(
    v: &mut Validator<'_>,
    raw: &RawConfig,
    active: Environment,
    vars: &EnvVars,
    report_path: Option<String>,
    default_upstream: Option<Arc<Upstream>>,
    named: &std::collections::BTreeMap<String, Arc<Upstream>>,
) {
    let other = match active {
        Environment::Production => Environment::Development,
        Environment::Development => Environment::Production,
    };
    let mut shadow = v.shadow();
    let mut globals = routes::Globals::new(raw, other, vars.cors_allowed_origins.as_deref());
    globals.report_path = report_path;
    let _ = shadow.sites(raw, &globals, default_upstream, named);
    v.absorb_other_environment(shadow, other.as_str());
}

/// A small valid config and a loader, for unit tests across the crate.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Production, one listener, one upstream, one allowed origin.
    pub const MINIMAL: &str = r#"
environment = "production"
[server]
listen = ["127.0.0.1:8080"]
[upstream]
address = "127.0.0.1:3000"
[cors]
allowed_origins = ["https://app.example.com"]
"#;

    pub fn load(text: &str) -> Result<Policy, ConfigError> {
        load_str(
            text,
            Path::new("test.toml"),
            Overrides::default(),
            &EnvVars::default(),
        )
    }
}

#[cfg(test)]
mod tests {
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
        let text = with_server_keys(
            "trusted_proxies = [\"10.0.0.0/8\", \"0.0.0.0/0\", \"::ffff:0:0/96\"]\n",
        );
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
        let text =
            with_server_keys("trust_all_proxies = true\ntrusted_proxies = [\"0.0.0.0/0\"]\n");
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
}
