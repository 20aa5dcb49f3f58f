use super::*;
use crate::observe::learning::csp_key;

fn learned(entries: &[(&str, Header, &str, u128)]) -> RouteLearning {
    let mut r = RouteLearning::default();
    for (directive, header, source, networks) in entries {
        for n in 0..*networks {
            r.csp
                .observe(&csp_key(directive, *header, source), n, Some(1), 100);
        }
    }
    r
}

const POLICY: &str = "default-src 'self'; script-src 'self' 'nonce-{nonce}'; img-src 'none'";

fn current() -> Current<'static> {
    Current {
        csp: None,
        csp_report_only: Some(POLICY),
        cors: None,
        known: true,
    }
}

#[test]
fn a_host_seen_from_enough_networks_is_added_to_the_directive_that_governed_it() {
    let r = learned(&[
        (
            "script-src-elem",
            Header::ReportOnly,
            "https://cdn.example",
            3,
        ),
        ("img-src", Header::ReportOnly, "https://img.example", 3),
        ("font-src", Header::ReportOnly, "https://fonts.example", 4),
    ]);
    let s = suggest("default", &r, current(), 3);
    let got: Vec<(&str, &str, Option<&str>)> = s
        .csp
        .iter()
        .map(|c| (c.table, c.directive.as_str(), c.value.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "csp_report_only",
                "font-src",
                Some("'self' https://fonts.example")
            ),
            ("csp_report_only", "img-src", Some("https://img.example")),
            (
                "csp_report_only",
                "script-src",
                Some("'self' 'nonce-{nonce}' https://cdn.example")
            ),
        ]
    );
}

#[test]
fn forged_reports_from_one_network_suggest_nothing() {
    let r = learned(&[(
        "script-src-elem",
        Header::ReportOnly,
        "https://evil.example",
        1,
    )]);
    let s = suggest("default", &r, current(), 3);
    assert!(s.csp.is_empty());
    assert_eq!(s.not_suggested.len(), 1);
    assert!(
        s.not_suggested[0].reason.contains("1 client network"),
        "{:?}",
        s.not_suggested
    );
}

#[test]
fn the_never_list_is_never_suggested_and_inline_gets_advice() {
    let r = learned(&[
        ("script-src-elem", Header::ReportOnly, "'inline'", 5),
        ("script-src", Header::ReportOnly, "'eval'", 5),
        ("script-src-elem", Header::ReportOnly, "data:", 5),
        ("script-src-elem", Header::ReportOnly, "blob:", 5),
        ("img-src", Header::ReportOnly, "https:", 5),
        (
            "script-src-elem",
            Header::ReportOnly,
            "https://github.io",
            5,
        ),
        ("img-src", Header::ReportOnly, "data:", 5),
    ]);
    let s = suggest("default", &r, current(), 3);
    let changes: Vec<(&str, Option<&str>)> = s
        .csp
        .iter()
        .map(|c| (c.directive.as_str(), c.value.as_deref()))
        .collect();
    assert_eq!(changes, [("img-src", Some("data:"))]);
    assert_eq!(s.advice.len(), 1);
    assert!(s.advice[0].advice.contains("nonce"));
    assert!(!s.advice[0].advice.contains("add 'unsafe-inline'"));
    let reasons: Vec<&str> = s
        .not_suggested
        .iter()
        .map(|n| n.seen.source.as_str())
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    for n in &s.not_suggested {
        assert!(
            n.reason.contains("never suggested") || n.reason.contains("public suffix"),
            "{n:?}"
        );
    }
}

#[test]
fn an_inline_script_seen_by_enough_networks_gets_a_nonce_and_attributes_only_advice() {
    let policy = "default-src 'self'; script-src 'self'";
    let c = Current {
        csp: Some(policy),
        ..current()
    };
    let r = learned(&[
        ("script-src-elem", Header::Enforce, "'inline'", 3),
        ("script-src-attr", Header::Enforce, "'inline'", 3),
    ]);
    let s = suggest("default", &r, c, 3);
    assert_eq!(s.csp.len(), 1);
    assert!(s.csp[0].add.is_empty() && s.csp[0].nonce);
    assert_eq!(s.csp[0].value.as_deref(), Some("'self' 'nonce-{nonce}'"));
    assert_eq!(s.advice.len(), 2);
    assert!(s
        .advice
        .iter()
        .any(|a| a.advice.contains("addEventListener")));
    let few = learned(&[("script-src-elem", Header::Enforce, "'inline'", 2)]);
    assert!(!suggest("default", &few, c, 3).has_changes());
}

#[test]
fn reports_about_a_header_the_route_does_not_send_widen_nothing() {
    let r = learned(&[("script-src-elem", Header::Enforce, "https://cdn.example", 5)]);
    let s = suggest("default", &r, current(), 3);
    assert!(!s.has_changes());
    assert!(s.not_suggested[0]
        .reason
        .contains("sends no Content-Security-Policy"));
    let inline = learned(&[("script-src-elem", Header::ReportOnly, "'inline'", 5)]);
    let lax = Current {
        csp_report_only: Some("script-src 'self' 'unsafe-inline'"),
        ..current()
    };
    assert!(!suggest("default", &inline, lax, 3).has_changes());
}

#[test]
fn what_the_policy_already_allows_is_not_suggested_again() {
    let policy = "script-src 'self' https://cdn.example";
    let r = learned(&[("script-src-elem", Header::Enforce, "https://cdn.example", 3)]);
    let c = Current {
        csp: Some(policy),
        ..current()
    };
    assert!(!suggest("default", &r, c, 3).has_changes());
}

#[test]
fn every_suggested_value_is_a_valid_csp() {
    let sources = [
        "https://cdn.example",
        "http://127.0.0.1:8080",
        "wss://socket.example:8443",
        "https://xn--bcher-kva.example",
        "data:",
    ];
    let r = learned(
        &sources
            .iter()
            .map(|s| ("img-src", Header::ReportOnly, *s, 3))
            .collect::<Vec<_>>(),
    );
    let s = suggest("default", &r, current(), 3);
    let value = s.csp[0].value.clone().unwrap();
    assert!(
        crate::policy::csp::check(&format!("img-src {value}")).is_ok(),
        "{value}"
    );
    for src in sources {
        assert!(value.contains(src), "{value}");
    }
}

#[test]
fn origins_seen_from_enough_networks_are_added_to_the_list() {
    let mut r = RouteLearning::default();
    for (origin, networks) in [
        ("https://a.example", 3),
        ("https://b.example", 1),
        ("https://github.io", 5),
    ] {
        for n in 0..networks {
            r.cors.observe(origin, n, None, 1);
        }
    }
    let s = suggest("api", &r, Current::default(), 3);
    let cors = s.cors.unwrap();
    assert_eq!(cors.add.len(), 1);
    assert_eq!(cors.add[0].source, "https://a.example");
    assert_eq!(s.not_suggested.len(), 2);
}
