//! The dashboard page: one self-contained HTML document rendered from a
//! [`Status`], its inline style and script allowed by hash in its own CSP,
//! every client-supplied value escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::UNIX_EPOCH;

use base64::Engine as _;

use super::escape::Html;
use super::{rfc3339, ReportRow, RouteStatus, Status, Timeline};
use crate::policy::cors::RejectReason;

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
.meta{color:#555;margin:0}.bad{color:#b3261e;font-weight:600}.ok{color:#1b7f3b}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:4px}
th,td{border:1px solid #dde1e6;padding:3px 6px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef0f3;font-weight:600}
.mode-report{color:#8a5a00;font-weight:600}.mode-enforce{color:#1b7f3b;font-weight:600}
.two{display:flex;gap:16px;flex-wrap:wrap}.two>div{flex:1 1 400px;min-width:0}
.u{word-break:break-all}.empty{color:#777}
svg{background:#fff;border:1px solid #dde1e6;max-width:100%;height:auto}
footer{color:#666;margin-top:16px}
";

const SCRIPT: &str = "
(function () {
  'use strict';
  var every = 3000;
  function refresh() {
    fetch(location.pathname, { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
        var live = document.getElementById('live');
        if (next && live) { live.replaceWith(document.importNode(next, true)); }
      })
      .catch(function () {})
      .then(function () { setTimeout(refresh, every); });
  }
  document.documentElement.setAttribute('data-refresh', String(every));
  setTimeout(refresh, every);
})();
";

fn sha256_source(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The dashboard's own CSP: nothing but its inline style and script (by
/// hash), fetches of itself, and `data:` images (its icon).
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256_source(STYLE),
        sha256_source(SCRIPT)
    )
});

/// A number cell that names the Prometheus series it shows.
fn metric_cell(out: &mut String, series: &str, value: u64) {
    let _ = write!(
        out,
        "<td class=\"n\" data-metric=\"{}\">{value}</td>",
        Html(series)
    );
}

pub fn html(s: &Status) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>helmgate dashboard</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\n<body><main id=\"live\">\n"
    );
    header(&mut o, s);
    routes_table(&mut o, s);
    refusals_table(&mut o, s);
    fetch_metadata_table(&mut o, s);
    reports_table(&mut o, s);
    o.push_str("<h2>Last hour, per minute</h2>\n");
    chart(&mut o, &s.timeline);
    top_tables(&mut o, s);
    super::suggestions::section(&mut o, s);
    recent_table(&mut o, s);
    certificates_table(&mut o, s);
    let _ = write!(
        o,
        "<footer>Generated {} UTC. With JavaScript on, this page refreshes itself every 3 s. Data for scripts: <a href=\"/status.json\">/status.json</a>, <a href=\"/suggestions.json\">/suggestions.json</a>; Prometheus: <a href=\"/metrics\">/metrics</a>.</footer>\n</main><script>{SCRIPT}</script></body></html>\n",
        Html(&s.generated_at)
    );
    o
}

fn header(o: &mut String, s: &Status) {
    let _ = write!(
        o,
        "<h1>helmgate {}</h1>\n<p class=\"meta\">Environment <b id=\"environment\">{}</b> (from {}). Config <code>{}</code> loaded at {} UTC. ",
        Html(s.version),
        Html(s.environment),
        Html(&s.environment_source),
        Html(&s.config_path),
        Html(&s.config_loaded_at),
    );
    match &s.last_reload {
        None => o.push_str("No reload since start."),
        Some(r) if r.ok => {
            let _ = write!(
                o,
                "Last reload <span class=\"ok\">ok</span> at {} UTC.",
                Html(&r.at)
            );
        }
        Some(r) => {
            let _ = write!(
                o,
                "Last reload <span class=\"bad\">failed</span> at {} UTC, the running config was kept: <code>{}</code>",
                Html(&r.at),
                Html(r.error.as_deref().unwrap_or(""))
            );
        }
    }
    let r = &s.reports;
    if r.enabled {
        let posts = |k: &str| r.posts.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            " Violation reports: on, at <code>{}</code> (at most {} bytes, {} a minute in all, {} a minute per client). POSTs: <span id=\"reports-accepted\">{}</span> accepted; refused over the global rate <span id=\"reports-global-rate\">{}</span>, over a client's rate <span id=\"reports-client-rate\">{}</span>, too large {}, invalid {}.</p>",
            Html(&r.path),
            r.max_body_bytes,
            r.per_minute,
            r.per_client_per_minute,
            posts("accepted"),
            posts("rate_limited"),
            posts("client_rate_limited"),
            posts("too_large"),
            posts("invalid"),
        );
    } else {
        o.push_str(
            " Violation reports: off (<code>[reports] enabled = true</code> turns them on).</p>\n",
        );
    }
}

/// A row's start: the route's name and a mode (`enforce`, `report`, ...);
/// `live` marks the CORS mode cell the page's script updates.
fn route_and_mode_cells(o: &mut String, route: &str, mode: &str, live: bool) {
    let name = Html(route);
    let _ = write!(o, "<tr><td>{name}</td><td class=\"mode-{mode}\"");
    if live {
        let _ = write!(o, " data-mode-of=\"{name}\"");
    }
    let _ = write!(o, ">{mode}</td>");
}

fn routes_table(o: &mut String, s: &Status) {
    o.push_str("<h2>Routes</h2>\n<table><thead><tr><th>route</th><th>CORS mode</th><th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>preflights</th><th>blocked</th><th>would block</th><th>reports</th></tr></thead><tbody>\n");
    for r in &s.routes {
        route_and_mode_cells(o, &r.name, r.cors_mode, true);
        for (class, n) in &r.requests {
            metric_cell(
                o,
                &format!(
                    "helmgate_requests_total{{route=\"{}\",class=\"{class}\"}}",
                    r.name
                ),
                *n,
            );
        }
        metric_cell(
            o,
            &format!("helmgate_preflights_total{{route=\"{}\"}}", r.name),
            r.preflights,
        );
        let sum = |m: &BTreeMap<&str, u64>| m.values().sum::<u64>();
        let reports: u64 = r.reports.iter().map(|x| x.count).sum();
        let _ = writeln!(
            o,
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{reports}</td></tr>",
            sum(&r.blocked),
            sum(&r.would_block)
        );
    }
    o.push_str("</tbody></table>\n");
}

fn refusals_table(o: &mut String, s: &Status) {
    o.push_str("<h2>CORS refusals by reason</h2>\n<table><thead><tr><th>route</th><th>reason</th><th>blocked (enforce)</th><th>would block (report mode)</th></tr></thead><tbody>\n");
    for r in &s.routes {
        for reason in RejectReason::ALL {
            let reason = reason.as_str();
            let _ = write!(o, "<tr><td>{}</td><td>{reason}</td>", Html(&r.name));
            metric_cell(
                o,
                &format!(
                    "helmgate_origins_blocked_total{{route=\"{}\",reason=\"{reason}\"}}",
                    r.name
                ),
                r.blocked.get(reason).copied().unwrap_or(0),
            );
            metric_cell(
                o,
                &format!(
                    "helmgate_origins_would_block_total{{route=\"{}\",reason=\"{reason}\"}}",
                    r.name
                ),
                r.would_block.get(reason).copied().unwrap_or(0),
            );
            o.push_str("</tr>\n");
        }
    }
    o.push_str("</tbody></table>\n");
}

/// Cross-site requests `[fetch_metadata]` refused, per route.
fn fetch_metadata_table(o: &mut String, s: &Status) {
    o.push_str("<h2>Cross-site requests (Fetch Metadata)</h2>\n<table id=\"fetch-metadata\"><thead><tr><th>route</th><th>mode</th><th>refused (enforce)</th><th>would refuse (report mode)</th></tr></thead><tbody>\n");
    for r in &s.routes {
        route_and_mode_cells(o, &r.name, r.fetch_metadata_mode, false);
        let series =
            |metric: &str| format!("{metric}{{route=\"{}\",reason=\"fetch_metadata\"}}", r.name);
        metric_cell(
            o,
            &series("helmgate_requests_refused_total"),
            r.cross_site_refused,
        );
        metric_cell(
            o,
            &series("helmgate_requests_would_refuse_total"),
            r.cross_site_would_refuse,
        );
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
}

fn certificates_table(o: &mut String, s: &Status) {
    if s.certificates.is_empty() {
        return;
    }
    o.push_str("<h2>Certificates</h2>\n<table id=\"certificates\"><thead><tr><th>host</th><th>source</th><th>expires (UTC)</th><th>last renewal</th><th>next attempt (UTC)</th><th>ACME failures</th></tr></thead><tbody>\n");
    for c in &s.certificates {
        let last = match (&c.last_attempt, c.last_ok, &c.last_error) {
            (Some(at), Some(true), _) => format!("ok at {at}"),
            (Some(at), _, Some(e)) => format!("failed at {at}: {e}"),
            _ => "none yet".to_string(),
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            Html(&c.host),
            Html(&c.source),
            Html(c.expires.as_deref().unwrap_or("none")),
            Html(&last),
            Html(c.next_attempt.as_deref().unwrap_or("")),
        );
        let _ = writeln!(o, "<td class=\"n\">{}</td></tr>", c.failures);
    }
    o.push_str("</tbody></table>\n");
}

fn reports_table(o: &mut String, s: &Status) {
    o.push_str("<h2>Violation reports by directive</h2>\n");
    let rows: Vec<(&RouteStatus, &ReportRow)> = s
        .routes
        .iter()
        .flat_map(|r| r.reports.iter().map(move |x| (r, x)))
        .collect();
    if rows.is_empty() {
        o.push_str("<p class=\"empty\">No reports yet.</p>\n");
        return;
    }
    o.push_str("<table><thead><tr><th>route</th><th>type</th><th>directive</th><th>disposition</th><th>reports</th></tr></thead><tbody>\n");
    for (r, x) in rows {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            Html(&r.name),
            x.kind,
            x.directive,
            x.disposition
        );
        metric_cell(
            o,
            &format!(
                "helmgate_reports_total{{route=\"{}\",type=\"{}\",directive=\"{}\",disposition=\"{}\"}}",
                r.name, x.kind, x.directive, x.disposition
            ),
            x.count,
        );
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
}

/// Refusals and reports per minute as an inline SVG (presentation
/// attributes only: no style attributes, so the CSP needs no exception).
fn chart(o: &mut String, t: &Timeline) {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 10.0;
    const TOP: f64 = 24.0;
    const BOTTOM: f64 = 22.0;
    let max = t
        .blocked
        .iter()
        .chain(&t.would_block)
        .chain(&t.reports)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let n = t.blocked.len().max(2);
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64;
    let y = |v: u64| TOP + (H - TOP - BOTTOM) * (1.0 - v as f64 / max as f64);
    let _ = write!(
        o,
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"blocked requests, would-block requests and reports per minute over the last hour\">\
<line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>\
<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{0}\" stroke=\"#999\"/>\
<text x=\"{2}\" y=\"{3}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{max}</text>\
<text x=\"{2}\" y=\"{0}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">0</text>\
<text x=\"{LEFT}\" y=\"{4}\" font-size=\"11\" fill=\"#555\">60 min ago</text>\
<text x=\"{1}\" y=\"{4}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">now</text>",
        H - BOTTOM,
        W - RIGHT,
        LEFT - 4.0,
        TOP + 4.0,
        H - 6.0,
    );
    let series: [(&str, &str, &[u64]); 3] = [
        ("blocked", "#c0392b", &t.blocked),
        ("would block", "#d68910", &t.would_block),
        ("reports", "#2e6fd1", &t.reports),
    ];
    for (i, (label, color, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            o,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{0}\"><title>{label}</title></polyline>\
<rect x=\"{1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{2}\" y=\"15\" font-size=\"11\" fill=\"#333\">{label}: {3} in the last hour</text>",
            points.join(" "),
            LEFT + 10.0 + 190.0 * i as f64,
            LEFT + 24.0 + 190.0 * i as f64,
            values.iter().sum::<u64>(),
        );
    }
    o.push_str("</svg>\n");
}

/// The fixed parts of a top-k table.
struct TopTable {
    heading: &'static str,
    id: &'static str,
    columns: &'static [&'static str],
    /// Said instead of an empty table.
    empty: &'static str,
}

const TOP_ORIGINS: TopTable = TopTable {
    heading: "Top blocked origins",
    id: "top-origins",
    columns: &["origin (as sent)", "requests"],
    empty: "None refused.",
};

const TOP_VIOLATIONS: TopTable = TopTable {
    heading: "Top violations",
    id: "top-violations",
    columns: &["directive", "blocked", "reports"],
    empty: "No reports yet.",
};

fn top_tables(o: &mut String, s: &Status) {
    o.push_str("<div class=\"two\"><div>");
    top_table(o, &TOP_ORIGINS, &s.top_blocked_origins, |c| {
        format!(
            "<td class=\"u\">{}</td><td class=\"n\">{}</td>",
            Html(&c.key),
            approx(c.count, c.error)
        )
    });
    o.push_str("</div><div>");
    top_table(o, &TOP_VIOLATIONS, &s.top_violations, |v| {
        let (directive, blocked) = (Html(&v.directive), Html(&v.blocked));
        let count = approx(v.count, v.error);
        format!("<td>{directive}</td><td class=\"u\">{blocked}</td><td class=\"n\">{count}</td>")
    });
    o.push_str("</div></div>\n");
}

/// The heading, then `empty` when there are no `items`, else the table with
/// one row of `cells` an item.
fn top_table<T>(o: &mut String, t: &TopTable, items: &[T], cells: impl Fn(&T) -> String) {
    let _ = writeln!(o, "<h2>{}</h2>", t.heading);
    if items.is_empty() {
        let _ = writeln!(o, "<p class=\"empty\">{}</p>", t.empty);
        return;
    }
    let _ = write!(o, "<table id=\"{}\"><thead><tr>", t.id);
    for c in t.columns {
        let _ = write!(o, "<th>{c}</th>");
    }
    o.push_str("</tr></thead><tbody>\n");
    for item in items {
        let _ = writeln!(o, "<tr>{}</tr>", cells(item));
    }
    o.push_str("</tbody></table>\n");
}

/// A space-saving count: exact, or `≤ n` when it may include evicted keys.
fn approx(count: u64, error: u64) -> String {
    if error == 0 {
        count.to_string()
    } else {
        format!("{}&ndash;{count}", count - error)
    }
}

fn recent_table(o: &mut String, s: &Status) {
    o.push_str("<h2>Last violation reports</h2>\n");
    if s.recent_reports.is_empty() {
        o.push_str("<p class=\"empty\">No reports yet.</p>\n");
        return;
    }
    o.push_str("<table id=\"recent\"><thead><tr><th>time (UTC)</th><th>route</th><th>type</th><th>directive</th><th>blocked</th><th>document</th><th>disposition</th></tr></thead><tbody>\n");
    for r in &s.recent_reports {
        let at = rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(r.at));
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"u\">{}</td><td class=\"u\">{}</td><td>{}</td></tr>",
            Html(at.get(11..19).unwrap_or(&at)),
            Html(&r.route),
            r.kind,
            r.directive,
            Html(&r.blocked),
            Html(&r.document),
            r.disposition
        );
    }
    o.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_are_escaped() {
        assert_eq!(
            Html("<img src=x onerror='a'>&\"\u{7}").to_string(),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;&#xFFFD;"
        );
    }

    #[test]
    fn the_csp_allows_exactly_the_inline_style_and_script() {
        let csp = &*CSP;
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(csp.matches("'sha256-").count(), 2);
        // The hash of "abc" (FIPS 180-2 test vector), base64.
        assert_eq!(
            sha256_source("abc"),
            "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='"
        );
    }

    #[test]
    fn an_empty_timeline_still_draws() {
        let mut o = String::new();
        chart(
            &mut o,
            &Timeline {
                blocked: vec![0; 60],
                would_block: vec![0; 60],
                reports: vec![0; 60],
            },
        );
        assert!(o.starts_with("<svg") && o.ends_with("</svg>\n"));
        assert_eq!(o.matches("<polyline").count(), 3);
        assert!(!o.contains("style="));
    }
}
