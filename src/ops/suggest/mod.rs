//! `helmgate suggest`: what the gateway learned (state files, a running
//! gateway's admin listener, merged), turned into the TOML lines to add,
//! per route and table, with counts and first/last seen as comments;
//! `--write FILE` writes the whole config with them applied (edited in
//! place with toml_edit, so the user's comments and layout stay).
//!
//! Where a change goes: the most specific table of the route that already
//! sets the key (`[route.ENV.cors]` before `[route.cors]`, `[ENV.cors]`
//! before `[cors]` for the top level), else the route's own table. CSP
//! sources go to the route's directive table (`[route.headers.csp]` or
//! `[route.headers.csp_report_only]`, by the header the reports came
//! from), with the directive's whole new value; where that table's layer
//! sets the policy as a string (`content_security_policy = "..."`), that
//! string is rewritten instead (a layer can't have both).
//!
//! `plan`: where each change goes in the document, and writing it;
//! `render`: the text printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, Overrides};
use crate::observe::learning::suggest::{self, Current, RouteSuggestions};
use crate::observe::learning::{persist, RouteLearning};
use crate::ops::healthcheck::Target;
use crate::policy::env::EnvVars;
use crate::policy::Policy;

mod plan;
mod render;

use plan::Plan;
use render::render;

/// The largest `/learning.json` read from a gateway.
const MAX_ADMIN_BYTES: usize = persist::MAX_FILE_BYTES as usize;
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What `helmgate suggest` was asked.
#[derive(Debug, Default)]
pub struct Request {
    pub config: Option<PathBuf>,
    pub overrides: Overrides,
    pub admin: Option<String>,
    pub token: Option<String>,
    pub states: Vec<PathBuf>,
    pub route: Option<String>,
    pub min_clients: Option<usize>,
    pub write: Option<PathBuf>,
}

/// Run it: the text for stdout, or why not.
pub fn run(req: &Request, vars: &EnvVars) -> Result<String, String> {
    if req.admin.is_none() && req.states.is_empty() {
        return Err("say where the learning state is: --state FILE (a gateway's [learning] state_file; repeat to merge several) or --admin URL (a running gateway's admin listener)".into());
    }
    if req.write.is_some() && req.config.is_none() {
        return Err(
            "--write needs --config FILE: the config the suggestions are applied to".into(),
        );
    }
    let policy = match &req.config {
        Some(path) => {
            Some(config::load_file(path, req.overrides, vars).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let learned = gather(req)?;
    let mut all = suggestions(policy.as_ref(), &learned, req.min_clients);
    if let Some(route) = &req.route {
        if !all.iter().any(|s| &s.route == route) {
            let known: Vec<&str> = all.iter().map(|s| s.route.as_str()).collect();
            return Err(format!(
                "--route {route:?}: no such route (known: {})",
                known.join(", ")
            ));
        }
        all.retain(|s| &s.route == route);
    }
    let plan = match (&policy, &req.config) {
        (Some(p), Some(path)) => Some(Plan::new(path, p)?),
        _ => None,
    };
    let mut out = render(&all, plan.as_ref().zip(policy.as_ref()));
    if let Some(p) = &policy {
        note_unknown_routes(&mut out, p, &learned);
    }
    if vars.cors_allowed_origins.is_some() && all.iter().any(|s| s.cors.is_some()) {
        out.push_str("# note: CORS_ALLOWED_ORIGINS is set here, and it replaces [cors] allowed_origins at run time (routes without their own list included): add the origins to it as well, or unset it\n");
    }
    if let (Some(target), Some(plan), Some(p)) = (&req.write, plan, &policy) {
        // On failure the lines to add by hand are still said.
        let written = plan
            .write(&all, p, target, req.overrides, vars)
            .map_err(|e| format!("{out}{e}"))?;
        let _ = writeln!(
            out,
            "# wrote {} ({written} change(s)); it passes --check",
            target.display()
        );
    }
    Ok(out)
}

/// Against the config's policy, or, without one, for every learned route
/// with the policy unknown.
fn suggestions(
    policy: Option<&Policy>,
    learned: &BTreeMap<String, RouteLearning>,
    min_clients: Option<usize>,
) -> Vec<RouteSuggestions> {
    let Some(p) = policy else {
        let min = min_clients.unwrap_or(crate::policy::reports::DEFAULT_MIN_CLIENTS);
        return learned
            .iter()
            .map(|(name, r)| suggest::suggest(name, r, Current::default(), min))
            .collect();
    };
    crate::ops::learning::suggestions(p, learned, min_clients)
}

/// Say which learned routes the config does not have.
fn note_unknown_routes(
    out: &mut String,
    policy: &Policy,
    learned: &BTreeMap<String, RouteLearning>,
) {
    let gone: Vec<&str> = learned
        .keys()
        .filter(|name| !policy.sites.iter().any(|s| *s.name == ***name))
        .map(String::as_str)
        .collect();
    if !gone.is_empty() {
        let _ = writeln!(
            out,
            "# learned for route(s) this config does not have, left out: {}",
            gone.join(", ")
        );
    }
}

/// Every state file and the gateway's state, merged.
fn gather(req: &Request) -> Result<BTreeMap<String, RouteLearning>, String> {
    let merged = crate::observe::learning::Learning::default();
    for path in &req.states {
        match persist::load(path) {
            Ok(Some(routes)) => merged.merge(&routes),
            Ok(None) => return Err(format!("--state {}: no such file", path.display())),
            Err(e) => return Err(format!("--state {}: {e}", path.display())),
        }
    }
    if let Some(url) = &req.admin {
        merged.merge(&from_admin(url, req.token.as_deref())?);
    }
    Ok(merged.snapshot())
}

/// `GET /learning.json` from a running gateway.
fn from_admin(url: &str, token: Option<&str>) -> Result<BTreeMap<String, RouteLearning>, String> {
    let token = token.filter(|t| !t.is_empty());
    if token.is_some_and(|t| !t.bytes().all(|b| b.is_ascii_graphic())) {
        return Err("--token: the admin token is visible ASCII only".into());
    }
    let base = url.trim_end_matches('/');
    let target = Target::parse(base).map_err(|e| format!("--admin: {e}"))?;
    let (status, body) = target
        .get("/learning.json", token, ADMIN_TIMEOUT, MAX_ADMIN_BYTES)
        .map_err(|e| format!("--admin {url}: {e}"))?;
    match status {
        200 => persist::parse(&body).map_err(|e| format!("--admin {url}: the answer: {e}")),
        401 => Err(format!("--admin {url}: 401: the gateway has an admin token; pass --token or set HELMGATE_ADMIN_TOKEN")),
        code => Err(format!("--admin {url}/learning.json answered {code}")),
    }
}
