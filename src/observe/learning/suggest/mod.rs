//! The suggestion rules, pure: from a route's learned tables and its
//! policy in force, the smallest change that would have allowed what at
//! least `min_clients` distinct client networks saw, and why everything
//! else was not suggested. Never suggested: `*`, `'unsafe-inline'`,
//! `'unsafe-eval'`, `data:`/`blob:` in a script directive, a scheme-only
//! source, a host that is a public suffix, any noise class. An inline
//! script or style gets advice (a nonce or a hash) instead.

use std::collections::BTreeMap;

use serde::Serialize;

use super::directives::{
    allows, directive_tokens, fallbacks, new_directive_value, target_directive,
};
use super::sources::{self, Noise};
use super::table::Entry;
use super::{split_csp_key, Header, RouteLearning};
use crate::policy::cors::CorsPolicy;
use crate::policy::headers::TABLE;
use crate::policy::SitePolicy;

/// Entries listed as "seen, not suggested" per route, most seen first.
pub const MAX_NOT_SUGGESTED: usize = 50;

/// What a route's policy says now, as far as suggestions need it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Current<'a> {
    /// The CSP and the Report-Only CSP in force (`None`: not sent).
    pub csp: Option<&'a str>,
    pub csp_report_only: Option<&'a str>,
    pub cors: Option<&'a CorsPolicy>,
    /// Whether the policy is known at all (no config: suggestions name the
    /// sources but not the resulting values).
    pub known: bool,
}

impl<'a> Current<'a> {
    pub fn of(site: &'a SitePolicy) -> Current<'a> {
        let value = |key: &str| {
            TABLE
                .iter()
                .position(|r| r.key == key)
                .and_then(|row| site.header_settings.values[row].as_deref())
        };
        Current {
            csp: value("content_security_policy"),
            csp_report_only: value("content_security_policy_report_only"),
            cors: Some(&site.cors),
            known: true,
        }
    }

    fn policy(&self, header: Header) -> Option<&'a str> {
        match header {
            Header::Enforce => self.csp,
            Header::ReportOnly => self.csp_report_only,
        }
    }
}

/// How often, when and from where something was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// The source expression or origin.
    pub source: String,
    pub count: u64,
    /// Seconds since the Unix epoch.
    pub first_seen: u64,
    pub last_seen: u64,
    /// Distinct documents (capped at `table::MAX_DOCUMENTS`).
    pub documents: usize,
    /// Distinct client networks (capped at `table::MAX_NETWORKS`).
    pub networks: usize,
}

impl Seen {
    fn of(source: &str, e: &Entry) -> Seen {
        Seen {
            source: source.to_string(),
            count: e.count,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
            documents: e.documents.len(),
            networks: e.networks.len(),
        }
    }
}

/// Sources to add to one directive of one CSP header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CspChange {
    /// The directive table: `csp` or `csp_report_only`.
    pub table: &'static str,
    pub directive: String,
    pub add: Vec<Seen>,
    /// Whether `'nonce-{nonce}'` is added too, for inline elements (the
    /// advice says how to mark them).
    pub nonce: bool,
    /// The directive's whole new value, when the policy is known.
    pub value: Option<String>,
}

/// Origins to add to `allowed_origins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorsChange {
    pub add: Vec<Seen>,
    /// The whole new list, when the policy is known.
    pub value: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advice {
    pub table: &'static str,
    pub directive: String,
    pub advice: String,
    pub seen: Seen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotSuggested {
    /// `csp`, `csp_report_only` or `cors`.
    pub table: &'static str,
    /// The directive, for CSP.
    pub directive: Option<String>,
    pub reason: String,
    pub seen: Seen,
}

/// Everything `helmgate suggest`, the dashboard and `/suggestions.json`
/// show for one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSuggestions {
    pub route: String,
    pub csp: Vec<CspChange>,
    pub cors: Option<CorsChange>,
    pub advice: Vec<Advice>,
    pub not_suggested: Vec<NotSuggested>,
    /// Reports and origins counted by noise class, never suggested.
    pub noise: BTreeMap<&'static str, u64>,
    /// New keys the full tables could not take.
    pub dropped: u64,
}

impl RouteSuggestions {
    /// Whether there is a change to make.
    pub fn has_changes(&self) -> bool {
        !self.csp.is_empty() || self.cors.is_some()
    }
}

pub fn table_name(header: Header) -> &'static str {
    match header {
        Header::Enforce => "csp",
        Header::ReportOnly => "csp_report_only",
    }
}

