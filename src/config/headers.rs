//! `[headers]` at any layer: the preset, each named header of
//! `headers::TABLE`, custom and removed headers, and the nonce settings,
//! folded from a stack. CSP values are checked like a compiler would
//! (src/csp.rs).

use http::header::{HeaderName, HeaderValue};
use toml::Spanned;

use super::layers::{Picked, Stack};
use super::problems::{Location, Validator};
use super::raw::{RawConfig, RawHeaders};
use crate::policy::csp::{self, NONCE_PLACEHOLDER};
use crate::policy::env::Environment;
use crate::policy::headers::{HeaderSettings, Preset, TABLE};

/// Headers nobody may set or strip through `[headers]`: they frame the
/// message or belong to one connection, or the gateway owns them.
fn reserved(name: &str) -> Option<&'static str> {
    match name {
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te"
        | "trailer" | "upgrade" | "content-length" | "content-encoding" | "host" => {
            Some("frames the message or belongs to one connection")
        }
        "x-request-id" => Some("is the gateway's request id"),
        "vary" => Some("is merged by the gateway's CORS handling"),
        "set-cookie" => Some("would overwrite the application's cookies"),
        _ if name.starts_with("access-control-") => {
            Some("is CORS, which the gateway owns: use [cors]")
        }
        _ => None,
    }
}

