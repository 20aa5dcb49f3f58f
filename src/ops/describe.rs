//! What `--check` prints: the effective policy, every route in the order a
//! request is matched, and for each route its origins, methods, headers,
//! every security header with its value, and its upstream.

use std::fmt::Write as _;
use std::time::Duration;

use crate::policy::cookies::{HttpOnly, SameSite};
use crate::policy::fetch_metadata::FetchMetadataMode;
use crate::policy::reports::ReportSettings;
use crate::policy::routes::{EscapedSlashes, DEFAULT_SITE};
use crate::policy::{LogFormat, LogSettings, Policy, ServerSettings, SitePolicy, Upstream};

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

pub fn describe(policy: &Policy) -> String {
    let mut out = String::new();
    let files: Vec<String> = policy
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    if !files.is_empty() {
        let _ = writeln!(out, "files read: {}", files.join(", "));
    }
    let _ = writeln!(
        out,
        "environment: {} (from {})",
        policy.environment, policy.environment_source
    );
    listeners(&mut out, policy);
    crate::ops::acme::describe(&mut out, policy);
    trusted_proxies(&mut out, policy);
    server(&mut out, &policy.server);
    let _ = writeln!(out, "upstreams:");
    for u in &policy.upstreams {
        upstream(&mut out, u);
    }
    routing_table(&mut out, policy);
    for site in &policy.sites {
        site_policy(&mut out, site);
        site_isolation(&mut out, site);
        site_cookies(&mut out, site);
    }
    log(&mut out, &policy.log);
    reports(&mut out, &policy.reports);
    learning(&mut out, policy);
    for w in &policy.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn trusted_proxies(out: &mut String, policy: &Policy) {
    if policy.trust_all_proxies {
        let _ = writeln!(
            out,
            "trusted_proxies: every peer (server.trust_all_proxies = true): any client that can connect can forge X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host, i.e. spoof its IP address, claim HTTPS and pick the host used for same-origin CORS and routing"
        );
    } else {
        let nets: Vec<String> = policy
            .trusted_proxies
            .nets()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(out, "trusted_proxies: [{}]", nets.join(", "));
    }
}

fn server(out: &mut String, s: &ServerSettings) {
    let _ = writeln!(
        out,
        "server: threads {} work_stealing {} keepalive {} grace_period {} max_request_header_bytes {} request_header_timeout {} max_request_body_bytes {} request_body_timeout {} request_body_min_rate {} connection_buffer_bytes {} header_case {}",
        s.threads,
        s.work_stealing,
        secs(s.keepalive_timeout),
        secs(s.grace_period),
        s.max_request_header_bytes,
        secs(s.request_header_timeout),
        s.max_request_body_bytes.map_or("unlimited".to_string(), |b| b.to_string()),
        secs(s.request_body.timeout),
        match s.request_body.min_rate {
            0 => "none".to_string(),
            rate => format!("{rate}B/s"),
        },
        s.connection_buffer_bytes,
        if s.preserve_header_case { "preserved" } else { "canonical" },
    );
}

fn log(out: &mut String, log: &LogSettings) {
    let _ = writeln!(
        out,
        "log: format {} access_log {} blocked-origin lines: burst {} then {}/minute",
        match log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        },
        log.access_log,
        log.blocked_origin_burst,
        log.blocked_origin_per_minute
    );
}

fn learning(out: &mut String, policy: &crate::policy::Policy) {
    let l = &policy.learning;
    if !policy.learning_active() {
        let why = if l.enabled {
            "it learns from [reports] and CORS report mode, and both are off"
        } else {
            "[learning] enabled = false"
        };
        let _ = writeln!(out, "learning: off ({why})");
        return;
    }
    let state = l.state_file.as_ref().map_or_else(
        || "kept in memory only".to_string(),
        |p| format!("saved to {} every minute and at shutdown", p.display()),
    );
    let _ = writeln!(
        out,
        "learning: on (suggests what {} distinct client networks saw: helmgate suggest, /suggestions.json; state {state})",
        l.min_clients
    );
}

fn reports(out: &mut String, r: &ReportSettings) {
    if r.enabled {
        let _ = writeln!(
            out,
            "reports: on at {} on every route (max_body_bytes {}, {} POSTs/minute for the whole process, {} POSTs/minute per client)",
            r.path.as_str(),
            r.max_body_bytes,
            r.per_minute,
            r.per_client_per_minute
        );
    } else {
        let _ = writeln!(out, "reports: off");
    }
}