/// The suggestions for one route.
pub fn suggest(
    route: &str,
    learned: &RouteLearning,
    current: Current<'_>,
    min_clients: usize,
) -> RouteSuggestions {
    let mut out = RouteSuggestions {
        route: route.to_string(),
        csp: Vec::new(),
        cors: None,
        advice: Vec::new(),
        not_suggested: Vec::new(),
        noise: Noise::ALL
            .iter()
            .filter(|n| learned.noise[n.index()] > 0)
            .map(|n| (n.as_str(), learned.noise[n.index()]))
            .collect(),
        dropped: learned.csp.dropped.saturating_add(learned.cors.dropped),
    };
    suggest_csp(learned, current, min_clients, &mut out);
    suggest_cors(learned, current, min_clients, &mut out);
    out.not_suggested.sort_by(|a, b| {
        (b.seen.networks, b.seen.count, &a.seen.source).cmp(&(
            a.seen.networks,
            a.seen.count,
            &b.seen.source,
        ))
    });
    out.not_suggested.truncate(MAX_NOT_SUGGESTED);
    out
}

/// The learned CSP entries by (header, directive to change, source), the
/// entries of every effective directive that lands on the same one merged.
fn csp_groups(
    learned: &RouteLearning,
    current: Current<'_>,
) -> BTreeMap<(Header, String, String), Entry> {
    let mut groups: BTreeMap<(Header, String, String), Entry> = BTreeMap::new();
    for (key, entry) in learned.csp.iter() {
        let Some((directive, header, source)) = split_csp_key(key) else {
            continue;
        };
        let target = target_directive(directive, current.policy(header));
        let source = if source == "'inline'" && directive.ends_with("-attr") {
            "'inline-attr'"
        } else {
            source
        };
        let slot = groups
            .entry((header, target, source.to_string()))
            .or_default();
        if slot.count == 0 {
            *slot = entry.clone();
        } else {
            slot.merge(entry);
        }
    }
    groups
}

fn suggest_csp(
    learned: &RouteLearning,
    current: Current<'_>,
    min: usize,
    out: &mut RouteSuggestions,
) {
    let mut adds: BTreeMap<(Header, String), (Vec<Seen>, bool)> = BTreeMap::new();
    for ((header, directive, source), entry) in csp_groups(learned, current) {
        let seen = Seen::of(&source, &entry);
        let table = table_name(header);
        let policy = current.policy(header);
        if let Some(advice) = advice_for(&directive, &source) {
            if wants_nonce(policy, &directive, &source, entry.networks.len() >= min) {
                adds.entry((header, directive.clone())).or_default().1 = true;
            }
            out.advice.push(Advice {
                table,
                directive,
                advice,
                seen,
            });
            continue;
        }
        if allows(policy, &directive, &source) {
            continue;
        }
        let reason = never_reason(&directive, &source)
            .or_else(|| not_sent(current, header))
            .or_else(|| too_few(entry.networks.len(), min));
        match reason {
            Some(reason) => out.not_suggested.push(NotSuggested {
                table,
                directive: Some(directive),
                reason,
                seen,
            }),
            None => adds.entry((header, directive)).or_default().0.push(seen),
        }
    }
    for ((header, directive), (add, nonce)) in adds {
        let value = current.known.then(|| {
            let mut sources: Vec<&str> = add.iter().map(|s| s.source.as_str()).collect();
            if nonce {
                sources.push(NONCE_SOURCE);
            }
            new_directive_value(current.policy(header), &directive, &sources)
        });
        out.csp.push(CspChange {
            table: table_name(header),
            directive,
            add,
            nonce,
            value,
        });
    }
}

/// The source a nonce suggestion adds: the gateway puts a fresh nonce in
/// place of `{nonce}` on every response.
pub const NONCE_SOURCE: &str = "'nonce-{nonce}'";

/// Whether an inline script or style element, seen from enough networks,
/// calls for `'nonce-{nonce}'` in a directive that has no nonce or hash yet
/// (attributes can't carry one), and no `'unsafe-inline'` (which a nonce
/// would switch off, breaking every other inline element).
fn wants_nonce(policy: Option<&str>, directive: &str, source: &str, enough: bool) -> bool {
    let has = std::iter::once(directive)
        .chain(fallbacks(directive).iter().copied())
        .find_map(|d| directive_tokens(policy, d))
        .is_some_and(|t| {
            t.iter().any(|t| {
                t.starts_with("'nonce-")
                    || t.starts_with("'sha")
                    || t.eq_ignore_ascii_case("'unsafe-inline'")
            })
        });
    enough && source == "'inline'" && policy.is_some() && !has
}

