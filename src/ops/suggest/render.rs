//! The text `helmgate suggest` prints: per route, the lines to add and the
//! table they go in, with what was seen as comments.

use std::fmt::Write as _;
use std::time::Duration;

use toml_edit::{Array, Value};

use super::plan::{EditValue, Plan};
use crate::config;
use crate::observe::learning::suggest::{self, RouteSuggestions, Seen};
use crate::policy::Policy;

/// The table as a TOML header, from the site's table.
pub(super) fn header(route: &str, table: &[String]) -> String {
    let path = table.join(".");
    if route == config::DEFAULT_NAME {
        format!("[{path}]")
    } else {
        format!("[route.{path}] of the [[route]] with name = \"{route}\"")
    }
}

/// A TOML value as the file would hold it.
pub(super) fn toml_text(v: &EditValue) -> String {
    match v {
        EditValue::Text(t) => Value::from(t.as_str()).to_string().trim().to_string(),
        EditValue::List(whole, _) => whole
            .iter()
            .map(String::as_str)
            .collect::<Array>()
            .to_string(),
    }
}

pub(super) fn when(secs: u64) -> String {
    // A forged state may say any time; the year 9999 is the latest written.
    let secs = secs.min(253_402_300_799);
    crate::ops::dashboard::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

pub(super) fn seen_line(s: &Seen) -> String {
    format!(
        "#   {}: {} report(s) from {} client network(s), {} document(s), first seen {}, last seen {}",
        s.source, s.count, s.networks, s.documents, when(s.first_seen), when(s.last_seen)
    )
}

/// The text `helmgate suggest` prints.
pub(super) fn render(all: &[RouteSuggestions], plan: Option<(&Plan, &Policy)>) -> String {
    let mut o = String::new();
    for s in all {
        render_route(&mut o, s, plan);
    }
    if o.is_empty() {
        o.push_str("# nothing learned yet\n");
    }
    o
}

pub(super) fn render_route(o: &mut String, s: &RouteSuggestions, plan: Option<(&Plan, &Policy)>) {
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

pub(super) fn render_changes(o: &mut String, s: &RouteSuggestions, plan: Option<(&Plan, &Policy)>) {
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
pub(super) fn render_unplanned(o: &mut String, s: &RouteSuggestions) {
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
