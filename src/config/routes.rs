//! `[upstreams.NAME]` and `[[route]]`: every route becomes a `SitePolicy`
//! (its CORS and headers layered over the top-level ones, its upstream) and
//! the router that picks one per request. The top-level policy is the
//! `default` site, for requests no route matches.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use toml::Spanned;

use super::cors::EnvOrigins;
use super::layers::{stack_of, Stack};
use super::problems::Validator;
use super::raw::{RawConfig, RawCors, RawHeaders, RawRoute, RawUpstream};
use crate::policy::env::Environment;
use crate::policy::headers::SecurityHeaders;
use crate::policy::origin::{Host, Origin};
use crate::policy::path::{self, PathRefusal};
use crate::policy::routes::{Conflict, EscapedSlashes, HostPattern, RouteMatch, Router};
use crate::policy::{SitePolicy, Upstream};

/// The name of the top-level policy and of `[upstream]`.
pub const DEFAULT_NAME: &str = "default";

/// Route and upstream names end up in logs and metric labels: keep them short
/// and plain.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The global tables every stack starts from.
pub struct Globals<'a> {
    pub env: Environment,
    pub cors: Stack<'a, RawCors>,
    pub headers: Stack<'a, RawHeaders>,
    pub env_origins: Option<&'a str>,
    /// The violation-report collector's path, when reports are enabled.
    pub report_path: Option<String>,
}

impl<'a> Globals<'a> {
    pub fn new(raw: &'a RawConfig, env: Environment, env_origins: Option<&'a str>) -> Globals<'a> {
        let cors = stack_of!(raw, env, None, cors);
        let headers = stack_of!(raw, env, None, headers);
        Globals {
            env,
            cors,
            headers,
            env_origins,
            report_path: None,
        }
    }
}

