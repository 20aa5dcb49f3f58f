//! The ONE table of every security header the gateway can set: its config
//! key, its name, and its default per preset and environment.

use crate::policy::env::Environment;

pub const CSP_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";
pub const CSP_DEVELOPMENT: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'";
/// helmet 8's additions over the seed policy. `upgrade-insecure-requests` is
/// production only: it would break http://localhost development.
pub const CSP_HARDENED_PRODUCTION: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; script-src-attr 'none'; upgrade-insecure-requests";
pub const CSP_HARDENED_DEVELOPMENT: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; media-src 'self'; frame-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; script-src-attr 'none'";
pub const HSTS_DEFAULT: &str = "max-age=31536000; includeSubDomains; preload";
pub const PERMISSIONS_POLICY_HARDENED: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

/// Which set of defaults a route starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The original contract; the default, and it never changes.
    Seed,
    /// The seed set plus what helmet 8 sends by default.
    Hardened,
}

impl Preset {
    pub fn parse(text: &str) -> Option<Preset> {
        match text {
            "seed" => Some(Preset::Seed),
            "hardened" => Some(Preset::Hardened),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Seed => "seed",
            Preset::Hardened => "hardened",
        }
    }
}

/// One header the gateway can set.
#[derive(Debug)]
pub struct HeaderRow {
    /// The key in `[headers]`.
    pub key: &'static str,
    /// The header name, lower-case.
    pub name: &'static str,
    /// Sent only when the client's connection is HTTPS (HSTS).
    pub https_only: bool,
    /// Defaults: seed production, seed development, hardened production,
    /// hardened development. `None`: not sent.
    defaults: [Option<&'static str>; 4],
}

impl HeaderRow {
    pub fn default_for(&self, preset: Preset, env: Environment) -> Option<&'static str> {
        let column = match (preset, env) {
            (Preset::Seed, Environment::Production) => 0,
            (Preset::Seed, Environment::Development) => 1,
            (Preset::Hardened, Environment::Production) => 2,
            (Preset::Hardened, Environment::Development) => 3,
        };
        self.defaults[column]
    }
}

const fn row(
    key: &'static str,
    name: &'static str,
    defaults: [Option<&'static str>; 4],
) -> HeaderRow {
    HeaderRow {
        key,
        name,
        https_only: false,
        defaults,
    }
}

/// Sent the same way by every preset and environment.
const fn everywhere(value: &'static str) -> [Option<&'static str>; 4] {
    [Some(value); 4]
}

/// Sent by the hardened preset only.
const fn hardened(value: &'static str) -> [Option<&'static str>; 4] {
    [None, None, Some(value), Some(value)]
}

/// Every header, in the order it is sent.
pub const TABLE: &[HeaderRow] = &[
    row(
        "content_security_policy",
        "content-security-policy",
        [
            Some(CSP_PRODUCTION),
            Some(CSP_DEVELOPMENT),
            Some(CSP_HARDENED_PRODUCTION),
            Some(CSP_HARDENED_DEVELOPMENT),
        ],
    ),
    row(
        "content_security_policy_report_only",
        "content-security-policy-report-only",
        [None; 4],
    ),
    HeaderRow {
        key: "strict_transport_security",
        name: "strict-transport-security",
        https_only: true,
        defaults: [Some(HSTS_DEFAULT), None, Some(HSTS_DEFAULT), None],
    },
    row("x_frame_options", "x-frame-options", everywhere("DENY")),
    row(
        "x_content_type_options",
        "x-content-type-options",
        everywhere("nosniff"),
    ),
    row(
        "referrer_policy",
        "referrer-policy",
        everywhere("strict-origin-when-cross-origin"),
    ),
    row(
        "cross_origin_embedder_policy",
        "cross-origin-embedder-policy",
        [Some("require-corp"), None, Some("require-corp"), None],
    ),
    row(
        "cross_origin_opener_policy",
        "cross-origin-opener-policy",
        hardened("same-origin"),
    ),
    row(
        "cross_origin_resource_policy",
        "cross-origin-resource-policy",
        hardened("same-origin"),
    ),
    row(
        "permissions_policy",
        "permissions-policy",
        hardened(PERMISSIONS_POLICY_HARDENED),
    ),
    row(
        "origin_agent_cluster",
        "origin-agent-cluster",
        hardened("?1"),
    ),
    row(
        "x_dns_prefetch_control",
        "x-dns-prefetch-control",
        hardened("off"),
    ),
    row(
        "x_download_options",
        "x-download-options",
        hardened("noopen"),
    ),
    row(
        "x_permitted_cross_domain_policies",
        "x-permitted-cross-domain-policies",
        hardened("none"),
    ),
    row("x_xss_protection", "x-xss-protection", hardened("0")),
];
