//! `[headers.csp]` and `[headers.csp_report_only]`: CSP directives layered
//! one by one over the policy below them (the preset's, or a string key's),
//! through every layer (top level, environment, route, route environment),
//! the way helmet's `useDefaults` merges directives over its defaults. A
//! string key (`content_security_policy`) still replaces the whole policy,
//! directive tables below it included.

use std::collections::BTreeMap;

use toml::Spanned;

use super::layers::Stack;
use super::problems::Validator;
use super::raw::RawHeaders;
use super::structure::suggestion;
use crate::policy::csp;
use crate::policy::headers::{HeaderSettings, TABLE};

/// The CSP keys that take a directive table, with the table's key.
const CSP_TABLES: [(&str, &str); 2] = [
    ("content_security_policy", "csp"),
    ("content_security_policy_report_only", "csp_report_only"),
];

/// Directives written without a value take this one in a directive table.
const NO_VALUE: &str = "on";

/// One directive table's changes: a directive set or dropped (`None`).
type Changes = Vec<(String, Option<String>)>;

impl Validator<'_> {
    /// Apply every layer's directive tables over the policy the string keys
    /// chose; each table is checked whether or not it is applied.
    pub fn csp_directive_tables(
        &mut self,
        stack: &Stack<'_, RawHeaders>,
        settings: &mut HeaderSettings,
    ) {
        for (key, table) in CSP_TABLES {
            let Some(row) = TABLE.iter().position(|r| r.key == key) else {
                continue;
            };
            // A string key replaces everything below it.
            let base = stack.pick(key, |h| h.named(key)).map_or(0, |p| p.layer);
            let mut value = settings.values[row].clone();
            let mut names = Vec::new();
            for (layer, (name, raw)) in stack.tables().enumerate() {
                let Some(directives) = raw.directives(key) else {
                    continue;
                };
                let at = format!("{name}.{table}");
                if raw.named(key).is_some() {
                    self.problem(
                        &at,
                        directives.values().next(),
                        format!("set either {name}.{key} (the whole policy) or [{at}] (directives over the policy below), not both in one table"),
                    );
                    continue;
                }
                let changes = self.directive_changes(&at, directives);
                if let Some(changes) = changes.filter(|_| layer >= base) {
                    value = csp::with_directives(value.as_deref(), &changes);
                }
                names.push(at);
            }
            if !names.is_empty() {
                let top = stack.name_of_top().to_string();
                self.effective_policy(key, &names, &top, value.as_deref());
                settings.values[row] = value;
            }
        }
    }

    /// The warnings of a policy directive tables built, or the WARN that
    /// they do nothing because the header is not sent.
    fn effective_policy(&mut self, key: &str, tables: &[String], top: &str, value: Option<&str>) {
        let names = tables.join(", ");
        match value {
            None => self.warn(format!(
                "{names}: under {top}, {key} ends up not sent (\"\" or every directive dropped), so these directives do nothing there"
            )),
            Some(policy) => {
                for w in csp::check(policy).map(|c| c.warnings).unwrap_or_default() {
                    self.warn(format!("{names}: {w}"));
                }
            }
        }
    }

    /// A directive table's changes, each checked like a CSP value; `None`
    /// when one is wrong (each problem recorded).
    fn directive_changes(
        &mut self,
        at: &str,
        directives: &BTreeMap<String, Spanned<String>>,
    ) -> Option<Changes> {
        let before = self.count();
        let mut changes = Vec::new();
        for (name, value) in directives {
            let key = format!("{at}.{name}");
            let lower = name.to_ascii_lowercase();
            if !csp::is_directive(&lower) {
                let hint = suggestion(&lower, csp::DIRECTIVES)
                    .map_or(String::new(), |d| format!("; did you mean \"{d}\"?"));
                self.problem(
                    &key,
                    Some(value),
                    format!("{name:?} is not a CSP directive{hint}"),
                );
                continue;
            }
            let text = value.get_ref().trim();
            if text.is_empty() {
                changes.push((lower, None));
                continue;
            }
            if self.directive_value(&key, &lower, value) {
                let text = if text == NO_VALUE { "" } else { text };
                changes.push((lower, Some(text.to_string())));
            }
        }
        (self.count() == before).then_some(changes)
    }

    /// One directive's value, checked as the policy `name value` would be;
    /// each problem placed at its token.
    fn directive_value(&mut self, key: &str, name: &str, value: &Spanned<String>) -> bool {
        let raw = value.get_ref();
        let text = raw.trim();
        if !self.header_value(key, value) {
            return false;
        }
        let no_value = matches!(
            name,
            "upgrade-insecure-requests" | "block-all-mixed-content"
        );
        if no_value && text == NO_VALUE {
            return true;
        }
        let Err(errors) = csp::check(&format!("{name} {text}")) else {
            return true;
        };
        let lead = raw.len() - raw.trim_start().len();
        for e in errors {
            let offset = e.offset.saturating_sub(name.len() + 1) + lead;
            let at = self.at_offset(value, offset);
            let hint = if no_value {
                format!(" (in a directive table, write {name} = \"{NO_VALUE}\")")
            } else {
                String::new()
            };
            self.problem_at(key, at, format!("invalid CSP: {}{hint}", e.message));
        }
        false
    }
}
