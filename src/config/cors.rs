//! `[cors]` at any layer: origins (exact and wildcard), methods, headers,
//! credentials, public routes and the mode, folded from a stack of tables.

use http::header::HeaderName;
use http::Method;
use toml::Spanned;

use super::layers::Stack;
use super::problems::Validator;
use super::raw::RawCors;
use crate::policy::cors::{CorsMode, CorsPolicy, CorsSettings};
use crate::policy::env::Environment;
use crate::policy::origin::{AllowedOrigin, OriginError};

/// `CORS_ALLOWED_ORIGINS`, which replaces the top-level list: it sits just
/// above the global tables of every stack, below a route's own.
pub struct EnvOrigins<'a> {
    pub list: &'a str,
    /// How many tables of the stack are global (`[cors]`, `[ENV.cors]`).
    pub global_layers: usize,
}

impl Validator<'_> {
    pub fn cors(
        &mut self,
        env: Environment,
        stack: &Stack<'_, RawCors>,
        env_origins: Option<&EnvOrigins<'_>>,
    ) -> Option<CorsPolicy> {
        let before = self.count();
        let (allowed_origins, origins_layer) = self.effective_origins(stack, env_origins);
        let defaults = CorsSettings::default();
        let allowed_methods = match stack.pick("allowed_methods", |c| c.allowed_methods.as_ref()) {
            Some(p) => self.methods(&p.key, p.value),
            None => defaults.allowed_methods,
        };
        let allowed_headers = match stack.pick("allowed_headers", |c| c.allowed_headers.as_ref()) {
            Some(p) => self.header_names(&p.key, p.value),
            None => defaults.allowed_headers,
        };
        let expose_headers = match stack.pick("expose_headers", |c| c.expose_headers.as_ref()) {
            Some(p) => self.header_names(&p.key, p.value),
            None => Vec::new(),
        };
        let max_age = self.max_age(env, stack);
        let allow_localhost = stack
            .pick("allow_localhost", |c| c.allow_localhost.as_ref())
            .map_or(env == Environment::Development, |p| *p.value);
        let (allow_any_origin, allow_credentials) =
            self.any_origin_and_credentials(stack, &allowed_origins, origins_layer);
        let mode = self.cors_mode(stack);
        if self.count() != before {
            return None;
        }
        Some(CorsPolicy::new(CorsSettings {
            allowed_origins,
            allow_localhost,
            allow_any_origin,
            allow_credentials,
            allowed_methods,
            allowed_headers,
            expose_headers,
            max_age_secs: max_age? as u64,
            mode: mode?,
        }))
    }

    /// The origin list in force, from `CORS_ALLOWED_ORIGINS` or the stack,
    /// with the layer it came from (for the allow_any_origin contradiction
    /// check).
    fn effective_origins(
        &mut self,
        stack: &Stack<'_, RawCors>,
        env_origins: Option<&EnvOrigins<'_>>,
    ) -> (Vec<AllowedOrigin>, Option<usize>) {
        let picked = stack.pick("allowed_origins", |c| c.allowed_origins.as_ref());
        let from_env =
            env_origins.filter(|e| picked.as_ref().is_none_or(|p| p.layer < e.global_layers));
        match (from_env, picked) {
            (Some(e), _) => (self.env_origins(e.list), e.global_layers.checked_sub(1)),
            (None, Some(p)) => (self.origins(&p.key, p.value), Some(p.layer)),
            (None, None) => (Vec::new(), None),
        }
    }

    fn max_age(&mut self, env: Environment, stack: &Stack<'_, RawCors>) -> Option<i64> {
        let default_max_age = match env {
            Environment::Production => 600,
            Environment::Development => 86_400,
        };
        match stack.pick("max_age_secs", |c| c.max_age_secs.as_ref()) {
            Some(p) => self.int(&p.key, Some(p.value), default_max_age, 0, 31_536_000),
            None => Some(default_max_age),
        }
    }

    /// `(allow_any_origin, allow_credentials)`: `*` excludes credentials and
    /// a list set beside it; credentials with a wildcard origin get a warning.
    fn any_origin_and_credentials(
        &mut self,
        stack: &Stack<'_, RawCors>,
        allowed_origins: &[AllowedOrigin],
        origins_layer: Option<usize>,
    ) -> (bool, bool) {
        let any = stack.pick("allow_any_origin", |c| c.allow_any_origin.as_ref());
        let credentials = stack.pick("allow_credentials", |c| c.allow_credentials.as_ref());
        let allow_any_origin = any.as_ref().is_some_and(|p| *p.value.get_ref());
        if let Some(any) = any.as_ref().filter(|_| allow_any_origin) {
            // Values set at or above the table that turned `*` on contradict
            // it; inherited ones from below are simply overridden.
            if let Some(c) = credentials
                .as_ref()
                .filter(|c| *c.value.get_ref() && c.layer >= any.layer)
            {
                self.problem(
                    &c.key,
                    Some(c.value),
                    format!("contradicts {} = true: a response with `Access-Control-Allow-Origin: *` can't carry credentials; set allow_credentials = false, or list the origins instead", any.key),
                );
            }
            if !allowed_origins.is_empty() && origins_layer.is_some_and(|l| l >= any.layer) {
                self.problem(
                    &any.key,
                    Some(any.value),
                    "can't be combined with a non-empty allowed_origins in the same or a later table: allow every origin or list them, not both",
                );
            }
        }
        let allow_credentials = !allow_any_origin && credentials.is_none_or(|c| *c.value.get_ref());
        if allow_credentials {
            if let Some(w) = allowed_origins
                .iter()
                .find(|o| matches!(o, AllowedOrigin::Wildcard(_)))
            {
                self.warn(format!(
                    "wildcard origin {} is allowed with credentials: every current and future subdomain can make credentialed requests; make sure no one else controls one (or set allow_credentials = false)",
                    w.as_str()
                ));
            }
        }
        (allow_any_origin, allow_credentials)
    }

    /// `mode`: enforce unless set; `None` after a problem.
    fn cors_mode(&mut self, stack: &Stack<'_, RawCors>) -> Option<CorsMode> {
        let Some(p) = stack.pick("mode", |c| c.mode.as_ref()) else {
            return Some(CorsMode::Enforce);
        };
        match p.value.get_ref().as_str() {
            "enforce" => Some(CorsMode::Enforce),
            "report" => Some(CorsMode::Report),
            other => {
                self.problem(
                    &p.key,
                    Some(p.value),
                    format!("{other:?} is not a CORS mode; use \"enforce\" or \"report\""),
                );
                None
            }
        }
    }

    fn origins(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<AllowedOrigin> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match allowed_origin(s.get_ref()) {
                Ok(o) => out.push(o),
                Err(message) => self.problem(format!("{key}[{i}]"), Some(s), message),
            }
        }
        out
    }

    fn env_origins(&mut self, list: &str) -> Vec<AllowedOrigin> {
        let mut out = Vec::new();
        for (i, entry) in list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            match allowed_origin(entry) {
                Ok(o) => out.push(o),
                Err(message) => self.problem::<()>(
                    format!("CORS_ALLOWED_ORIGINS entry {}", i + 1),
                    None,
                    message,
                ),
            }
        }
        out
    }

    fn methods(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<Method> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let upper = s.get_ref().trim().to_ascii_uppercase();
            match Method::from_bytes(upper.as_bytes()) {
                Ok(m) if !upper.is_empty() => out.push(m),
                _ => self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    format!("{:?} is not an HTTP method", s.get_ref()),
                ),
            }
        }
        out
    }

    fn header_names(&mut self, key: &str, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let name = s.get_ref().trim();
            if name == "*" {
                self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    "`*` is not honoured by browsers for credentialed requests; list the header names",
                );
            } else if HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.problem(
                    format!("{key}[{i}]"),
                    Some(s),
                    format!("{name:?} is not a header name"),
                );
            } else {
                out.push(name.to_string());
            }
        }
        out
    }
}

