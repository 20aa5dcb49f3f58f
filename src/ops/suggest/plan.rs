//! Where each suggested change lands in the config document (toml_edit),
//! applying it, and writing the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

use crate::config::{self, Overrides};
use crate::observe::learning::suggest::{self, CspChange, RouteSuggestions, Seen};
use crate::policy::env::EnvVars;
use crate::policy::{csp, Policy};

/// One change as it lands in the file: the table (as the user reads it),
/// the key and the value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edit {
    /// Path of keys from the site's table, e.g. `["headers", "csp"]`.
    pub(super) table: Vec<String>,
    pub(super) key: String,
    pub(super) value: EditValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum EditValue {
    Text(String),
    /// The whole list, and the entries to append to a list already there.
    List(Vec<String>, Vec<String>),
}

/// A CSP string key's text, the directive changes to make in it, and what
/// they were seen as.
pub(super) type StringEdit = (String, Vec<(String, Option<String>)>, Vec<Seen>);

/// Where the edits of each route go in the main config file.
pub(super) struct Plan {
    doc: DocumentMut,
    path: PathBuf,
    has_include: bool,
    env: &'static str,
}

impl Plan {
    pub(super) fn new(path: &Path, policy: &Policy) -> Result<Plan, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: DocumentMut = text
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let has_include = doc.get("include").is_some();
        Ok(Plan {
            doc,
            path: path.to_path_buf(),
            has_include,
            env: policy.environment.as_str(),
        })
    }

    /// Where the site's own table is in the document: the root (`None`),
    /// or the index of its `[[route]]`; `None` outside when it has none.
    pub(super) fn site_position(doc: &DocumentMut, route: &str) -> Option<Option<usize>> {
        if route == config::DEFAULT_NAME {
            return Some(None);
        }
        let routes = doc.get("route")?.as_array_of_tables()?;
        let name = |t: &Table| t.get("name").and_then(Item::as_str) == Some(route);
        routes.iter().position(name).map(Some)
    }

    /// The site's own table in the document: the root, or its `[[route]]`.
    pub(super) fn site<'d>(doc: &'d DocumentMut, route: &str) -> Option<&'d Table> {
        match Plan::site_position(doc, route)? {
            None => Some(doc.as_table()),
            Some(i) => doc.get("route")?.as_array_of_tables()?.get(i),
        }
    }

    pub(super) fn site_mut<'d>(doc: &'d mut DocumentMut, route: &str) -> Option<&'d mut Table> {
        match Plan::site_position(doc, route)? {
            None => Some(doc.as_table_mut()),
            Some(i) => doc.get_mut("route")?.as_array_of_tables_mut()?.get_mut(i),
        }
    }

    /// The layers of `section` (`cors`, `headers`) a site may set, most
    /// specific first: `ENV.section`, then `section`.
    pub(super) fn layers(&self, section: &str) -> [Vec<String>; 2] {
        [
            vec![self.env.to_string(), section.to_string()],
            vec![section.to_string()],
        ]
    }

    /// The layer to edit: the most specific one of the site's where `has`
    /// finds the key; else, when the value is inherited from the top
    /// level's table for this environment, the site's table for it (a
    /// development origin must not reach production); else the plain one.
    pub(super) fn layer(
        &self,
        route: &str,
        section: &str,
        has: impl Fn(&dyn TableLike) -> bool,
    ) -> Vec<String> {
        let [specific, plain] = self.layers(section);
        let found = Plan::site(&self.doc, route).and_then(|site| {
            [&specific, &plain]
                .into_iter()
                .find(|path| table_at(site, path).is_some_and(&has))
                .cloned()
        });
        found.unwrap_or_else(|| {
            let per_environment = table_at(self.doc.as_table(), &specific).is_some_and(&has);
            if per_environment {
                specific
            } else {
                plain
            }
        })
    }

    /// The edits that apply one route's suggestions.
    pub(super) fn edits(&self, s: &RouteSuggestions, policy: &Policy) -> Vec<(Edit, Vec<Seen>)> {
        let mut edits = self.csp_edits(s);
        let site = policy.sites.iter().find(|x| *x.name == *s.route);
        if let (Some(c), Some(_)) = (&s.cors, site) {
            let layer = self.layer(&s.route, "cors", |t| t.contains_key("allowed_origins"));
            let whole = c.value.clone().unwrap_or_default();
            let new: Vec<String> = c.add.iter().map(|x| x.source.clone()).collect();
            let e = Edit {
                table: layer,
                key: "allowed_origins".into(),
                value: EditValue::List(whole, new),
            };
            edits.push((e, c.add.clone()));
        }
        edits
    }

    /// The CSP edits: a directive table's key each, or, where the layer
    /// holds the policy as a string, one rewrite of that string.
    pub(super) fn csp_edits(&self, s: &RouteSuggestions) -> Vec<(Edit, Vec<Seen>)> {
        let mut edits = Vec::new();
        let mut strings: BTreeMap<(Vec<String>, &str), StringEdit> = BTreeMap::new();
        for c in &s.csp {
            let Some(value) = &c.value else { continue };
            let mut seen = c.add.clone();
            if c.nonce {
                seen.extend(nonce_seen(s, c));
            }
            let key = string_key(c.table);
            let layer = self.layer(&s.route, "headers", |t| {
                t.contains_key(key) || t.contains_key(c.table)
            });
            let string = Plan::site(&self.doc, &s.route)
                .and_then(|site| table_at(site, &layer))
                .and_then(|t| t.get(key))
                .and_then(Item::as_str)
                .map(str::to_string);
            match string {
                Some(text) => {
                    let slot = strings
                        .entry((layer, key))
                        .or_insert_with(|| (text, Vec::new(), Vec::new()));
                    slot.1.push((c.directive.clone(), Some(value.clone())));
                    slot.2.extend(seen);
                }
                None => {
                    let mut table = layer;
                    table.push(c.table.to_string());
                    let e = Edit {
                        table,
                        key: c.directive.clone(),
                        value: EditValue::Text(value.clone()),
                    };
                    edits.push((e, seen));
                }
            }
        }
        for ((table, key), (text, changes, seen)) in strings {
            let text = csp::with_directives(Some(&text), &changes).unwrap_or_default();
            let e = Edit {
                table,
                key: key.into(),
                value: EditValue::Text(text),
            };
            edits.push((e, seen));
        }
        edits
    }

    /// Apply every route's edits and write `target`, which must pass
    /// `--check`; nothing is written otherwise.
    pub(super) fn write(
        mut self,
        all: &[RouteSuggestions],
        policy: &Policy,
        target: &Path,
        overrides: Overrides,
        vars: &EnvVars,
    ) -> Result<usize, String> {
        let same_dir = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        if self.has_include && same_dir(target) != same_dir(&self.path) {
            return Err(format!("--write {}: {} uses include = [...], which is read relative to its directory; write into the same directory (or edit the included files by hand with the lines above)", target.display(), self.path.display()));
        }
        let mut count = 0;
        for s in all {
            for (e, _) in self.edits(s, policy) {
                let Some(site) = Plan::site_mut(&mut self.doc, &s.route) else {
                    return Err(format!("route {:?} is not defined in {} (an included file?): add the lines above there by hand", s.route, self.path.display()));
                };
                apply(site, &e);
                count += 1;
            }
        }
        if count == 0 && target == self.path {
            return Ok(0);
        }
        let text = self.doc.to_string();
        config::load_str(&text, target, overrides, vars).map_err(|e| {
            format!("the config with the suggestions applied does not pass --check, so nothing was written: {e}")
        })?;
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&self.path).map_or(0o600, |m| m.permissions().mode())
        };
        write_config(target, text.as_bytes(), mode)
            .map_err(|e| format!("--write {}: {e}", target.display()))?;
        Ok(count)
    }
}

