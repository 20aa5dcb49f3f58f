//! The configuration file as users write it: a serde mirror of the TOML.
//! Nothing here is validated beyond types; `config::load` turns it into a
//! `Policy`. Unknown keys are refused everywhere so a typo can't silently
//! leave a setting at its default.
//!
//! The same types describe the file as a JSON Schema (`helmgate schema`,
//! `conf/helmgate.schema.json`) for editors: the doc comments on the fields
//! are the descriptions an editor shows on hover, so keep them short (what
//! it is, its default). `toml::Spanned<T>` has no schema of its own; each
//! such field says with `#[schemars(with = "...")]` which plain type it is.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::policy::env::Environment;

/// helmgate's configuration file (TOML). Unknown keys are errors; check a
/// file with `helmgate --config FILE --check`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "helmgate configuration", extend("required" = ["upstream"]))]
pub struct RawConfig {
    /// Files read as if appended to this one: globs relative to this file,
    /// e.g. ["conf.d/*.toml"], each glob's matches in sorted order.
    /// `[[route]]` entries add up and tables merge; a key set in two files
    /// is an error. Only the main file's is read. Default `[]`.
    #[serde(default)]
    pub include: Vec<String>,
    /// The environment profile: "production" (the default) or "development".
    /// `--environment`, `HELMGATE_ENV` and `NODE_ENV` win over it.
    pub environment: Option<Environment>,
    /// `[server]`: listeners, TLS, trusted proxies, limits.
    #[serde(default)]
    pub server: RawServer,
    /// `[upstream]`: the app that requests no route takes go to (required).
    // An `Option` so that `--check` can say how to add it; the schema's
    // `required` (on the struct) says it to editors.
    pub upstream: Option<RawUpstream>,
    /// `[upstreams.NAME]`: named upstreams that routes refer to; NAME is
    /// 1-32 of a-z, 0-9, `_` and `-`, and not `default`.
    #[serde(default)]
    pub upstreams: BTreeMap<String, RawUpstream>,
    /// `[[route]]`: requests by host and path prefix, each with its own
    /// upstream, CORS and headers over the top-level ones. Default: none.
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    /// `[cors]`: the CORS policy every route starts from.
    #[serde(default)]
    pub cors: RawCors,
    /// `[headers]`: the security headers every route starts from.
    #[serde(default)]
    pub headers: RawHeaders,
    /// `[fetch_metadata]`: refuse cross-site requests that are not
    /// top-level navigations (Sec-Fetch-Site). Default: off.
    #[serde(default)]
    pub fetch_metadata: RawFetchMetadata,
    /// `[cookies]`: attributes added to the upstream's Set-Cookie headers.
    /// Default: none.
    #[serde(default)]
    pub cookies: RawCookies,
    /// `[production]`: `cors` and `headers` for production only; they win
    /// over `[cors]` and `[headers]`.
    #[serde(default)]
    pub production: RawProfile,
    /// `[development]`: `cors` and `headers` for development only; they win
    /// over `[cors]` and `[headers]`.
    #[serde(default)]
    pub development: RawProfile,
    /// `[log]`: the access log and the blocked-origin WARN lines.
    #[serde(default)]
    pub log: RawLog,
    /// `[admin]`: the admin listener (dashboard, /status.json, /metrics,
    /// /healthz, /readyz). Default: off.
    #[serde(default)]
    pub admin: RawAdmin,
    /// `[reports]`: the CSP/COEP/COOP violation-report collector.
    #[serde(default)]
    pub reports: RawReports,
    /// `[learning]`: policy suggestions from violation reports and CORS
    /// refusals (`helmgate suggest`, the dashboard, /suggestions.json).
    #[serde(default)]
    pub learning: RawLearning,
}