fn listeners(out: &mut String, policy: &Policy) {
    let _ = writeln!(out, "listeners:");
    for addr in &policy.server.listen {
        let _ = writeln!(out, "  http  {addr}");
    }
    for t in &policy.server.tls {
        match &t.files {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "  https {} (cert {}, key {})",
                    t.listen,
                    f.cert.display(),
                    f.key.display()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  https {} (certificates from [server.acme])",
                    t.listen
                );
            }
        }
    }
    for addr in &policy.server.https_redirect_listen {
        let _ = writeln!(out, "  http  {addr} (redirects to https)");
    }
    if let Some(admin) = policy.admin_listen {
        let mut hosts = vec!["its IP address".to_string(), "localhost".to_string()];
        hosts.extend(policy.admin_hosts.entries());
        let _ = writeln!(
            out,
            "  admin {admin} (/ dashboard, /status.json, /metrics, /healthz, /readyz; {}; Host must be {}, else 421)",
            if policy.admin_token.is_some() {
                "token required but for /healthz"
            } else {
                "no token"
            },
            hosts.join(", ")
        );
    }
}

fn upstream(out: &mut String, u: &Upstream) {
    let s = &u.settings;
    let _ = writeln!(
        out,
        "  {}: {}://{} ({}) connect {} read {} write {} idle {}",
        u.name,
        if s.tls { "https" } else { "http" },
        s.display,
        s.address,
        secs(s.connect_timeout),
        secs(s.read_timeout),
        secs(s.write_timeout),
        secs(s.idle_timeout)
    );
}

/// The path and host rules every request goes through (README "Routes").
const PATH_RULES: &str = "\
path rules (every request, before routing; the upstream gets the path as matched):
  canonical: unreserved escapes decoded, other escapes upper-case, raw non-ASCII percent-encoded, // merged, dot-segments resolved
  400: above the root, broken escapes, control characters (raw or escaped, %00), raw \\, non-UTF-8 or overlong bytes, %2F/%5C (unless the route keeps them)
  400: a path whose route changes when read as nginx (%2F decoded), a servlet container (;... dropped) or a case-insensitive server (case and trailing dots ignored)
  400: a Host with more than one port, a port outside 1-65535 or an empty label; a target authority that disagrees with Host
";