/// The comment line of a nonce added for inline elements: what the advice
/// for them saw.
pub(super) fn nonce_seen(s: &RouteSuggestions, c: &CspChange) -> Option<Seen> {
    let advice = s.advice.iter().find(|a| {
        a.table == c.table && a.directive == c.directive && a.seen.source == "'inline'"
    })?;
    Some(Seen {
        source: format!(
            "{} for the inline elements (see the advice)",
            suggest::NONCE_SOURCE
        ),
        ..advice.seen.clone()
    })
}

pub(super) fn string_key(table: &str) -> &'static str {
    match table {
        "csp" => "content_security_policy",
        _ => "content_security_policy_report_only",
    }
}

/// The table at `path` under the site's, written as a `[table]` or inline
/// (`cors = { ... }`).
pub(super) fn table_at<'t>(site: &'t Table, path: &[String]) -> Option<&'t dyn TableLike> {
    let mut t: &dyn TableLike = site;
    for k in path {
        t = t.get(k)?.as_table_like()?;
    }
    Some(t)
}

/// Set one edit in the site's table, making the tables on the way.
pub(super) fn apply(site: &mut Table, e: &Edit) {
    let mut t = site;
    for k in &e.table {
        let item = t.entry(k).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(true);
            Item::Table(new)
        });
        if let Some(inline) = item.as_inline_table() {
            // `cors = { ... }` becomes `[route.cors]` with the same keys, so
            // the new key can go beside them.
            *item = Item::Table(inline.clone().into_table());
            if let Some(mut key) = t.key_mut(k) {
                key.fmt();
            }
        }
        let Some(item) = t.get_mut(k) else {
            return;
        };
        let Some(next) = item.as_table_mut() else {
            return;
        };
        t = next;
    }
    match &e.value {
        EditValue::Text(v) => match t.get_mut(&e.key).and_then(Item::as_value_mut) {
            // In place: the key's comments and the value's trailing one stay.
            Some(old) => {
                let decor = old.decor().clone();
                *old = Value::from(v.as_str());
                *old.decor_mut() = decor;
            }
            None => {
                t.insert(&e.key, toml_edit::value(v.as_str()));
            }
        },
        EditValue::List(whole, new) => match t.get_mut(&e.key).and_then(Item::as_array_mut) {
            Some(list) => {
                for n in new {
                    list.push(n.as_str());
                }
            }
            None => {
                t.insert(
                    &e.key,
                    toml_edit::value(whole.iter().map(String::as_str).collect::<Array>()),
                );
            }
        },
    }
}