/// `[server]`: listeners, TLS, trusted proxies and limits. Socket settings
/// are fixed at start; a reload does not change them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Plain-HTTP listeners, "IP:PORT" ("[::]:8080" for IPv6). Default `[]`;
    /// at least one listener, plain or TLS, is required.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub listen: Vec<Spanned<String>>,
    /// CIDRs (a bare IP is /32 or /128) whose X-Forwarded-For/Proto/Host are
    /// believed: your load balancers. Default `[]`. Ranges broader than /8
    /// (IPv4) or /32 (IPv6) are refused.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Trust every peer as a proxy; also what lets `trusted_proxies` hold a
    /// range broader than /8 (IPv4) or /32 (IPv6). Default false.
    pub trust_all_proxies: Option<bool>,
    /// `[[server.tls]]`: TLS listeners (HTTP/2 and 1.1). Default: none.
    #[serde(default)]
    pub tls: Vec<RawTls>,
    /// Plain-HTTP listeners that answer everything with a 308 to https://.
    /// Default `[]`; needs a `[[server.tls]]` listener.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub https_redirect_listen: Vec<Spanned<String>>,
    /// Worker threads of the proxy service, 1-1024. Default: the number of
    /// CPUs.
    #[schemars(with = "Option<i64>")]
    pub threads: Option<Spanned<i64>>,
    /// Tokio work stealing between the worker threads. Default false.
    pub work_stealing: Option<bool>,
    /// Seconds before an idle client keep-alive connection is closed,
    /// 0-86400 (0: no keep-alive). Default 60.
    #[schemars(with = "Option<i64>")]
    pub keepalive_timeout_secs: Option<Spanned<i64>>,
    /// On SIGTERM, the longest wait in seconds for requests in flight,
    /// 0-3600. Default 30.
    #[schemars(with = "Option<i64>")]
    pub grace_period_secs: Option<Spanned<i64>>,
    /// Larger request heads get 431; 1024 to 1048576. Default 65536.
    #[schemars(with = "Option<i64>")]
    pub max_request_header_bytes: Option<Spanned<i64>>,
    /// Seconds a request head may take from its first byte (else 408),
    /// above 0 and at most 86400. Default 10.
    #[schemars(with = "Option<f64>")]
    pub request_header_timeout_secs: Option<Spanned<f64>>,
    /// Larger request bodies get 413. Default: unlimited.
    #[schemars(with = "Option<i64>")]
    pub max_request_body_bytes: Option<Spanned<i64>>,
    /// Seconds a request body may go without a byte before the request is
    /// cut (408 before its head went upstream, else both connections
    /// closed), above 0 and at most 86400. Default 20.
    #[schemars(with = "Option<f64>")]
    pub request_body_timeout_secs: Option<Spanned<f64>>,
    /// Bytes a second a request body must average once its first
    /// request_body_timeout_secs are over (Apache's mod_reqtimeout
    /// MinRate), 0-1073741824 (0: no minimum). Default 500.
    #[schemars(with = "Option<i64>")]
    pub request_body_min_rate: Option<Spanned<i64>>,
    /// Per-connection socket read/write buffer, 1024 to 1048576. Default
    /// 4096.
    #[schemars(with = "Option<i64>")]
    pub connection_buffer_bytes: Option<Spanned<i64>>,
    /// Pass request headers whose name contains `_`. Default false: dropped,
    /// as nginx does.
    pub allow_underscores_in_headers: Option<bool>,
    /// Send HTTP/1 header names on with the exact case they arrived in.
    /// Default false: names of proxied heads go on in Title-Case.
    pub preserve_header_case: Option<bool>,
    /// `[server.acme]`: get and renew certificates from an ACME CA (RFC
    /// 8555), with the TLS-ALPN-01 and HTTP-01 challenges. Default: off.
    pub acme: Option<RawAcme>,
}

