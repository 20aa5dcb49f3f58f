//! The dashboard's "Policy suggestions" section: per route, the sources and
//! origins to add with their counts, the advice, and what was seen but not
//! suggested (and why). Every value is HTML-escaped.

use std::fmt::Write as _;

use super::escape::Html;
use super::Status;
use crate::observe::learning::suggest::{RouteSuggestions, Seen};

pub fn section(o: &mut String, s: &Status) {
    o.push_str("<h2>Policy suggestions</h2>\n");
    if !s.learning {
        o.push_str("<p class=\"empty\">Learning is off (it needs <code>[reports] enabled = true</code> or a route with CORS in report mode, and <code>[learning] enabled</code> not false).</p>\n");
        return;
    }
    o.push_str("<p>What browsers reported and CORS refused, from enough distinct client networks (<code>[learning] min_clients</code>). <code>helmgate suggest</code> prints the TOML; <code>--write</code> applies it.</p>\n");
    o.push_str("<table id=\"suggestions\"><thead><tr><th>route</th><th>table</th><th>directive</th><th>suggestion</th><th>source</th><th>reports</th><th>networks</th><th>documents</th></tr></thead><tbody>\n");
    let mut rows = 0;
    for r in &s.suggestions {
        rows += route_rows(o, r);
    }
    if rows == 0 {
        o.push_str("<tr><td colspan=\"8\" class=\"empty\">Nothing seen yet.</td></tr>\n");
    }
    o.push_str("</tbody></table>\n");
}

fn route_rows(o: &mut String, r: &RouteSuggestions) -> usize {
    let mut rows = 0;
    let mut row = |table: &str, directive: &str, what: &str, seen: &Seen| {
        rows += 1;
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"u\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Html(&r.route),
            Html(table),
            Html(directive),
            Html(what),
            Html(&seen.source),
            seen.count,
            seen.networks,
            seen.documents
        );
    };
    for c in &r.csp {
        for seen in &c.add {
            row(c.table, &c.directive, "add", seen);
        }
    }
    for seen in r.cors.iter().flat_map(|c| &c.add) {
        row("cors", "allowed_origins", "add", seen);
    }
    for a in &r.advice {
        row(a.table, &a.directive, &a.advice, &a.seen);
    }
    for n in &r.not_suggested {
        let reason = format!("not suggested: {}", n.reason);
        row(
            n.table,
            n.directive.as_deref().unwrap_or("allowed_origins"),
            &reason,
            &n.seen,
        );
    }
    rows
}
