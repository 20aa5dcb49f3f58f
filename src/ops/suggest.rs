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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

use crate::config::{self, Overrides};
use crate::observe::learning::suggest::{self, CspChange, Current, RouteSuggestions, Seen};
use crate::observe::learning::{persist, RouteLearning};
use crate::ops::healthcheck::Target;
use crate::policy::env::EnvVars;
use crate::policy::{csp, Policy};

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

/// One change as it lands in the file: the table (as the user reads it),
/// the key and the value.
#[derive(Debug, Clone, PartialEq)]
struct Edit {
    /// Path of keys from the site's table, e.g. `["headers", "csp"]`.
    table: Vec<String>,
    key: String,
    value: EditValue,
}

#[derive(Debug, Clone, PartialEq)]
enum EditValue {
    Text(String),
    /// The whole list, and the entries to append to a list already there.
    List(Vec<String>, Vec<String>),
}

/// A CSP string key's text, the directive changes to make in it, and what
/// they were seen as.
type StringEdit = (String, Vec<(String, Option<String>)>, Vec<Seen>);

/// Where the edits of each route go in the main config file.
struct Plan {
    doc: DocumentMut,
    path: PathBuf,
    has_include: bool,
    env: &'static str,
}

impl Plan {
    fn new(path: &Path, policy: &Policy) -> Result<Plan, String> {
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
    fn site_position(doc: &DocumentMut, route: &str) -> Option<Option<usize>> {
        if route == config::DEFAULT_NAME {
            return Some(None);
        }
        let routes = doc.get("route")?.as_array_of_tables()?;
        let name = |t: &Table| t.get("name").and_then(Item::as_str) == Some(route);
        routes.iter().position(name).map(Some)
    }

    /// The site's own table in the document: the root, or its `[[route]]`.
    fn site<'d>(doc: &'d DocumentMut, route: &str) -> Option<&'d Table> {
        match Plan::site_position(doc, route)? {
            None => Some(doc.as_table()),
            Some(i) => doc.get("route")?.as_array_of_tables()?.get(i),
        }
    }

    fn site_mut<'d>(doc: &'d mut DocumentMut, route: &str) -> Option<&'d mut Table> {
        match Plan::site_position(doc, route)? {
            None => Some(doc.as_table_mut()),
            Some(i) => doc.get_mut("route")?.as_array_of_tables_mut()?.get_mut(i),
        }
    }

    /// The layers of `section` (`cors`, `headers`) a site may set, most
    /// specific first: `ENV.section`, then `section`.
    fn layers(&self, section: &str) -> [Vec<String>; 2] {
        [
            vec![self.env.to_string(), section.to_string()],
            vec![section.to_string()],
        ]
    }

    /// The layer to edit: the most specific one of the site's where `has`
    /// finds the key; else, when the value is inherited from the top
    /// level's table for this environment, the site's table for it (a
    /// development origin must not reach production); else the plain one.
    fn layer(
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
    fn edits(&self, s: &RouteSuggestions, policy: &Policy) -> Vec<(Edit, Vec<Seen>)> {
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
    fn csp_edits(&self, s: &RouteSuggestions) -> Vec<(Edit, Vec<Seen>)> {
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
    fn write(
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
        write_atomically(target, text.as_bytes(), mode)
            .map_err(|e| format!("--write {}: {e}", target.display()))?;
        Ok(count)
    }
}

/// The comment line of a nonce added for inline elements: what the advice
/// for them saw.
fn nonce_seen(s: &RouteSuggestions, c: &CspChange) -> Option<Seen> {
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

fn string_key(table: &str) -> &'static str {
    match table {
        "csp" => "content_security_policy",
        _ => "content_security_policy_report_only",
    }
}

/// The table at `path` under the site's, written as a `[table]` or inline
/// (`cors = { ... }`).
fn table_at<'t>(site: &'t Table, path: &[String]) -> Option<&'t dyn TableLike> {
    let mut t: &dyn TableLike = site;
    for k in path {
        t = t.get(k)?.as_table_like()?;
    }
    Some(t)
}