/// Replace `path` with `bytes`. Through a symlink its target is replaced
/// (the link stays); the file keeps its mode, and a new one gets
/// `mode_of_new` (the config's own: it may hold the admin token).
pub(super) fn write_config(path: &Path, bytes: &[u8], mode_of_new: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mode = std::fs::metadata(&target).map_or(mode_of_new, |m| m.permissions().mode());
    crate::ops::files::replace(&target, bytes, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::suggest::render::header;

    fn edit(table: &[&str], key: &str, value: EditValue) -> Edit {
        Edit {
            table: table.iter().map(|s| s.to_string()).collect(),
            key: key.into(),
            value,
        }
    }

    #[test]
    fn a_list_already_there_is_appended_to_and_keeps_its_comments() {
        let mut doc: DocumentMut =
            "[cors]\n# partners\nallowed_origins = [\"https://a.example\"] # ours\n"
                .parse()
                .unwrap();
        let list = EditValue::List(
            vec!["https://a.example".into(), "https://b.example".into()],
            vec!["https://b.example".into()],
        );
        apply(
            doc.as_table_mut(),
            &edit(&["cors"], "allowed_origins", list),
        );
        let text = doc.to_string();
        assert!(text.contains("# partners"), "{text}");
        assert!(text.contains("# ours"), "{text}");
        assert!(
            text.contains("\"https://a.example\", \"https://b.example\""),
            "{text}"
        );
    }

    #[test]
    fn missing_tables_are_made_and_values_are_quoted() {
        let mut doc: DocumentMut = "[server]\nlisten = []\n".parse().unwrap();
        let value = EditValue::Text("'self' https://cdn.example".into());
        apply(
            doc.as_table_mut(),
            &edit(&["headers", "csp"], "script-src", value),
        );
        let text = doc.to_string();
        assert!(
            text.contains("[headers.csp]\nscript-src = \"'self' https://cdn.example\""),
            "{text}"
        );
        assert!(!text.contains("[headers]\n"), "{text}");
        assert_eq!(
            header("default", &["headers".into(), "csp".into()]),
            "[headers.csp]"
        );
        assert_eq!(
            header("api", &["cors".into()]),
            "[route.cors] of the [[route]] with name = \"api\""
        );
    }
}
