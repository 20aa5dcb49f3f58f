//! The committed JSON Schema (`conf/helmgate.schema.json`, what editors use)
//! against the files we ship and against files that are wrong: every
//! `conf/*.toml` validates, and a typo'd key, a value of the wrong type or a
//! word outside a closed list does not. That the committed file is what
//! `helmgate schema` prints is checked in `packaging.rs`.
//!
//! TOML becomes JSON through the `toml` crate (as an editor's TOML language
//! server does), and boon validates it.

use std::path::{Path, PathBuf};

use serde_json::Value;

const SCHEMA_URL: &str = "file:///helmgate.schema.json";

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}

/// The committed schema, compiled (boon checks it against the draft-7
/// meta-schema on the way).
fn compiled() -> (boon::Schemas, boon::SchemaIndex) {
    let text = std::fs::read_to_string(conf_dir().join("helmgate.schema.json"))
        .expect("conf/helmgate.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V7);
    compiler
        .add_resource(SCHEMA_URL, schema)
        .expect("add the schema");
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(SCHEMA_URL, &mut schemas)
        .unwrap_or_else(|e| panic!("conf/helmgate.schema.json does not compile: {e:#}"));
    (schemas, index)
}

/// `Err(message)` when `toml` does not validate against the schema.
fn validate(toml: &str) -> Result<(), String> {
    let instance: Value = toml::from_str(toml).expect("test TOML parses");
    let (schemas, index) = compiled();
    schemas
        .validate(&instance, index)
        .map_err(|e| format!("{e}"))
}

fn assert_refused(toml: &str, expect: &str) {
    match validate(toml) {
        Ok(()) => panic!("the schema accepted:\n{toml}"),
        Err(e) => assert!(e.contains(expect), "expected {expect:?} in:\n{e}"),
    }
}

const MINIMAL: &str = r#"
[server]
listen = ["127.0.0.1:8080"]
[upstream]
address = "127.0.0.1:3000"
"#;

#[test]
fn every_shipped_config_validates_against_the_schema() {
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(conf_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = validate(&text) {
                panic!("{} does not validate:\n{e}", path.display());
            }
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "development.toml",
            "helmgate.toml",
            "production.toml",
            "routes.toml"
        ]
    );
}

#[test]
fn the_shipped_example_points_editors_at_the_schema() {
    let text = std::fs::read_to_string(conf_dir().join("helmgate.toml")).unwrap();
    assert_eq!(text.lines().next(), Some("#:schema ./helmgate.schema.json"));
}

#[test]
fn a_minimal_config_validates() {
    validate(MINIMAL).unwrap();
}

#[test]
fn a_typo_in_a_key_is_refused_at_every_level() {
    let unknown = |key: &str| format!("additionalProperties '{key}' not allowed");
    assert_refused(
        &format!("enviroment = \"production\"\n{MINIMAL}"),
        &unknown("enviroment"),
    );
    assert_refused(
        "[server]\nlisten = [\"127.0.0.1:8080\"]\nthread = 2\n",
        &unknown("thread"),
    );
    assert_refused(
        &format!("{MINIMAL}[cors]\nallowed_origin = []\n"),
        &unknown("allowed_origin"),
    );
    assert_refused(
        &format!("{MINIMAL}[headers]\nx_frame_option = \"DENY\"\n"),
        &unknown("x_frame_option"),
    );
    assert_refused(
        &format!("{MINIMAL}[production.headers]\ncontent_security_polcy = \"\"\n"),
        &unknown("content_security_polcy"),
    );
    assert_refused(
        &format!("{MINIMAL}[[route]]\nname = \"api\"\npath_prefx = \"/api\"\n"),
        &unknown("path_prefx"),
    );
    assert_refused(
        &format!("{MINIMAL}[[route]]\nname = \"api\"\n[route.development.cors]\nmax_age = 5\n"),
        &unknown("max_age"),
    );
    assert_refused(
        &format!("{MINIMAL}[upstreams.api]\naddress = \"127.0.0.1:4000\"\nconnect_timeout = 1\n"),
        &unknown("connect_timeout"),
    );
    assert_refused(
        &format!("{MINIMAL}[logs]\nformat = \"json\"\n"),
        &unknown("logs"),
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    assert_refused(
        "[server]\nlisten = \"127.0.0.1:8080\"\n[upstream]\naddress = \"127.0.0.1:3000\"\n",
        "want array",
    );
    assert_refused(
        &format!("{MINIMAL}[log]\nblocked_origin_burst = \"20\"\n"),
        "want integer",
    );
    assert_refused(
        &format!("{MINIMAL}[cors]\nallow_credentials = \"false\"\n"),
        "want boolean",
    );
    assert_refused(
        &format!("{MINIMAL}[cors]\nmax_age_secs = 1.5\n"),
        "want integer",
    );
    assert_refused(
        &format!("{MINIMAL}[headers.custom]\nX-Thing = 1\n"),
        "want string",
    );
    assert_refused(
        "[upstream]\naddress = \"127.0.0.1:3000\"\nread_timeout_secs = \"60\"\n",
        "want number",
    );
}

#[test]
fn an_integer_is_a_number_where_seconds_may_be_fractional() {
    validate(
        "[server]\nlisten = []\nrequest_header_timeout_secs = 10\n\
         [upstream]\naddress = \"a:1\"\nconnect_timeout_secs = 0.5\nread_timeout_secs = 60\n",
    )
    .unwrap();
}

#[test]
fn words_outside_a_closed_list_are_refused() {
    let one_of = |at: &str| format!("at '{at}': value must be one of");
    assert_refused(
        &format!("environment = \"staging\"\n{MINIMAL}"),
        &one_of("/environment"),
    );
    assert_refused(
        &format!("{MINIMAL}[log]\nformat = \"xml\"\n"),
        &one_of("/log/format"),
    );
    assert_refused(
        &format!("{MINIMAL}[[route]]\nname = \"a\"\n[route.cors]\nmode = \"audit\"\n"),
        &one_of("/route/0/cors/mode"),
    );
    assert_refused(
        &format!("{MINIMAL}[development.headers]\npreset = \"strict\"\n"),
        &one_of("/development/headers/preset"),
    );
}

#[test]
fn a_missing_required_key_is_refused() {
    assert_refused(
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n",
        "missing properties 'upstream'",
    );
    assert_refused(
        &format!("{MINIMAL}[[route]]\nhosts = [\"a.example\"]\n"),
        "missing properties 'name'",
    );
    assert_refused(
        "[upstream]\nsni = \"app\"\n",
        "missing properties 'address'",
    );
    assert_refused(
        &format!("{MINIMAL}[[server.tls]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"),
        "missing properties 'listen'",
    );
}