/// Set one edit in the site's table, making the tables on the way.
fn apply(site: &mut Table, e: &Edit) {
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

/// Replace `path` with `bytes` atomically. Through a symlink its target is
/// replaced (the link stays); the file keeps its mode, and a new one gets
/// `mode_of_new` (the config's own: it may hold the admin token). The
/// temporary file is made new (`O_EXCL`), never followed through a link.
fn write_atomically(path: &Path, bytes: &[u8], mode_of_new: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mode = std::fs::metadata(&target).map_or(mode_of_new, |m| m.permissions().mode());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".helmgate-suggest-{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The table as a TOML header, from the site's table.
fn header(route: &str, table: &[String]) -> String {
    let path = table.join(".");
    if route == config::DEFAULT_NAME {
        format!("[{path}]")
    } else {
        format!("[route.{path}] of the [[route]] with name = \"{route}\"")
    }
}

/// A TOML value as the file would hold it.
fn toml_text(v: &EditValue) -> String {
    match v {
        EditValue::Text(t) => Value::from(t.as_str()).to_string().trim().to_string(),
        EditValue::List(whole, _) => whole
            .iter()
            .map(String::as_str)
            .collect::<Array>()
            .to_string(),
    }
}

fn when(secs: u64) -> String {
    // A forged state may say any time; the year 9999 is the latest written.
    let secs = secs.min(253_402_300_799);
    crate::ops::dashboard::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

fn seen_line(s: &Seen) -> String {
    format!(
        "#   {}: {} report(s) from {} client network(s), {} document(s), first seen {}, last seen {}",
        s.source, s.count, s.networks, s.documents, when(s.first_seen), when(s.last_seen)
    )
}

/// The text `helmgate suggest` prints.
fn render(all: &[RouteSuggestions], plan: Option<(&Plan, &Policy)>) -> String {
    let mut o = String::new();
    for s in all {
        render_route(&mut o, s, plan);
    }
    if o.is_empty() {
        o.push_str("# nothing learned yet\n");
    }
    o
}

fn render_route(o: &mut String, s: &RouteSuggestions, plan: Option<(&Plan, &Policy)>) {
    let _ = writeln!(o, "# route \"{}\"", s.route);
    if !s.has_changes() {
        let _ = writeln!(o, "# no change to suggest");
    }
    render_changes(o, s, plan);
    for a in &s.advice {
        let _ = writeln!(
            o,
            "# advice for {} in {} ([{}]): {}",
            a.seen.source, a.directive, a.table, a.advice
        );
        let _ = writeln!(o, "{}", seen_line(&a.seen));
    }
    if !s.not_suggested.is_empty() {
        let _ = writeln!(o, "# seen, not suggested, because:");
        for n in &s.not_suggested {
            let what = n.directive.as_deref().unwrap_or("allowed_origins");
            let _ = writeln!(
                o,
                "#   {} {} {}: {}",
                n.table, what, n.seen.source, n.reason
            );
        }
    }
    if !s.noise.is_empty() {
        let noise: Vec<String> = s.noise.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "# noise, never suggested: {}", noise.join(", "));
    }
    o.push('\n');
}

fn render_changes(o: &mut String, s: &RouteSuggestions, plan: Option<(&Plan, &Policy)>) {
    let Some((plan, policy)) = plan else {
        return render_unplanned(o, s);
    };
    for (e, seen) in plan.edits(s, policy) {
        let _ = writeln!(o, "# in {}:", header(&s.route, &e.table));
        for x in &seen {
            let _ = writeln!(o, "{}", seen_line(x));
        }
        let _ = writeln!(o, "{} = {}", e.key, toml_text(&e.value));
    }
}

/// Without a config: the sources, per directive, as they were seen.
fn render_unplanned(o: &mut String, s: &RouteSuggestions) {
    for c in &s.csp {
        let table = header(&s.route, &["headers".into(), c.table.into()]);
        let nonce = if c.nonce {
            format!(" (and {} for the inline elements)", suggest::NONCE_SOURCE)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "# add to {} in {table}{nonce}, beside the sources it has (pass --config for the whole line):",
            c.directive
        );
        for seen in &c.add {
            let _ = writeln!(o, "{}", seen_line(seen));
        }
    }
    if let Some(c) = &s.cors {
        let table = header(&s.route, &["cors".into()]);
        let _ = writeln!(
            o,
            "# add to allowed_origins in {table} (pass --config for the whole line):"
        );
        for seen in &c.add {
            let _ = writeln!(o, "{}", seen_line(seen));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