fn suggest_cors(
    learned: &RouteLearning,
    current: Current<'_>,
    min: usize,
    out: &mut RouteSuggestions,
) {
    let mut add = Vec::new();
    for (origin, entry) in learned.cors.iter() {
        let allowed = current.cors.is_some_and(|c| {
            c.settings().allow_any_origin || c.origin_allowed(origin.as_bytes()).unwrap_or(false)
        });
        if allowed {
            continue;
        }
        let seen = Seen::of(origin, entry);
        let reason = sources::host_of(origin)
            .filter(|h| sources::is_public_suffix(h))
            .map(|h| format!("{h} is a public suffix: anyone can register a site there"))
            .or_else(|| too_few(entry.networks.len(), min));
        match reason {
            Some(reason) => out.not_suggested.push(NotSuggested {
                table: "cors",
                directive: None,
                reason,
                seen,
            }),
            None => add.push(seen),
        }
    }
    if add.is_empty() {
        return;
    }
    add.sort_by(|a, b| a.source.cmp(&b.source));
    let value = current.cors.filter(|_| current.known).map(|c| {
        let mut list: Vec<String> = c
            .settings()
            .allowed_origins
            .iter()
            .map(|o| o.as_str().to_string())
            .collect();
        list.extend(add.iter().map(|s| s.source.clone()));
        list
    });
    out.cors = Some(CorsChange { add, value });
}

/// Reports about a header the route does not send (a forged report, or one
/// from before a reload): a suggestion would add a policy, not widen one.
fn not_sent(current: Current<'_>, header: Header) -> Option<String> {
    (current.known && current.policy(header).is_none()).then(|| {
        format!(
            "the route sends no {} now: nothing to widen",
            match header {
                Header::Enforce => "Content-Security-Policy",
                Header::ReportOnly => "Content-Security-Policy-Report-Only",
            }
        )
    })
}

fn too_few(networks: usize, min: usize) -> Option<String> {
    (networks < min)
        .then(|| format!("seen from {networks} client network(s), fewer than min_clients = {min}"))
}

/// Directives where a `data:` or `blob:` source can run script (plugins in
/// `object-src` included).
fn is_script(directive: &str) -> bool {
    directive.starts_with("script-src")
        || matches!(directive, "worker-src" | "default-src" | "object-src")
}

/// Advice instead of `'unsafe-inline'`.
fn advice_for(directive: &str, source: &str) -> Option<String> {
    let what = if directive.starts_with("style-src") {
        "style"
    } else {
        "script"
    };
    match source {
        "'inline'" => Some(format!(
            "an inline {what} was blocked: give it the response's nonce ('nonce-{{nonce}}' in {directive}, suggested with the change when seen from enough networks, and nonce=\"...\" on the element: [headers] nonce_html_placeholder fills it in HTML, or the app reads the X-CSP-Nonce request header) or allow its hash ('sha256-...'); 'unsafe-inline' is never suggested"
        )),
        "'inline-attr'" => Some(format!(
            "an inline {what} attribute (onclick=, style=) was blocked: move it to a file or addEventListener (a nonce can't mark an attribute); 'unsafe-inline' is never suggested"
        )),
        _ => None,
    }
}

/// Why a source is never suggested, whoever saw it.
fn never_reason(directive: &str, source: &str) -> Option<String> {
    if directive == "default-src" {
        // An older browser names the directive it fell back to: the kind of
        // load is unknown, and widening default-src widens every kind.
        return Some(format!("reported against default-src itself, so the kind of load is unknown: allow {source} in the directive for its kind (script-src, img-src, ...) by hand"));
    }
    match source {
        "'eval'" => return Some("'unsafe-eval' is never suggested: replace eval(), new Function() and string timers in the code".into()),
        "data:" | "blob:" if is_script(directive) => {
            return Some(format!("{source} in {directive} lets any injected markup run script: never suggested"))
        }
        "*" => return Some("* is never suggested".into()),
        _ => {}
    }
    if matches!(source, "http:" | "https:" | "ws:" | "wss:") {
        return Some(format!(
            "{source} is a scheme-only source (any host): never suggested"
        ));
    }
    let host = sources::host_of(source)?;
    sources::is_public_suffix(host)
        .then(|| format!("{host} is a public suffix: anyone can register a site there"))
}

#[cfg(test)]
mod tests;