/// `[server.acme]`: certificates from an ACME CA (Let's Encrypt by
/// default), obtained at start, stored, and renewed in the background. Fixed
/// at start.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    /// The CA's contact for the account, an e-mail address. Default: none.
    #[schemars(with = "Option<String>")]
    pub email: Option<Spanned<String>>,
    /// The CA's directory URL (https://), or "staging" (Let's Encrypt's
    /// staging CA). Default: Let's Encrypt's production directory.
    #[schemars(with = "Option<String>")]
    pub directory: Option<Spanned<String>>,
    /// Exact host names to get certificates for (no wildcards: they need
    /// DNS-01). Default: every exact host named in [[route]] hosts.
    #[schemars(with = "Option<Vec<String>>")]
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// Directory for the account key and the certificates (made 0700, keys
    /// 0600); a relative path is relative to the config file. Default
    /// "/var/lib/helmgate/acme".
    #[schemars(with = "Option<String>")]
    pub storage: Option<Spanned<String>>,
    /// Challenge types, tried in this order: "tls-alpn-01" (on the TLS
    /// listener) and "http-01" (on the https_redirect_listen listener).
    /// Default: both, http-01 only when there is a redirect listener.
    #[schemars(with = "Option<Vec<String>>")]
    pub challenges: Option<Spanned<Vec<Spanned<String>>>>,
    /// Renew this many days before expiry (at most a third of the
    /// certificate's lifetime), 1-365. Default 30.
    #[schemars(with = "Option<i64>")]
    pub renew_before_days: Option<Spanned<i64>>,
    /// External account binding key id, for CAs that need it (with
    /// eab_hmac_key). Default: none.
    #[schemars(with = "Option<String>")]
    pub eab_kid: Option<Spanned<String>>,
    /// External account binding MAC key, base64url (with eab_kid).
    /// Default: none.
    #[schemars(with = "Option<String>")]
    pub eab_hmac_key: Option<Spanned<String>>,
    /// PEM file of extra roots trusted for the directory's own HTTPS (a
    /// private or test CA); a relative path is relative to the config file.
    /// Default: none (the system's roots only).
    #[schemars(with = "Option<String>")]
    pub ca_roots: Option<Spanned<String>>,
}

/// `[[server.tls]]`: one TLS listener. The cert and key are re-read on every
/// reload.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The TLS listener, "IP:PORT" (required).
    #[schemars(with = "String")]
    pub listen: Spanned<String>,
    /// PEM certificate chain; a relative path is relative to the config
    /// file. Default: none, which needs [server.acme] to provide the
    /// certificates.
    #[schemars(with = "Option<String>")]
    pub cert: Option<Spanned<String>>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); a relative path is relative
    /// to the config file. Default: none; set with cert.
    #[schemars(with = "Option<String>")]
    pub key: Option<Spanned<String>>,
}

/// `[upstream]` or `[upstreams.NAME]`: an app requests are proxied to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// "HOST:PORT" of the app, resolved once at start (required).
    #[schemars(with = "String")]
    pub address: Spanned<String>,
    /// Speak HTTPS to the upstream, verified against the system roots.
    /// Default false.
    #[serde(default)]
    pub tls: bool,
    /// SNI and certificate name for upstream TLS. Default: the host of
    /// `address`.
    pub sni: Option<String>,
    /// Seconds to connect to the upstream (then 502). Default 5.
    #[schemars(with = "Option<f64>")]
    pub connect_timeout_secs: Option<Spanned<f64>>,
    /// Seconds to wait for upstream data (then 504). Default 60.
    #[schemars(with = "Option<f64>")]
    pub read_timeout_secs: Option<Spanned<f64>>,
    /// Seconds to write to the upstream. Default 60.
    #[schemars(with = "Option<f64>")]
    pub write_timeout_secs: Option<Spanned<f64>>,
    /// Seconds an idle pooled upstream connection is kept. Default 60.
    #[schemars(with = "Option<f64>")]
    pub idle_timeout_secs: Option<Spanned<f64>>,
}

