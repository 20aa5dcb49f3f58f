//! Content-Security-Policy values checked at load, the way a compiler would:
//! known directive names, no duplicates, quoted keywords, no `,` inside a
//! policy, well-formed sources. A browser silently ignores what it doesn't
//! understand, so a typo would quietly weaken the policy; here it is an error
//! naming the directive and where it is. Risky but valid choices are
//! warnings. Source expressions (keywords, nonces, hashes, schemes, hosts)
//! are checked in `sources`.

mod sources;

use sources::source_list;

/// Every directive a current browser knows (CSP Level 3 and the Trusted
/// Types and Fenced Frames additions), and the deprecated ones still seen.
pub const DIRECTIVES: &[&str] = &[
    "default-src",
    "child-src",
    "connect-src",
    "fenced-frame-src",
    "font-src",
    "frame-src",
    "img-src",
    "manifest-src",
    "media-src",
    "object-src",
    "prefetch-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "worker-src",
    "base-uri",
    "sandbox",
    "form-action",
    "frame-ancestors",
    "report-uri",
    "report-to",
    "require-trusted-types-for",
    "trusted-types",
    "upgrade-insecure-requests",
    "block-all-mixed-content",
    "webrtc",
];

/// Is this a CSP directive name? (Also the closed set of metric labels for
/// violation reports.)
pub fn is_directive(name: &str) -> bool {
    DIRECTIVES.contains(&name)
}

/// The canonical `&'static` name of a directive, for labels.
pub fn directive_label(name: &str) -> &'static str {
    DIRECTIVES
        .iter()
        .find(|d| d.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

/// Directives whose value is a source list.
fn takes_sources(name: &str) -> bool {
    name.ends_with("-src")
        || name.ends_with("-src-elem")
        || name.ends_with("-src-attr")
        || matches!(name, "base-uri" | "form-action" | "frame-ancestors")
}

/// What is wrong, and where: the directive (when known) and the byte offset
/// in the policy text of the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspError {
    pub directive: Option<String>,
    pub offset: usize,
    pub message: String,
}

/// A valid policy: warnings worth a WARN at load, and whether it holds the
/// `{nonce}` placeholder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub warnings: Vec<String>,
    pub has_nonce: bool,
    /// It names its own `report-uri` or `report-to`.
    pub reports_itself: bool,
}

pub const NONCE_PLACEHOLDER: &str = "{nonce}";

fn err(directive: Option<&str>, offset: usize, message: String) -> CspError {
    CspError {
        directive: directive.map(str::to_string),
        offset,
        message,
    }
}

/// Tokens of `text` separated by ASCII whitespace, with their offsets.
fn tokens(text: &str, base: usize) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut at = base;
    std::iter::from_fn(move || {
        let skip = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .len();
        rest = &rest[skip..];
        at += skip;
        if rest.is_empty() {
            return None;
        }
        let len = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let token = (at, &rest[..len]);
        rest = &rest[len..];
        at += len;
        Some(token)
    })
}

/// Check a policy: every problem in it (each directive and source is
/// looked at, so one run shows them all), or what a valid one is worth.
pub fn check(policy: &str) -> Result<Checked, Vec<CspError>> {
    if let Some(i) = policy.find(',') {
        return Err(vec![err(
            None,
            i,
            "`,` separates policies, not directives: one header value holds one policy; separate directives with `;`".into(),
        )]);
    }
    let mut out = Checked::default();
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut offset = 0;
    for part in policy.split(';') {
        let base = offset;
        offset += part.len() + 1;
        let mut toks = tokens(part, base);
        let Some((name_at, name)) = toks.next() else {
            continue; // empty directive: `a; ; b` or a trailing `;`
        };
        let lower = match directive_name(name, name_at, &seen) {
            Ok(lower) => lower,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        seen.push(lower.clone());
        let values: Vec<(usize, &str)> = toks.collect();
        errors.extend(check_values(&lower, &values, &mut out));
    }
    if seen.is_empty() && errors.is_empty() {
        errors.push(err(None, 0, "holds no directive".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    warn_risky(policy, &seen, &mut out);
    Ok(out)
}

/// A policy with directives changed: each `(name, Some(value))` replaces
/// that directive where it stands (or is added at the end), each
/// `(name, None)` drops it. `None` in or out: no policy.
pub fn with_directives(
    policy: Option<&str>,
    changes: &[(String, Option<String>)],
) -> Option<String> {
    let mut directives: Vec<(String, String)> = policy
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let name = d.split_ascii_whitespace().next().unwrap_or(d);
            (name.to_ascii_lowercase(), d.to_string())
        })
        .collect();
    for (name, value) in changes {
        let name = name.to_ascii_lowercase();
        let text = value.as_ref().map(|v| format!("{name} {}", v.trim()));
        match (directives.iter_mut().find(|(n, _)| *n == name), text) {
            (Some(slot), Some(text)) => slot.1 = text.trim_end().to_string(),
            (None, Some(text)) => directives.push((name, text.trim_end().to_string())),
            (_, None) => directives.retain(|(n, _)| *n != name),
        }
    }
    let joined: Vec<String> = directives.into_iter().map(|(_, d)| d).collect();
    (!joined.is_empty()).then(|| joined.join("; "))
}

/// The lowercased name of a directive, refused when unknown or already `seen`.
fn directive_name(name: &str, name_at: usize, seen: &[String]) -> Result<String, CspError> {
    let lower = name.to_ascii_lowercase();
    if !is_directive(&lower) {
        let hint = if lower.starts_with('\'') || lower.contains(':') || lower.contains('.') {
            " (a source where a directive name should be: is a `;` missing?)".to_string()
        } else {
            String::new()
        };
        return Err(err(
            Some(name),
            name_at,
            format!("unknown directive {name:?}{hint}"),
        ));
    }
    if seen.contains(&lower) {
        return Err(err(
            Some(name),
            name_at,
            format!("{lower} appears twice: browsers ignore every copy after the first; merge their sources"),
        ));
    }
    Ok(lower)
}

/// Warnings for a valid policy that still lets scripts or plugins in.
/// `seen`: its directive names, lowercased.
fn warn_risky(policy: &str, seen: &[String], out: &mut Checked) {
    let script = if seen.iter().any(|d| d == "script-src") {
        "script-src"
    } else {
        "default-src"
    };
    for (directive, token) in risky_script_sources(policy, script) {
        out.warnings.push(format!(
            "{directive} allows {token}: scripts can then run {}",
            match token.as_str() {
                "'unsafe-eval'" => "strings as code (eval, new Function)",
                "*" => "from any host",
                _ => "from data: URLs an attacker can write inline",
            }
        ));
    }
    let default_none = directive_values(policy, "default-src").is_some_and(|v| v == ["'none'"]);
    if !seen.iter().any(|d| d == "object-src") && !default_none {
        out.warnings.push(
            "no object-src: plugins (<object>, <embed>) fall back to default-src; add object-src 'none'"
                .into(),
        );
    }
}

fn directive_values<'p>(policy: &'p str, name: &str) -> Option<Vec<&'p str>> {
    policy.split(';').find_map(|part| {
        let mut t = part.split_ascii_whitespace();
        t.next()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .map(|_| t.collect())
    })
}