impl Validator<'_> {
    /// A value's position: the string's opening quote, moved to `offset`
    /// within it when the TOML text is a plain string (no escapes).
    pub(super) fn at_offset(&self, s: &Spanned<String>, offset: usize) -> Location {
        let span = s.span();
        let quoted = self.text_at(span.clone());
        let plain =
            quoted.len() == s.get_ref().len() + 2 && quoted[1..quoted.len() - 1] == *s.get_ref();
        self.location(if plain {
            span.start + 1 + offset
        } else {
            span.start
        })
    }

    pub fn header_settings(
        &mut self,
        env: Environment,
        stack: &Stack<'_, RawHeaders>,
    ) -> Option<HeaderSettings> {
        let before = self.count();
        let preset = self.preset(stack);
        let mut settings = HeaderSettings::defaults(env, preset);
        for (row, slot) in TABLE.iter().zip(settings.values.iter_mut()) {
            let Some(p) = stack.pick(row.key, |h| h.named(row.key)) else {
                continue;
            };
            if let Some(value) = self.table_header(row.key, &p) {
                *slot = value;
            }
        }
        self.csp_directive_tables(stack, &mut settings);
        settings.custom = self.custom_headers(stack);
        settings.remove = self.removed_headers(stack, &settings);
        self.nonce_settings(stack, &mut settings);
        (self.count() == before).then_some(settings)
    }

    /// `preset`, `seed` when unset or invalid (the invalid one is a problem).
    fn preset(&mut self, stack: &Stack<'_, RawHeaders>) -> Preset {
        let Some(p) = stack.pick("preset", |h| h.preset.as_ref()) else {
            return Preset::Seed;
        };
        Preset::parse(p.value.get_ref()).unwrap_or_else(|| {
            self.problem(
                &p.key,
                Some(p.value),
                format!(
                    "{:?} is not a preset; use \"seed\" (the default) or \"hardened\"",
                    p.value.get_ref()
                ),
            );
            Preset::Seed
        })
    }

    /// The value a table row's key sets: `Some(None)` turns the header off
    /// (`""`), `None` is a problem, recorded.
    fn table_header(
        &mut self,
        key: &str,
        p: &Picked<'_, Spanned<String>>,
    ) -> Option<Option<String>> {
        let text = p.value.get_ref().trim();
        let is_csp = key.starts_with("content_security_policy");
        if !self.header_value(&p.key, p.value) {
            return None;
        }
        if !is_csp && text.contains(NONCE_PLACEHOLDER) {
            self.problem(
                &p.key,
                Some(p.value),
                "only CSP values (and custom headers) can hold {nonce}",
            );
            return None;
        }
        if is_csp && !text.is_empty() && !self.csp_value(p, text) {
            return None;
        }
        Some((!text.is_empty()).then(|| text.to_string()))
    }

    /// Check a CSP value (`text`: the trimmed value of `p`): its warnings are
    /// passed on; false after a problem, placed at the offending token.
    fn csp_value(&mut self, p: &Picked<'_, Spanned<String>>, text: &str) -> bool {
        let offset = p.value.get_ref().len() - p.value.get_ref().trim_start().len();
        match csp::check(text) {
            Ok(checked) => {
                for w in checked.warnings {
                    self.warn(format!("{}: {w}", p.key));
                }
                true
            }
            Err(errors) => {
                for e in errors {
                    let at = self.at_offset(p.value, offset + e.offset);
                    let directive = e
                        .directive
                        .map_or(String::new(), |d| format!(" (directive {d})"));
                    self.problem_at(&p.key, at, format!("invalid CSP{directive}: {}", e.message));
                }
                false
            }
        }
    }

    /// `nonce_request_header` and `nonce_html_placeholder`.
    fn nonce_settings(&mut self, stack: &Stack<'_, RawHeaders>, settings: &mut HeaderSettings) {
        if let Some(p) = stack.pick("nonce_request_header", |h| h.nonce_request_header.as_ref()) {
            let name = p.value.get_ref().trim().to_ascii_lowercase();
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(_) if reserved(&name).is_none() => settings.nonce_request_header = name,
                _ => self.problem(
                    &p.key,
                    Some(p.value),
                    format!(
                        "{:?} is not a usable request header name",
                        p.value.get_ref()
                    ),
                ),
            }
        }
        if let Some(p) = stack.pick("nonce_html_placeholder", |h| {
            h.nonce_html_placeholder.as_ref()
        }) {
            let text = p.value.get_ref();
            if text.len() < 4 || !text.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem(
                    &p.key,
                    Some(p.value),
                    "must be at least 4 printable ASCII characters without spaces, e.g. \"__CSP_NONCE__\"",
                );
            } else {
                settings.nonce_html_placeholder = Some(text.clone());
            }
        }
        if settings.nonce_html_placeholder.is_some() && !settings.uses_nonce() {
            self.warn(format!(
                "{}: nonce_html_placeholder is set but no CSP value holds 'nonce-{{nonce}}', so nothing replaces it",
                stack.name_of_top()
            ));
        }
    }

    /// `[headers.custom]` of every layer, merged by name (a higher table
    /// wins; `""` removes a lower table's header).
    fn custom_headers(&mut self, stack: &Stack<'_, RawHeaders>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (table, raw) in stack.tables() {
            let Some(custom) = &raw.custom else { continue };
            for (name, value) in custom {
                let key = format!("{table}.custom.{name}");
                let lower = name.to_ascii_lowercase();
                if let Some(why) = not_a_custom_header(name, &lower) {
                    self.problem(&key, Some(value), why);
                    continue;
                }
                if !self.header_value(&key, value) {
                    continue;
                }
                let text = value.get_ref().trim();
                out.retain(|(n, _)| *n != lower);
                if !text.is_empty() {
                    out.push((lower, text.to_string()));
                }
            }
        }
        out
    }

    /// Whether `value`, trimmed and with `{nonce}` filled in, can be sent as
    /// a header value; a problem at `key` when not.
    pub fn header_value(&mut self, key: &str, value: &Spanned<String>) -> bool {
        let probe = value.get_ref().trim().replace(NONCE_PLACEHOLDER, "n");
        let ok = HeaderValue::from_str(&probe).is_ok();
        if !ok {
            self.problem(
                key,
                Some(value),
                "is not a valid header value (control characters or non-ASCII)",
            );
        }
        ok
    }

    /// `remove`, with `remove_x_powered_by` applied on top.
    fn removed_headers(
        &mut self,
        stack: &Stack<'_, RawHeaders>,
        settings: &HeaderSettings,
    ) -> Vec<String> {
        let mut out = match stack.pick("remove", |h| h.remove.as_ref()) {
            None => settings.remove.clone(),
            Some(p) => {
                let mut list = Vec::new();
                for (i, s) in p.value.iter().enumerate() {
                    let key = format!("{}[{i}]", p.key);
                    let lower = s.get_ref().trim().to_ascii_lowercase();
                    if HeaderName::from_bytes(lower.as_bytes()).is_err() {
                        self.problem(
                            &key,
                            Some(s),
                            format!("{:?} is not a header name", s.get_ref()),
                        );
                    } else if let Some(why) = reserved(&lower) {
                        self.problem(
                            &key,
                            Some(s),
                            format!("{} can't be removed here: it {why}", s.get_ref()),
                        );
                    } else if settings.custom.iter().any(|(n, _)| *n == lower) {
                        self.problem(
                            &key,
                            Some(s),
                            format!(
                                "{} is also a custom header here: remove it from one of the two",
                                s.get_ref()
                            ),
                        );
                    } else if !list.contains(&lower) {
                        list.push(lower);
                    }
                }
                list
            }
        };
        if let Some(p) = stack.pick("remove_x_powered_by", |h| h.remove_x_powered_by.as_ref()) {
            out.retain(|n| n != "x-powered-by");
            if *p.value {
                out.push("x-powered-by".to_string());
            }
        }
        out
    }
}