/// `[[route]]`: which requests it takes, and what it changes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// The route's name in logs and metrics: 1-32 of a-z, 0-9, `_` and `-`,
    /// unique (required).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Hosts it takes: "api.example.com" or "*.example.com". Default: any
    /// host.
    #[schemars(with = "Option<Vec<String>>")]
    pub hosts: Option<Vec<Spanned<String>>>,
    /// Path prefix it takes, segment-aware ("/v1" takes /v1/x, never /v1x).
    /// Default "/".
    #[schemars(with = "Option<String>")]
    pub path_prefix: Option<Spanned<String>>,
    /// A `[upstreams.NAME]` by name. Default: `[upstream]`.
    #[schemars(with = "Option<String>")]
    pub upstream: Option<Spanned<String>>,
    /// "reject" (the default) answers 400 to a path holding %2F or %5C;
    /// "keep" forwards it as sent, for an API with `/` inside a segment,
    /// unless decoding it would take the path to another route.
    #[schemars(with = "Option<String>", extend("enum" = ["reject", "keep"]))]
    pub escaped_slashes: Option<Spanned<String>>,
    /// `[route.cors]`: any `[cors]` key, layered over the top-level ones.
    pub cors: Option<RawCors>,
    /// `[route.headers]`: any `[headers]` key, layered over the top-level
    /// ones.
    pub headers: Option<RawHeaders>,
    /// `[route.fetch_metadata]`: any `[fetch_metadata]` key, layered over
    /// the top-level ones.
    pub fetch_metadata: Option<RawFetchMetadata>,
    /// `[route.cookies]`: any `[cookies]` key, layered over the top-level
    /// ones.
    pub cookies: Option<RawCookies>,
    /// `[route.production]`: this route's `cors` and `headers` in production
    /// only.
    #[serde(default)]
    pub production: RawProfile,
    /// `[route.development]`: this route's `cors` and `headers` in
    /// development only.
    #[serde(default)]
    pub development: RawProfile,
}

/// `[cors]` at any layer (top level, environment, route): each key set here
/// replaces the one below.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    /// Origins allowed cross-origin: "https://app.example.com", or
    /// "https://*.example.com" for its subdomains. No path, no bare "*".
    /// Default `[]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub allowed_origins: Option<Vec<Spanned<String>>>,
    /// Access-Control-Allow-Methods. Default ["GET", "POST", "PATCH",
    /// "DELETE", "OPTIONS"].
    #[schemars(with = "Option<Vec<String>>")]
    pub allowed_methods: Option<Vec<Spanned<String>>>,
    /// Access-Control-Allow-Headers, kept in your spelling. Default
    /// ["Content-Type", "Authorization", "x-admin-api-key", "x-user-id",
    /// "x-request-id"].
    #[schemars(with = "Option<Vec<String>>")]
    pub allowed_headers: Option<Vec<Spanned<String>>>,
    /// Access-Control-Expose-Headers on allowed responses. Default `[]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub expose_headers: Option<Vec<Spanned<String>>>,
    /// Allow any localhost, 127.0.0.1 or [::1] origin. Default: false in
    /// production, true in development.
    pub allow_localhost: Option<bool>,
    /// Send Access-Control-Allow-Credentials: true to allowed origins.
    /// Default true.
    #[schemars(with = "Option<bool>")]
    pub allow_credentials: Option<Spanned<bool>>,
    /// Public resources: Access-Control-Allow-Origin: *, no credentials, no
    /// 403 for foreign origins. Default false.
    #[schemars(with = "Option<bool>")]
    pub allow_any_origin: Option<Spanned<bool>>,
    /// Access-Control-Max-Age in seconds, 0-31536000. Default: 600 in
    /// production, 86400 in development.
    #[schemars(with = "Option<i64>")]
    pub max_age_secs: Option<Spanned<i64>>,
    /// "enforce" (the default) refuses disallowed origins with 403; "report"
    /// forwards everything and records what enforce would refuse.
    #[schemars(with = "Option<String>", extend("enum" = ["enforce", "report"]))]
    pub mode: Option<Spanned<String>>,
}