fn routing_table(out: &mut String, policy: &Policy) {
    out.push_str(PATH_RULES);
    let _ = writeln!(out, "routes (in order of precedence):");
    for (i, (site, m)) in policy.router.table().iter().enumerate() {
        let hosts = if m.hosts.is_empty() {
            "any host".to_string()
        } else {
            m.hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let s = &policy.sites[*site];
        let slashes = match m.escaped_slashes {
            EscapedSlashes::Reject => "",
            EscapedSlashes::Keep => " (escaped slashes kept)",
        };
        let _ = writeln!(
            out,
            "  {}. {}: {} {} -> upstream {}{slashes}",
            i + 1,
            s.name,
            hosts,
            m.path_prefix,
            s.upstream.name
        );
    }
    let d = &policy.sites[DEFAULT_SITE];
    let _ = writeln!(
        out,
        "  {}. {}: anything else -> upstream {}",
        policy.router.table().len() + 1,
        d.name,
        d.upstream.name
    );
}

fn site_policy(out: &mut String, site: &SitePolicy) {
    let _ = writeln!(out, "route {}:", site.name);
    let _ = writeln!(out, "  upstream: {}", site.upstream.name);
    site_cors(out, site);
    site_security_headers(out, site);
    site_header_changes(out, site);
}

/// The CORS settings, as the response headers they produce.
fn site_cors(out: &mut String, site: &SitePolicy) {
    let c = site.cors.settings();
    let _ = writeln!(out, "  cors:");
    let _ = writeln!(out, "    mode: {}", c.mode.as_str());
    if c.allow_any_origin {
        let _ = writeln!(
            out,
            "    allowed_origins: any (access-control-allow-origin: *)"
        );
    } else {
        let origins: Vec<&str> = c.allowed_origins.iter().map(|o| o.as_str()).collect();
        let _ = writeln!(out, "    allowed_origins: [{}]", origins.join(", "));
        let _ = writeln!(out, "    allow_localhost: {}", c.allow_localhost);
        let _ = writeln!(out, "    same-origin requests: allowed");
    }
    let methods: Vec<&str> = c.allowed_methods.iter().map(|m| m.as_str()).collect();
    let _ = writeln!(
        out,
        "    access-control-allow-methods: {}",
        methods.join(", ")
    );
    let _ = writeln!(
        out,
        "    access-control-allow-headers: {}",
        c.allowed_headers.join(", ")
    );
    if !c.expose_headers.is_empty() {
        let _ = writeln!(
            out,
            "    access-control-expose-headers: {}",
            c.expose_headers.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "    access-control-allow-credentials: {}",
        if site.cors.sends_credentials() {
            "true"
        } else {
            "(not sent)"
        }
    );
    let _ = writeln!(out, "    access-control-max-age: {}", c.max_age_secs);
}

/// One line per security header of the table, then the report wiring.
fn site_security_headers(out: &mut String, site: &SitePolicy) {
    let _ = writeln!(
        out,
        "  security headers (preset {}):",
        site.header_settings.preset.as_str()
    );
    for (row, value) in site.header_settings.entries() {
        match value {
            Some(v) if row.https_only => {
                let _ = writeln!(out, "    {}: {v}   (HTTPS only)", row.name);
            }
            Some(v) => {
                let _ = writeln!(out, "    {}: {v}", row.name);
            }
            None => {
                let _ = writeln!(out, "    {}: (not sent)", row.name);
            }
        }
    }
    if let Some(path) = &site.header_settings.report_path {
        let _ = writeln!(
            out,
            "    violation reports: report-uri {path} added to both CSPs; over HTTPS also report-to {g}, Reporting-Endpoints: {g}=\"{path}\" and report-to=\"{g}\" on COOP/COEP (a policy with its own report-uri/report-to is left alone)",
            g = crate::policy::headers::REPORT_GROUP
        );
    }
}

/// Custom headers added, upstream headers removed, and the nonce.
fn site_header_changes(out: &mut String, site: &SitePolicy) {
    for (name, value) in &site.header_settings.custom {
        let _ = writeln!(out, "    {name}: {value}   (custom)");
    }
    let removed = &site.header_settings.remove;
    let _ = writeln!(
        out,
        "    removed from upstream responses: {}",
        if removed.is_empty() {
            "(none)".to_string()
        } else {
            removed.join(", ")
        }
    );
    if site.header_settings.uses_nonce() {
        let _ = writeln!(
            out,
            "    {{nonce}}: a fresh 128-bit nonce per response, sent upstream as {}{}",
            site.header_settings.nonce_request_header,
            site.header_settings
                .nonce_html_placeholder
                .as_ref()
                .map_or(String::new(), |p| format!(
                    ", written into text/html bodies in place of {p}"
                ))
        );
    }
}

/// A route's `[fetch_metadata]` rule (README "Fetch Metadata").
fn site_isolation(out: &mut String, site: &SitePolicy) {
    let f = &site.fetch_metadata;
    if f.mode == FetchMetadataMode::Off {
        let _ = writeln!(out, "  fetch_metadata: off");
        return;
    }
    let paths: Vec<&str> = f.allow_paths.iter().map(|p| &**p).collect();
    let _ = writeln!(
        out,
        "  fetch_metadata: {} (Sec-Fetch-Site cross-site{} and not a top-level GET/HEAD navigation: {}; allowed: no Sec-Fetch-Site, same-origin, none{}, a CORS request from an allowed origin, paths [{}]; repeated, listed or unknown values count as cross-site)",
        f.mode.as_str(),
        if f.allow_same_site { "" } else { " or same-site" },
        match f.mode {
            FetchMetadataMode::Enforce => "403",
            _ => "forwarded, logged and counted as would_refuse",
        },
        if f.allow_same_site { ", same-site" } else { "" },
        paths.join(", ")
    );
}

/// A route's `[cookies]` rules (README "Cookies").
fn site_cookies(out: &mut String, site: &SitePolicy) {
    let c = &site.cookies;
    if !c.is_active() {
        let _ = writeln!(out, "  cookies: Set-Cookie passed as sent");
        return;
    }
    let http_only = match &c.http_only {
        HttpOnly::None => "no".to_string(),
        HttpOnly::All => "every cookie".to_string(),
        HttpOnly::Names(names) => names.join(", "),
    };
    let _ = writeln!(
        out,
        "  cookies: Secure {}; HttpOnly {http_only}; SameSite {}; upstream's attributes {} (Expires, Max-Age, Domain, Path never touched; no attribute twice)",
        if c.secure {
            "added (HTTPS clients only)"
        } else if c.same_site == Some(SameSite::None) {
            "with SameSite=None (HTTPS clients only)"
        } else {
            "as sent"
        },
        c.same_site.map_or("as sent", SameSite::as_str),
        if c.override_upstream {
            "SameSite replaced"
        } else {
            "kept"
        },
    );
}