impl Validator<'_> {
    pub fn named_upstreams(
        &mut self,
        raw: &BTreeMap<String, RawUpstream>,
    ) -> BTreeMap<String, Arc<Upstream>> {
        let mut out = BTreeMap::new();
        for (name, table) in raw {
            let key = format!("upstreams.{name}");
            if !valid_name(name) || name == DEFAULT_NAME {
                self.problem(
                    &key,
                    Some(&table.address),
                    format!("{name:?} is not a usable upstream name: use 1-32 of a-z, 0-9, `_` and `-` (and not `default`, the name of [upstream])"),
                );
                continue;
            }
            if let Some(settings) = self.upstream(&key, table) {
                out.insert(name.clone(), Arc::new(Upstream::new(name, settings)));
            }
        }
        out
    }

    /// One site's policy from its stacks. `None` if any part is invalid.
    fn site(
        &mut self,
        name: &str,
        route: Option<RouteMatch>,
        globals: &Globals<'_>,
        cors: &Stack<'_, RawCors>,
        headers: &Stack<'_, RawHeaders>,
        upstream: Option<Arc<Upstream>>,
    ) -> Option<SitePolicy> {
        let env_origins = globals.env_origins.map(|list| EnvOrigins {
            list,
            global_layers: globals.cors.len(),
        });
        let cors = self.cors(globals.env, cors, env_origins.as_ref());
        let mut header_settings = self.header_settings(globals.env, headers);
        if let Some(s) = header_settings.as_mut() {
            s.report_path = globals.report_path.clone();
        }
        let headers = match header_settings.as_ref().map(SecurityHeaders::build) {
            Some(Ok(h)) => Some(h),
            Some(Err((key, message))) => {
                self.problem::<()>(format!("headers.{key}"), None, message);
                None
            }
            None => None,
        };
        Some(SitePolicy {
            name: name.into(),
            route,
            cors: cors?,
            header_settings: header_settings?,
            headers: headers?,
            upstream: upstream?,
            fetch_metadata: Default::default(),
            cookies: Default::default(),
        })
    }

    /// Every site, the default first, and the router over them.
    pub fn sites(
        &mut self,
        raw: &RawConfig,
        globals: &Globals<'_>,
        default_upstream: Option<Arc<Upstream>>,
        named: &BTreeMap<String, Arc<Upstream>>,
    ) -> Option<(Vec<SitePolicy>, Router)> {
        let before = self.count();
        let mut sites = Vec::with_capacity(raw.routes.len() + 1);
        sites.push(self.site(
            DEFAULT_NAME,
            None,
            globals,
            &globals.cors,
            &globals.headers,
            default_upstream.clone(),
        ));
        let mut names: HashSet<&str> = HashSet::new();
        let mut matches = Vec::new();
        let mut used: HashSet<&str> = HashSet::new();
        for (i, route) in raw.routes.iter().enumerate() {
            let name = route.name.get_ref().as_str();
            let table = self.route_table(i, route, &mut names);
            let m = self.route_match(&table, route);
            let upstream = match &route.upstream {
                None => default_upstream.clone(),
                Some(u) => {
                    used.insert(u.get_ref().as_str());
                    self.route_upstream(raw, &table, u, named)
                }
            };
            let (cors, headers) = route_stacks(raw, globals.env, &table, route);
            if let Some(m) = &m {
                matches.push((sites.len(), m.clone()));
            }
            sites.push(self.site(name, m, globals, &cors, &headers, upstream));
        }
        self.site_layers(raw, globals.env, &mut sites);
        for name in named.keys() {
            if !used.contains(name.as_str()) {
                self.warn(format!("[upstreams.{name}] is not used by any route"));
            }
        }
        let router = self.router(raw, &matches);
        if self.count() != before {
            return None;
        }
        let sites: Option<Vec<SitePolicy>> = sites.into_iter().collect();
        Some((sites?, router?))
    }

    /// The table name of route `i` in messages (`route[NAME]`, or
    /// `route[i]` when the name is unusable), its name checked and
    /// recorded in `names`.
    fn route_table<'r>(
        &mut self,
        i: usize,
        route: &'r RawRoute,
        names: &mut HashSet<&'r str>,
    ) -> String {
        let name = route.name.get_ref().as_str();
        let table = if valid_name(name) {
            format!("route[{name}]")
        } else {
            format!("route[{i}]")
        };
        if !valid_name(name) || name == DEFAULT_NAME {
            self.problem(
                format!("route[{i}].name"),
                Some(&route.name),
                format!("{name:?} is not a usable route name: use 1-32 of a-z, 0-9, `_` and `-` (and not `default`, the name of the top-level policy); it appears in logs and metrics"),
            );
        } else if !names.insert(name) {
            self.problem(
                format!("{table}.name"),
                Some(&route.name),
                format!("route name {name:?} is used twice; names must be unique"),
            );
        }
        table
    }

    /// The named upstream a route asks for. One that is defined but invalid
    /// is `None` without a problem here: its own table reported it.
    fn route_upstream(
        &mut self,
        raw: &RawConfig,
        table: &str,
        u: &Spanned<String>,
        named: &BTreeMap<String, Arc<Upstream>>,
    ) -> Option<Arc<Upstream>> {
        let found = named.get(u.get_ref()).cloned();
        if found.is_none() && !raw.upstreams.contains_key(u.get_ref()) {
            let known: Vec<&str> = named.keys().map(String::as_str).collect();
            self.problem(
                format!("{table}.upstream"),
                Some(u),
                format!(
                    "{:?} is not a named upstream; define [upstreams.{}] or use one of: [{}] (omit the key for the top-level [upstream])",
                    u.get_ref(),
                    u.get_ref(),
                    known.join(", ")
                ),
            );
        }
        found
    }

    /// The router over the routes' matches; conflicts are problems.
    fn router(&mut self, raw: &RawConfig, matches: &[(usize, RouteMatch)]) -> Option<Router> {
        match Router::new(matches) {
            Ok(r) => Some(r),
            Err(conflicts) => {
                for c in conflicts {
                    self.conflict(raw, &c);
                }
                None
            }
        }
    }

    fn conflict(&mut self, raw: &RawConfig, c: &Conflict) {
        // Site i is route i - 1: the default site comes first.
        let route = |site: usize| &raw.routes[site - 1];
        let (first, second) = (route(c.first), route(c.second));
        let host = c
            .host
            .as_ref()
            .map_or("any host".to_string(), |h| format!("host {h}"));
        self.problem(
            format!("route[{}]", second.name.get_ref()),
            Some(&second.name),
            format!(
                "takes the same requests as route {:?} ({host}, path_prefix {}){} with equal precedence; give one of them a different host or path_prefix",
                first.name.get_ref(),
                c.path_prefix,
                if c.folded { " when letter case and trailing dots are ignored, as case-insensitive servers do," } else { "" }
            ),
        );
    }

    fn route_match(&mut self, table: &str, route: &RawRoute) -> Option<RouteMatch> {
        let before = self.count();
        let hosts = self.route_hosts(table, route);
        let path_prefix = match &route.path_prefix {
            None => Some("/".into()),
            Some(p) => match path_prefix(p.get_ref()) {
                Ok(prefix) => Some(prefix),
                Err(message) => {
                    self.problem(format!("{table}.path_prefix"), Some(p), message);
                    None
                }
            },
        };
        let escaped_slashes = self.escaped_slashes(table, route);
        if self.count() != before {
            return None;
        }
        Some(RouteMatch {
            hosts,
            escaped_slashes,
            path_prefix: path_prefix?,
        })
    }

    /// `hosts`: each a valid pattern, none twice; omitted means any host.
    fn route_hosts(&mut self, table: &str, route: &RawRoute) -> Vec<HostPattern> {
        let mut hosts = Vec::new();
        match &route.hosts {
            Some(list) if list.is_empty() => self.problem::<()>(
                format!("{table}.hosts"),
                None,
                "is empty: omit `hosts` to match any host",
            ),
            Some(list) => {
                for (i, h) in list.iter().enumerate() {
                    match host_pattern(h.get_ref()) {
                        Ok(p) if hosts.contains(&p) => self.problem(
                            format!("{table}.hosts[{i}]"),
                            Some(h),
                            format!("{:?} is listed twice", h.get_ref()),
                        ),
                        Ok(p) => hosts.push(p),
                        Err(message) => {
                            self.problem(format!("{table}.hosts[{i}]"), Some(h), message)
                        }
                    }
                }
            }
            None => {}
        }
        hosts
    }

    /// `escaped_slashes`: reject unless set; `keep` is warned about.
    fn escaped_slashes(&mut self, table: &str, route: &RawRoute) -> EscapedSlashes {
        let escaped_slashes = match &route.escaped_slashes {
            None => EscapedSlashes::Reject,
            Some(v) => match v.get_ref().as_str() {
                "reject" => EscapedSlashes::Reject,
                "keep" => EscapedSlashes::Keep,
                other => {
                    self.problem(
                        format!("{table}.escaped_slashes"),
                        Some(v),
                        format!("{other:?} is not an escaped-slash rule; use \"reject\" (the default) or \"keep\""),
                    );
                    EscapedSlashes::Reject
                }
            },
        };
        if escaped_slashes == EscapedSlashes::Keep {
            self.warn(format!(
                "{table}.escaped_slashes = \"keep\": paths with %2F or %5C are forwarded as sent; make sure the upstream does not decode them (requests that decoding would move to another route are still refused)"
            ));
        }
        escaped_slashes
    }
}