/// The named security-header keys, in the order of `headers::TABLE` (a unit
/// test keeps the two equal), each with its header's name for the docs.
/// Each value replaces the profile's default; an empty string turns the
/// header off.
macro_rules! raw_headers {
    ($($key:ident: $name:literal),* $(,)?) => {
        /// `[headers]` at any layer (top level, environment, route): each key
        /// set here replaces the one below.
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RawHeaders {
            /// The defaults to start from: "seed" (the default) or
            /// "hardened" (adds what helmet 8 sends by default).
            #[schemars(with = "Option<String>", extend("enum" = ["seed", "hardened"]))]
            pub preset: Option<Spanned<String>>,
            $(
                #[doc = concat!("The `", $name, "` response header, replacing the preset's value; \"\" turns it off. Default: the preset's value.")]
                #[schemars(with = "Option<String>")]
                pub $key: Option<Spanned<String>>,
            )*
            /// `[headers.csp]`: Content-Security-Policy directives over the
            /// policy below (the preset's, or a lower table's), one key per
            /// directive, e.g. `script-src = "'self' 'nonce-{nonce}'"`; ""
            /// drops a directive. Not beside content_security_policy in one
            /// table. Default: none.
            #[schemars(with = "Option<BTreeMap<String, String>>")]
            pub csp: Option<BTreeMap<String, Spanned<String>>>,
            /// `[headers.csp_report_only]`: the same for
            /// Content-Security-Policy-Report-Only. Default: none.
            #[schemars(with = "Option<BTreeMap<String, String>>")]
            pub csp_report_only: Option<BTreeMap<String, Spanned<String>>>,
            /// Add X-Powered-By to `remove` (false takes it out). Default:
            /// true in production, false in development.
            pub remove_x_powered_by: Option<bool>,
            /// `[headers.custom]`: any other response header, "Name" =
            /// "value", overwriting the upstream's; "" drops one a lower
            /// table set. Default: none.
            #[schemars(with = "Option<BTreeMap<String, String>>")]
            pub custom: Option<BTreeMap<String, Spanned<String>>>,
            /// Response headers stripped from the upstream's responses.
            /// Default: ["X-Powered-By"] in production, `[]` in development.
            #[schemars(with = "Option<Vec<String>>")]
            pub remove: Option<Vec<Spanned<String>>>,
            /// The request header that carries a response's CSP nonce to the
            /// upstream. Default "X-CSP-Nonce".
            #[schemars(with = "Option<String>")]
            pub nonce_request_header: Option<Spanned<String>>,
            /// Replaced by the nonce in text/html bodies, e.g.
            /// "__CSP_NONCE__"; an HTML injection carrying it gets the real
            /// nonce, so prefer nonce_request_header. Default: none.
            #[schemars(with = "Option<String>")]
            pub nonce_html_placeholder: Option<Spanned<String>>,
        }

        impl RawHeaders {
            /// The value of a named header key, by its config name.
            pub fn named(&self, key: &str) -> Option<&Spanned<String>> {
                match key {
                    $(stringify!($key) => self.$key.as_ref(),)*
                    _ => None,
                }
            }
        }

        impl RawHeaders {
            /// The directive table over a CSP key's policy, by the CSP key.
            pub fn directives(&self, key: &str) -> Option<&BTreeMap<String, Spanned<String>>> {
                match key {
                    "content_security_policy" => self.csp.as_ref(),
                    "content_security_policy_report_only" => self.csp_report_only.as_ref(),
                    _ => None,
                }
            }
        }

        /// Every named header key `RawHeaders` accepts.
        pub const NAMED_HEADER_KEYS: &[&str] = &[$(stringify!($key)),*];

        /// The header name each of `NAMED_HEADER_KEYS` sets, as its doc
        /// comment spells it.
        pub const NAMED_HEADER_NAMES: &[&str] = &[$($name),*];
    };
}

raw_headers!(
    content_security_policy: "Content-Security-Policy",
    content_security_policy_report_only: "Content-Security-Policy-Report-Only",
    strict_transport_security: "Strict-Transport-Security",
    x_frame_options: "X-Frame-Options",
    x_content_type_options: "X-Content-Type-Options",
    referrer_policy: "Referrer-Policy",
    cross_origin_embedder_policy: "Cross-Origin-Embedder-Policy",
    cross_origin_opener_policy: "Cross-Origin-Opener-Policy",
    cross_origin_resource_policy: "Cross-Origin-Resource-Policy",
    permissions_policy: "Permissions-Policy",
    origin_agent_cluster: "Origin-Agent-Cluster",
    x_dns_prefetch_control: "X-DNS-Prefetch-Control",
    x_download_options: "X-Download-Options",
    x_permitted_cross_domain_policies: "X-Permitted-Cross-Domain-Policies",
    x_xss_protection: "X-XSS-Protection",
);