fn risky_script_sources(policy: &str, directive: &str) -> Vec<(String, String)> {
    directive_values(policy, directive)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| {
            v.eq_ignore_ascii_case("'unsafe-eval'") || *v == "*" || v.eq_ignore_ascii_case("data:")
        })
        .map(|v| (directive.to_string(), v.to_ascii_lowercase()))
        .collect()
}

/// The values of directive `name` (lowercased), by the grammar it takes:
/// every problem in them.
fn check_values(name: &str, values: &[(usize, &str)], out: &mut Checked) -> Vec<CspError> {
    let at_end = values.first().map_or(0, |(at, _)| *at);
    let one = |r: Result<(), CspError>| r.err().into_iter().collect::<Vec<_>>();
    match name {
        "upgrade-insecure-requests" | "block-all-mixed-content" => one(no_value(name, values)),
        "report-uri" => {
            out.reports_itself = true;
            report_uri(name, values, at_end)
        }
        "report-to" => {
            out.reports_itself = true;
            match values {
                [(_, v)] if is_token(v) => Vec::new(),
                _ => vec![err(
                    Some(name),
                    at_end,
                    "report-to takes one endpoint name, e.g. `report-to csp`".into(),
                )],
            }
        }
        "sandbox" => sandbox_flags(name, values),
        "webrtc" => one(one_keyword(
            name,
            values,
            at_end,
            &["'allow'", "'block'"],
            "'allow' or 'block'",
        )),
        "require-trusted-types-for" => {
            one(one_keyword(name, values, at_end, &["'script'"], "'script'"))
        }
        "trusted-types" => trusted_types(name, values),
        _ => source_list(name, values, at_end, out),
    }
}

fn no_value(name: &str, values: &[(usize, &str)]) -> Result<(), CspError> {
    match values.first() {
        Some((at, v)) => Err(err(
            Some(name),
            *at,
            format!("{name} takes no value, found {v:?}"),
        )),
        None => Ok(()),
    }
}

fn report_uri(name: &str, values: &[(usize, &str)], at_end: usize) -> Vec<CspError> {
    if values.is_empty() {
        return vec![err(Some(name), at_end, "report-uri needs a URL".into())];
    }
    values
        .iter()
        .filter(|(_, v)| v.contains(['\'', '"', '<', '>']))
        .map(|(at, v)| err(Some(name), *at, format!("{v:?} is not a URL")))
        .collect()
}

fn sandbox_flags(name: &str, values: &[(usize, &str)]) -> Vec<CspError> {
    values
        .iter()
        .filter(|(_, v)| !v.starts_with("allow-") || !is_token(v))
        .map(|(at, v)| {
            err(
                Some(name),
                *at,
                format!("{v:?} is not a sandbox flag (allow-scripts, allow-forms ...)"),
            )
        })
        .collect()
}

/// A directive whose value is exactly one of `allowed` (written `expected`
/// in the error).
fn one_keyword(
    name: &str,
    values: &[(usize, &str)],
    at_end: usize,
    allowed: &[&str],
    expected: &str,
) -> Result<(), CspError> {
    match values {
        [(_, v)] if allowed.contains(v) => Ok(()),
        _ => Err(err(Some(name), at_end, format!("{name} takes {expected}"))),
    }
}

fn trusted_types(name: &str, values: &[(usize, &str)]) -> Vec<CspError> {
    values
        .iter()
        .filter(|(_, v)| {
            !(matches!(*v, "'none'" | "'allow-duplicates'" | "*")
                || v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-#=_/@.%".contains(&b)))
        })
        .map(|(at, v)| {
            err(
                Some(name),
                *at,
                format!("{v:?} is not a Trusted Types policy name"),
            )
        })
        .collect()
}

fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests;