/// A route's CORS and headers stacks: the global tables, then the route's
/// own, then its profile for the environment.
fn route_stacks<'r>(
    raw: &'r RawConfig,
    env: Environment,
    table: &str,
    route: &'r RawRoute,
) -> (Stack<'r, RawCors>, Stack<'r, RawHeaders>) {
    let route = Some((table, route));
    (
        stack_of!(raw, env, route, cors),
        stack_of!(raw, env, route, headers),
    )
}

/// A `hosts` entry: an exact host or `*.suffix`, ASCII only (punycode for
/// internationalised names), no port, checked by the one origin parser.
fn host_pattern(raw: &str) -> Result<HostPattern, String> {
    if !raw.is_ascii() {
        return Err(format!(
            "{raw:?} is not ASCII: write internationalised names in punycode (xn--...)"
        ));
    }
    let (wildcard, rest) = match raw.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if rest.contains('*') {
        return Err(format!(
            "{raw:?}: `*` may only be the whole leftmost label, as in \"*.example.com\""
        ));
    }
    let has_port = if rest.starts_with('[') {
        rest.rsplit_once(']')
            .is_some_and(|(_, after)| !after.is_empty())
    } else {
        rest.contains(':')
    };
    if has_port {
        return Err(format!(
            "{raw:?} has a port: hosts match whatever port the client used; write the host alone"
        ));
    }
    let probe = if wildcard {
        format!("http://x.{rest}")
    } else {
        format!("http://{rest}")
    };
    let invalid = || {
        format!("{raw:?} is not a host name or IP address (letters, digits and `-` in dot-separated labels, e.g. \"api.example.com\" or \"*.example.com\")")
    };
    let origin = Origin::parse(&probe).map_err(|_| invalid())?;
    match (wildcard, origin.host()) {
        (true, Host::Name(name)) => Ok(HostPattern::Wildcard(name["x.".len()..].into())),
        (true, _) => Err(invalid()),
        (false, Host::Name(name)) => Ok(HostPattern::Exact(name.clone())),
        (false, Host::V4(ip)) => Ok(HostPattern::Exact(ip.to_string().into())),
        (false, Host::V6(ip)) => Ok(HostPattern::Exact(format!("[{ip}]").into())),
    }
}