/// `[production]` / `[development]`: overrides that apply to one profile only.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// Any `[cors]` key, for this environment only.
    pub cors: Option<RawCors>,
    /// Any `[headers]` key, for this environment only.
    pub headers: Option<RawHeaders>,
    /// Any `[fetch_metadata]` key, for this environment only.
    pub fetch_metadata: Option<RawFetchMetadata>,
    /// Any `[cookies]` key, for this environment only.
    pub cookies: Option<RawCookies>,
}

impl RawProfile {
    pub const EMPTY: RawProfile = RawProfile {
        cors: None,
        headers: None,
        fetch_metadata: None,
        cookies: None,
    };
}

/// `[cookies]` at any layer (top level, environment, route): each key set
/// here replaces the one below. `Expires`, `Max-Age`, `Domain` and `Path`
/// are never touched, and no attribute is written twice.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCookies {
    /// Add `Secure`, to HTTPS clients only. Default false.
    pub secure: Option<bool>,
    /// Add `HttpOnly`: true (every cookie), false (none), or the names of
    /// the cookies, e.g. ["session", "auth"]. Default false.
    pub http_only: Option<RawHttpOnly>,
    /// `SameSite`: "Lax", "Strict", "None" (also adds Secure; HTTPS clients
    /// only) or "" (leave it as the upstream sent it). Default "".
    #[schemars(with = "Option<String>", extend("enum" = ["Lax", "Strict", "None", ""]))]
    pub same_site: Option<Spanned<String>>,
    /// true: `same_site` replaces a SameSite the upstream set; false: an
    /// attribute the upstream set is never changed. Default false.
    #[serde(rename = "override")]
    pub override_upstream: Option<bool>,
}

/// `http_only`: every cookie, none, or these names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawHttpOnly {
    All(bool),
    // No `Spanned` here: an untagged enum can't carry toml's spans.
    Names(Vec<String>),
}

/// `[fetch_metadata]` at any layer (top level, environment, route): each
/// key set here replaces the one below.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFetchMetadata {
    /// "enforce" refuses a `Sec-Fetch-Site: cross-site` request that is not
    /// a top-level navigation with 403; "report" forwards it and counts
    /// it; "off" (the default) looks at nothing.
    #[schemars(with = "Option<String>", extend("enum" = ["enforce", "report", "off"]))]
    pub mode: Option<Spanned<String>>,
    /// Path prefixes (segment-aware) meant to be loaded cross-site, e.g.
    /// ["/embed", "/oauth/callback"]. Default `[]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub allow_paths: Option<Vec<Spanned<String>>>,
    /// Allow `Sec-Fetch-Site: same-site` (another subdomain of the same
    /// site). Default true.
    pub allow_same_site: Option<bool>,
}

impl RawConfig {
    pub fn profile(&self, env: Environment) -> &RawProfile {
        match env {
            Environment::Production => &self.production,
            Environment::Development => &self.development,
        }
    }
}

impl RawRoute {
    pub fn profile(&self, env: Environment) -> &RawProfile {
        match env {
            Environment::Production => &self.production,
            Environment::Development => &self.development,
        }
    }
}

