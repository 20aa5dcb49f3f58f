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
mod tests;