/// A `path_prefix`: absolute, normalised like request paths are, without a
/// trailing slash (`/v1/` and `/v1` mean the same segment prefix).
pub(super) fn path_prefix(raw: &str) -> Result<Box<str>, String> {
    if !raw.starts_with('/') {
        return Err(format!("{raw:?} must start with `/`, e.g. \"/api\""));
    }
    if raw.bytes().any(|b| b == b'?' || b == b'#') {
        return Err(format!(
            "{raw:?} may only hold a path: no query or fragment"
        ));
    }
    let canonical = path::canonicalize(raw.as_bytes()).map_err(|why| prefix_problem(raw, why))?;
    if canonical.has_escaped_slash() {
        return Err(format!(
            "{raw:?} holds an escaped slash (%2F or %5C): write the segments with `/`"
        ));
    }
    if canonical.as_bytes().contains(&b';') {
        return Err(format!(
            "{raw:?} holds `;`: servlet containers drop `;...` from a segment, so no request can be routed on it"
        ));
    }
    let text = String::from_utf8_lossy(canonical.as_bytes());
    let trimmed = text.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.into())
}

fn prefix_problem(raw: &str, why: PathRefusal) -> String {
    let what = match why {
        PathRefusal::AboveRoot => "climbs above the root with `..`",
        PathRefusal::BadEscape => "has a `%` that is not followed by two hex digits",
        PathRefusal::ControlCharacter => {
            "holds a space or control character (percent-encode a space as %20)"
        }
        PathRefusal::Backslash => "holds `\\`: use `/` between segments",
        PathRefusal::InvalidUtf8 => "holds bytes that are not UTF-8",
        PathRefusal::EscapedSlash | PathRefusal::Ambiguous => "is not a usable path",
    };
    format!("{raw:?} {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_validated_and_lower_cased() {
        assert_eq!(
            host_pattern("API.Example.com"),
            Ok(HostPattern::Exact("api.example.com".into()))
        );
        assert_eq!(
            host_pattern("*.Example.com"),
            Ok(HostPattern::Wildcard("example.com".into()))
        );
        assert_eq!(
            host_pattern("127.0.0.1"),
            Ok(HostPattern::Exact("127.0.0.1".into()))
        );
        for bad in [
            "bücher.example",
            "a.*.example.com",
            "*",
            "*.",
            "api.example.com:8080",
            "a b.com",
            "-a.com",
            "a..com",
            "",
        ] {
            assert!(host_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_prefixes_are_normalised() {
        assert_eq!(path_prefix("/v1/").as_deref(), Ok("/v1"));
        assert_eq!(path_prefix("/").as_deref(), Ok("/"));
        assert_eq!(path_prefix("/a/./b/../c").as_deref(), Ok("/a/c"));
        assert_eq!(path_prefix("/%76%31").as_deref(), Ok("/v1"));
        assert_eq!(path_prefix("/caf%c3%a9/").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(path_prefix("/café").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(path_prefix("//api//v1").as_deref(), Ok("/api/v1"));
        for bad in [
            "v1", "/v1?x", "/v 1", "/../x", "/a%2Fb", "/a;b", "/a\\b", "/%00",
        ] {
            assert!(path_prefix(bad).is_err(), "{bad}");
        }
    }
}
