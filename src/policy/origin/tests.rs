use super::*;
use crate::policy::testing::assert_refused;

fn canon(s: &str) -> String {
    Origin::parse(s).unwrap().as_str().to_string()
}

#[test]
fn canonical_origin_is_kept_as_is() {
    assert_eq!(canon("https://app.example.com"), "https://app.example.com");
    assert_eq!(canon("http://localhost:3000"), "http://localhost:3000");
}

#[test]
fn scheme_and_host_are_lower_cased() {
    assert_eq!(canon("HTTPS://App.Example.COM"), "https://app.example.com");
}

#[test]
fn default_port_is_dropped() {
    assert_eq!(canon("https://a.example:443"), "https://a.example");
    assert_eq!(canon("http://a.example:80"), "http://a.example");
    assert_eq!(canon("http://a.example:443"), "http://a.example:443");
}

#[test]
fn ipv6_is_compressed() {
    assert_eq!(canon("http://[0:0:0:0:0:0:0:1]:8080"), "http://[::1]:8080");
    assert!(Origin::parse("http://[::1]").unwrap().is_local_dev());
}

#[test]
fn malformed_origins_are_refused() {
    assert_refused(
        Origin::parse,
        &[
            (OriginError::Empty, &[""]),
            (OriginError::Null, &["null"]),
            (OriginError::Wildcard, &["*"]),
            (OriginError::BadWildcard, &["https://*.example.com"]),
            (OriginError::NoScheme, &["app.example.com"]),
            (OriginError::UnsupportedScheme, &["ftp://app.example.com"]),
            (
                OriginError::HasPath,
                &[
                    "https://app.example.com/",
                    "https://app.example.com/path",
                    "https://app.example.com?q",
                ],
            ),
            (OriginError::HasUserInfo, &["https://user@app.example.com"]),
            (
                OriginError::BadPort,
                &[
                    "https://app.example.com:",
                    "https://app.example.com:0443",
                    "https://app.example.com:65536",
                    "https://app.example.com:+443",
                ],
            ),
            (
                OriginError::BadHost,
                &[
                    "https://app..example.com",
                    "https://app.example.com.",
                    "https://app_example.com",
                    "http://127.1",
                    "http://0x7f.0.0.1",
                    "http://[::1",
                ],
            ),
            (
                OriginError::BadBytes,
                &[
                    "https://a.com, https://b.com",
                    "https://app.example.com\r\n",
                    "https://äpp.example.com",
                ],
            ),
        ],
    );
}

fn wildcard(s: &str) -> WildcardOrigin {
    match AllowedOrigin::parse(s).unwrap() {
        AllowedOrigin::Wildcard(w) => w,
        other => panic!("{s}: {other:?}"),
    }
}

fn wildcard_matches(pattern: &str, origin: &str) -> bool {
    wildcard(pattern).matches(&canonical_parts(origin.as_bytes()).unwrap())
}

#[test]
fn wildcard_origins_parse_to_a_canonical_pattern() {
    let w = wildcard("HTTPS://*.Example.com:443");
    assert_eq!(w.as_str(), "https://*.example.com");
    assert_eq!(&*w.suffix, "example.com");
    assert_eq!(
        wildcard("http://*.a.example:8080").as_str(),
        "http://*.a.example:8080"
    );
    for bad in [
        "https://*",
        "https://*.",
        "https://a.*.example.com",
        "https://*a.example.com",
        "https://**.example.com",
        "https://*.*.example.com",
        "https://*.example.com/",
        "https://*.127.0.0.1",
        "*.example.com",
    ] {
        assert!(AllowedOrigin::parse(bad).is_err(), "{bad}");
    }
    assert!(matches!(
        AllowedOrigin::parse("https://app.example.com"),
        Ok(AllowedOrigin::Exact(_))
    ));
}

#[test]
fn wildcard_matches_whole_labels_only() {
    let p = "https://*.example.com";
    assert!(wildcard_matches(p, "https://a.example.com"));
    assert!(wildcard_matches(p, "https://a.b.example.com"));
    assert!(wildcard_matches(p, "HTTPS://A.Example.COM:443"));
    for no in [
        "https://example.com",
        "https://evil-example.com",
        "https://aexample.com",
        "https://a.example.com.evil.net",
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://a.example.co",
    ] {
        assert!(!wildcard_matches(p, no), "{no}");
    }
    assert!(wildcard_matches(
        "https://*.example.com:8443",
        "https://a.example.com:8443"
    ));
    assert!(!wildcard_matches(
        "https://*.example.com:8443",
        "https://a.example.com"
    ));
}

#[test]
fn canonical_parts_name_the_host_and_port() {
    let c = canonical_parts(b"HTTPS://App.Example.com:8443").unwrap();
    assert_eq!(c.host(), "app.example.com");
    assert_eq!(c.port, Some(8443));
    let c = canonical_parts(b"http://[::1]:3000").unwrap();
    assert_eq!(c.host(), "[::1]");
    assert!(!c.host_is_name);
    let c = canonical_parts(b"https://a.example").unwrap();
    assert_eq!(c.host(), "a.example");
    assert_eq!(c.port, None);
}

#[test]
fn canonicalize_borrows_when_already_canonical() {
    let (text, local) = canonicalize(b"https://app.example.com").unwrap();
    assert!(matches!(text, CanonicalText::Borrowed(_)));
    assert!(!local);
    let (text, _) = canonicalize(b"HTTPS://app.example.com:443").unwrap();
    assert_eq!(text.as_str(), "https://app.example.com");
}

#[test]
fn only_real_loopback_names_are_local() {
    for local in [
        "http://localhost",
        "https://localhost:8443",
        "http://127.0.0.1:5173",
        "http://[::1]:3000",
    ] {
        assert!(Origin::parse(local).unwrap().is_local_dev(), "{local}");
    }
    for not_local in [
        "http://localhost.evil.com",
        "http://evillocalhost",
        "http://127.0.0.2",
        "http://localhost-evil.com",
        "http://xn--localhost-.com",
    ] {
        let parsed = Origin::parse(not_local);
        assert!(
            parsed.map(|o| !o.is_local_dev()).unwrap_or(true),
            "{not_local}"
        );
    }
}
