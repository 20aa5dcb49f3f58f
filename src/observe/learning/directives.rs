//! What a CSP policy string says about a directive, as the suggestions
//! need it: which directive governs a kind of load (its fallbacks), the
//! sources it lists, whether one already allows a source, and its value
//! with sources added.

/// The directives a directive falls back to, nearest first.
pub fn fallbacks(directive: &str) -> &'static [&'static str] {
    match directive {
        "script-src-elem" | "script-src-attr" => &["script-src", "default-src"],
        "style-src-elem" | "style-src-attr" => &["style-src", "default-src"],
        "worker-src" => &["child-src", "script-src", "default-src"],
        "frame-src" => &["child-src", "default-src"],
        "base-uri" | "form-action" | "frame-ancestors" | "default-src" => &[],
        _ => &["default-src"],
    }
}

/// The directive to change for a source reported under `directive`: the
/// one the policy has that governed it; where that is `default-src`, the
/// specific directive instead (so only this kind of load is widened).
pub fn target_directive(directive: &str, policy: Option<&str>) -> String {
    let base = match directive {
        "script-src-elem" | "script-src-attr" => "script-src",
        "style-src-elem" | "style-src-attr" => "style-src",
        d => d,
    };
    let present = |d: &str| directive_tokens(policy, d).is_some();
    if present(directive) {
        return directive.to_string();
    }
    fallbacks(directive)
        .iter()
        .find(|d| present(d))
        .filter(|d| **d != "default-src")
        .map_or_else(|| base.to_string(), |d| (*d).to_string())
}

/// The sources of `directive` in `policy`, `None` when it is not there.
pub fn directive_tokens<'p>(policy: Option<&'p str>, directive: &str) -> Option<Vec<&'p str>> {
    policy?.split(';').find_map(|d| {
        let mut words = d.split_ascii_whitespace();
        let name = words.next()?;
        name.eq_ignore_ascii_case(directive)
            .then(|| words.collect())
    })
}

/// Whether the directive (or what it falls back to) already lists it.
pub fn allows(policy: Option<&str>, directive: &str, source: &str) -> bool {
    std::iter::once(directive)
        .chain(fallbacks(directive).iter().copied())
        .find_map(|d| directive_tokens(policy, d))
        .is_some_and(|tokens| tokens.iter().any(|t| covers(t, source)))
}

/// Whether the source expression `token` already allows `source`: the same
/// expression, `*` for a network source, or its scheme alone (`https:`).
pub fn covers(token: &str, source: &str) -> bool {
    if token.eq_ignore_ascii_case(source) {
        return true;
    }
    let Some((scheme, _)) = source.split_once("://") else {
        return false;
    };
    let network = matches!(scheme, "http" | "https" | "ws" | "wss");
    (token == "*" && network)
        || token
            .strip_suffix(':')
            .is_some_and(|t| t.eq_ignore_ascii_case(scheme))
}

/// The directive's value with `add` appended: its own sources, or those it
/// fell back to, `'none'` dropped.
pub fn new_directive_value(policy: Option<&str>, directive: &str, add: &[&str]) -> String {
    let mut tokens: Vec<&str> = std::iter::once(directive)
        .chain(fallbacks(directive).iter().copied())
        .find_map(|d| directive_tokens(policy, d))
        .unwrap_or_else(|| vec!["'self'"]);
    tokens.retain(|t| !t.eq_ignore_ascii_case("'none'"));
    for s in add {
        if !tokens.contains(s) {
            tokens.push(s);
        }
    }
    tokens.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_or_star_already_covers_a_host_of_it() {
        assert!(covers("https:", "https://img.example"));
        assert!(covers("*", "https://img.example"));
        assert!(!covers("http:", "https://img.example"));
        assert!(!covers("*", "data:"));
        assert!(covers("data:", "data:"));
    }

    #[test]
    fn a_default_src_fallback_becomes_its_own_directive() {
        assert_eq!(
            target_directive("script-src-elem", Some("default-src 'self'")),
            "script-src"
        );
        assert_eq!(
            target_directive("script-src-elem", Some("script-src-elem 'self'")),
            "script-src-elem"
        );
        assert_eq!(
            target_directive("worker-src", Some("child-src 'self'")),
            "child-src"
        );
        assert_eq!(target_directive("connect-src", None), "connect-src");
        assert_eq!(
            new_directive_value(
                Some("default-src 'self' https://a.example"),
                "script-src",
                &["https://b.example"]
            ),
            "'self' https://a.example https://b.example"
        );
    }
}