/// Every `[headers]` table of the file that sets `nonce_html_placeholder`,
/// in any environment and route (not only the running ones, so that
/// `--check` in one environment already says it), by its config key.
fn placeholder_keys(raw: &RawConfig) -> Vec<String> {
    let mut tables: Vec<(String, Option<&RawHeaders>)> =
        vec![("headers".into(), Some(&raw.headers))];
    for env in [Environment::Production, Environment::Development] {
        tables.push((format!("{env}.headers"), raw.profile(env).headers.as_ref()));
    }
    for (i, route) in raw.routes.iter().enumerate() {
        let name = route.name.get_ref();
        let table = if name.is_empty() {
            format!("route[{i}]")
        } else {
            format!("route[{name}]")
        };
        tables.push((format!("{table}.headers"), route.headers.as_ref()));
        for env in [Environment::Production, Environment::Development] {
            tables.push((
                format!("{table}.{env}.headers"),
                route.profile(env).headers.as_ref(),
            ));
        }
    }
    tables
        .into_iter()
        .filter(|(_, t)| t.is_some_and(|t| t.nonce_html_placeholder.is_some()))
        .map(|(name, _)| format!("{name}.nonce_html_placeholder"))
        .collect()
}

impl Validator<'_> {
    /// One WARN per table that uses the HTML placeholder: the gateway
    /// writes the real nonce over every copy of the placeholder in the
    /// body, including one an attacker injected (a reflected
    /// `<script nonce=__CSP_NONCE__>`), so any HTML injection that can carry
    /// the placeholder defeats the nonce.
    pub fn warn_nonce_placeholders(&mut self, raw: &RawConfig) {
        for key in placeholder_keys(raw) {
            self.warn(format!(
                "{key} is set: the gateway writes the nonce over every copy of the placeholder in HTML bodies, including one an attacker injects into the page (a reflected <script nonce=PLACEHOLDER>), so any HTML injection that can carry the placeholder defeats the nonce; prefer nonce_request_header: the application writes the nonce it receives in that request header, which an attacker cannot guess"
            ));
        }
    }
}

/// Why `name` (`lower`, lower-cased) can't be a `[headers.custom]` key.
fn not_a_custom_header(name: &str, lower: &str) -> Option<String> {
    if HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Some(format!("{name:?} is not a header name"));
    }
    if let Some(row) = TABLE.iter().find(|r| r.name == lower) {
        return Some(format!(
            "{name} has a named key: set headers.{} instead",
            row.key
        ));
    }
    reserved(lower).map(|why| format!("{name} can't be set here: it {why}"))
}
