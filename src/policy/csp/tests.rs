use super::*;
use crate::policy::headers::{
    CSP_DEVELOPMENT, CSP_HARDENED_DEVELOPMENT, CSP_HARDENED_PRODUCTION, CSP_PRODUCTION,
};

#[test]
fn the_shipped_policies_are_valid_and_quiet() {
    for p in [
        CSP_PRODUCTION,
        CSP_DEVELOPMENT,
        CSP_HARDENED_PRODUCTION,
        CSP_HARDENED_DEVELOPMENT,
    ] {
        assert_eq!(check(p), Ok(Checked::default()), "{p}");
    }
}

fn error(p: &str) -> CspError {
    check(p).unwrap_err().remove(0)
}

#[test]
fn directives_replace_add_and_drop_in_place() {
    let changes = [
        (
            "script-src".to_string(),
            Some("'self' 'nonce-{nonce}'".to_string()),
        ),
        ("frame-ancestors".to_string(), None),
        (
            "img-src".to_string(),
            Some("https://cdn.example.com".to_string()),
        ),
    ];
    assert_eq!(
        with_directives(Some("default-src 'self'; script-src 'self'; frame-ancestors 'none'; upgrade-insecure-requests"), &changes).as_deref(),
        Some("default-src 'self'; script-src 'self' 'nonce-{nonce}'; upgrade-insecure-requests; img-src https://cdn.example.com")
    );
    assert_eq!(with_directives(None, &changes[1..2]), None);
    let bare = [("upgrade-insecure-requests".to_string(), Some(String::new()))];
    assert_eq!(
        with_directives(None, &bare).as_deref(),
        Some("upgrade-insecure-requests")
    );
}

#[test]
fn every_problem_of_a_policy_is_reported() {
    let all = check("default-src self; scritp-src 'self'; img-src 'slef' https://a.example:99999 data:; sandbox nope").unwrap_err();
    let at: Vec<usize> = all.iter().map(|e| e.offset).collect();
    assert_eq!(at, [12, 18, 45, 52, 91], "{all:?}");
}

#[test]
fn mistakes_are_errors_that_point_at_the_token() {
    let e = error("default-src 'self'; scritp-src 'self'");
    assert_eq!((e.directive.as_deref(), e.offset), (Some("scritp-src"), 20));
    let e = error("script-src 'self'; script-src https://cdn.example");
    assert!(e.message.contains("appears twice"), "{e:?}");
    let e = error("default-src self");
    assert!(e.message.contains("must be quoted: write 'self'"), "{e:?}");
    assert_eq!(e.offset, 12);
    let e = error("default-src 'self', img-src *");
    assert!(e.message.contains("`,` separates policies"), "{e:?}");
    for bad in [
        "default-src 'slef'",
        "default-src 'self",
        "default-src https://exa_mple.com",
        "default-src ht!tp:",
        "img-src https://a.example:99999",
        "default-src 'none' 'self'",
        "script-src",
        "upgrade-insecure-requests 1",
        "frame-ancestors 'unsafe-inline'",
        "script-src 'nonce-{nonce'",
        "script-src nonce-{nonce}",
        "default-src 'self' https://a.example script-src 'self'",
        "",
        " ; ",
    ] {
        assert!(check(bad).is_err(), "{bad:?} passed");
    }
}

#[test]
fn valid_sources_pass() {
    let p = "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic' https://cdn.example.com/js/ 'sha256-abc+/=' ; style-src 'self' 'nonce-AbC123=='; img-src * data: blob:; connect-src wss://*.example.com:* https://api.example.com:8443; frame-ancestors 'none'; sandbox allow-scripts allow-forms; report-uri /.helmgate/reports https://r.example/x; report-to helmgate; upgrade-insecure-requests; trusted-types default dompurify 'allow-duplicates'; require-trusted-types-for 'script'";
    let c = check(p).unwrap();
    assert!(c.has_nonce);
    assert!(c.reports_itself);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn risky_choices_are_warnings() {
    let c = check("default-src 'self'; script-src 'self' 'unsafe-eval' data: *").unwrap();
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    assert!(c.warnings.iter().any(|w| w.contains("no object-src")));
    let c = check("default-src 'self' 'unsafe-eval'; object-src 'none'").unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(check("default-src 'none'").unwrap().warnings.is_empty());
}