/// `[log]`: the access log and the blocked-origin WARN lines.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// Access log format: "text" (the default) or "json" (one JSON object
    /// per line).
    #[schemars(with = "Option<String>", extend("enum" = ["text", "json"]))]
    pub format: Option<Spanned<String>>,
    /// One access log line per request. Default true.
    pub access_log: Option<bool>,
    /// Blocked-origin WARN lines allowed at once, 1-100000. Default 20.
    #[schemars(with = "Option<i64>")]
    pub blocked_origin_burst: Option<Spanned<i64>>,
    /// Then this many blocked-origin WARN lines a minute, 1-1000000.
    /// Default 60.
    #[schemars(with = "Option<i64>")]
    pub blocked_origin_per_minute: Option<Spanned<i64>>,
    /// File the access lines are appended to, e.g.
    /// "/var/log/helmgate/access.log"; relative to the config file's
    /// directory. SIGUSR1 reopens it (log rotation). Default: stderr.
    #[schemars(with = "Option<String>")]
    pub access_log_path: Option<Spanned<String>>,
    /// File every other log line is appended to, e.g.
    /// "/var/log/helmgate/error.log"; relative to the config file's
    /// directory. SIGUSR1 reopens it. Default: stderr.
    #[schemars(with = "Option<String>")]
    pub error_log_path: Option<Spanned<String>>,
}

/// `[admin]`: the admin listener and who may use it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The admin listener, "IP:PORT": dashboard, /status.json, /metrics,
    /// /healthz, /readyz. Default: off.
    #[schemars(with = "Option<String>")]
    pub listen: Option<Spanned<String>>,
    /// Bearer token every admin path but /healthz needs; at least 16 visible
    /// ASCII characters. Required when `listen` is not loopback.
    /// `HELMGATE_ADMIN_TOKEN` wins over it. Default: none.
    #[schemars(with = "Option<String>")]
    pub token: Option<Spanned<String>>,
    /// Host names (or IP addresses) the admin listener answers to besides
    /// its own IP address and `localhost`; any other Host gets 421 (DNS
    /// rebinding). No port or wildcard. Default `[]`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub hosts: Vec<Spanned<String>>,
}

/// `[reports]`: the violation-report endpoint (global: the path is the same
/// on every route).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReports {
    /// Answer browsers' violation-report POSTs to `path` with 204 and count
    /// them (never forwarded). Default false.
    pub enabled: Option<bool>,
    /// Where browsers send reports: an absolute path without query.
    /// Default "/.helmgate/reports".
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Larger report bodies get 413; 1024 to 1048576. Default 65536.
    #[schemars(with = "Option<i64>")]
    pub max_body_bytes: Option<Spanned<i64>>,
    /// Report POSTs a minute for the whole process (more get 429),
    /// 1-1000000. Default 600.
    #[schemars(with = "Option<i64>")]
    pub per_minute: Option<Spanned<i64>>,
    /// Report POSTs a minute from one client address (trusted
    /// X-Forwarded-For included; an IPv6 /64 is one client), more get 429,
    /// within the `per_minute` cap; 1-1000000. Default 60.
    #[schemars(with = "Option<i64>")]
    pub per_client_per_minute: Option<Spanned<i64>>,
}

/// `[learning]`: what violation reports and CORS refusals teach, turned
/// into policy suggestions. On when `[reports]` is on or a route's CORS is
/// in report mode.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLearning {
    /// false turns learning off. Default true.
    pub enabled: Option<bool>,
    /// A source or origin is suggested only once seen from this many
    /// distinct client networks (/24 for IPv4, /48 for IPv6), 1-16.
    /// Default 3.
    #[schemars(with = "Option<i64>")]
    pub min_clients: Option<Spanned<i64>>,
    /// File the learning state is saved to every minute and at shutdown,
    /// and loaded from at start; relative to the config file's directory.
    /// Default: none (kept in memory only).
    #[schemars(with = "Option<String>")]
    pub state_file: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_config_keys_agree() {
        let keys: Vec<&str> = crate::policy::headers::TABLE
            .iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, NAMED_HEADER_KEYS);
        for (r, name) in crate::policy::headers::TABLE.iter().zip(NAMED_HEADER_NAMES) {
            assert_eq!(r.key.replace('_', "-"), r.name, "{}", r.key);
            assert_eq!(
                name.to_ascii_lowercase(),
                r.name,
                "the schema's name for {}",
                r.key
            );
        }
    }
}