/// Parse an `allowed_origins` entry, refusing wildcards over a public suffix
/// (`*.com`, `*.co.uk`, `*.github.io`): anyone can register a name there.
fn allowed_origin(entry: &str) -> Result<AllowedOrigin, String> {
    let origin = AllowedOrigin::parse(entry.trim()).map_err(|e| origin_message(entry, e))?;
    if let AllowedOrigin::Wildcard(w) = &origin {
        if psl::suffix_str(&w.suffix) == Some(&*w.suffix) {
            return Err(format!(
                "{entry:?} is not a valid origin: {} is a public suffix (Public Suffix List), so *.{} would allow sites anyone can register; name your own domain, e.g. \"{}://*.example.{}\"",
                w.suffix,
                w.suffix,
                w.scheme.as_str(),
                w.suffix
            ));
        }
    }
    Ok(origin)
}

fn origin_message(entry: &str, e: OriginError) -> String {
    let trimmed = entry.trim();
    let hint = match e {
        OriginError::HasPath => {
            let scheme_end = trimmed.find("://").map_or(0, |i| i + 3);
            let end = trimmed[scheme_end..]
                .find(['/', '?', '#', '\\'])
                .map_or(trimmed.len(), |i| scheme_end + i);
            format!("; write {:?}", &trimmed[..end])
        }
        OriginError::NoScheme => format!("; write \"https://{trimmed}\""),
        OriginError::Wildcard => {
            ": to allow every origin set allow_any_origin = true (never with credentials), or list each origin; `https://*.example.com` allows the subdomains of one domain".to_string()
        }
        OriginError::BadWildcard => "; write it as `https://*.example.com`".to_string(),
        _ => String::new(),
    };
    format!("{entry:?} is not a valid origin: it {e}{hint}")
}
