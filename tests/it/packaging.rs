//! What the packages ship besides the gateway, through the real binary: shell
//! completions and man pages generated from the clap definitions (they must
//! cover every flag `--help` shows), the config's JSON Schema (`helmgate
//! schema` must print the committed `conf/helmgate.schema.json`), and the
//! `healthcheck` probe the container image uses, against real servers on
//! loopback.
//!
//! Nearly self-contained: it only runs the binary, so of the harness in
//! `support/` it uses only reserved ports and the config builder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Admin, Config, Port};

const BIN: &str = env!("CARGO_BIN_EXE_helmgate");

/// A directory under the target dir's test scratch space, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("packaging-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

fn helmgate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HELMGATE_CONFIG")
        .env_remove("HELMGATE_UPGRADE_SOCK")
        .output()
        .expect("run helmgate")
}

fn stdout_of(args: &[&str]) -> String {
    let out = helmgate(args);
    assert!(
        out.status.success(),
        "helmgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every `--long` flag that `helmgate [SUBCOMMAND] --help` lists.
fn long_flags(help_args: &[&str]) -> Vec<String> {
    let help = stdout_of(help_args);
    let mut flags: Vec<String> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() > 2 && w.starts_with("--") && !w.starts_with("---"))
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// roff escapes `-` as `\-`.
fn unroff(page: &str) -> String {
    page.replace("\\-", "-")
}

// --- completions ------------------------------------------------------------

#[test]
fn bash_completions_offer_every_flag_of_help_and_the_subcommands() {
    let script = stdout_of(&["completions", "bash"]);
    let flags = long_flags(&["--help"]);
    assert!(flags.len() >= 7, "flags parsed from --help: {flags:?}");
    for flag in &flags {
        assert!(
            script.contains(flag.as_str()),
            "bash completions lack {flag}"
        );
    }
    for word in [
        "completions",
        "healthcheck",
        "manpage",
        "schema",
        "suggest",
        "production development",
    ] {
        assert!(script.contains(word), "bash completions lack {word:?}");
    }
    assert!(script.contains("complete -F _helmgate"));
}

#[test]
fn zsh_and_fish_completions_cover_the_flags() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for flag in ["config", "check", "environment", "upgrade-sock"] {
            assert!(script.contains(flag), "{shell} completions lack {flag}");
        }
    }
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef helmgate"));
}

#[test]
fn completions_for_an_unknown_shell_are_a_usage_error() {
    let out = helmgate(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn a_subcommand_does_not_combine_with_gateway_flags() {
    let out = helmgate(&["--check", "completions", "bash"]);
    assert_eq!(out.status.code(), Some(2));
}

// --- man pages ----------------------------------------------------------------

#[test]
fn man_page_has_a_title_and_every_flag_of_help() {
    let page = stdout_of(&["manpage"]);
    assert!(page.contains(".TH helmgate 1"), "no title: {page}");
    let text = unroff(&page);
    for flag in long_flags(&["--help"]) {
        assert!(text.contains(&flag), "man page lacks {flag}");
    }
    assert!(text.contains("HELMGATE_CONFIG"));
    assert!(text.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn man_page_refers_only_to_pages_that_are_written() {
    let text = unroff(&stdout_of(&["manpage"]));
    for sub in ["completions", "healthcheck", "manpage", "schema", "suggest"] {
        assert!(text.contains(&format!("helmgate-{sub}(1)")), "{sub}");
    }
    assert!(
        !text.contains("helmgate-help"),
        "no page is written for help"
    );
}

#[test]
fn man_pages_are_written_for_every_subcommand() {
    let dir = TempDir::new("manpages");
    stdout_of(&["manpage", "--out-dir", dir.path().to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "helmgate-completions.1",
            "helmgate-healthcheck.1",
            "helmgate-manpage.1",
            "helmgate-schema.1",
            "helmgate-suggest.1",
            "helmgate.1",
            "helmgate.toml.5"
        ]
    );
    assert_eq!(
        std::fs::read(dir.path().join("helmgate.1")).unwrap(),
        helmgate(&["manpage"]).stdout,
        "stdout and --out-dir give the same helmgate(1)"
    );
    let page = unroff(&std::fs::read_to_string(dir.path().join("helmgate-healthcheck.1")).unwrap());
    assert!(page.contains(".TH helmgate-healthcheck 1"));
    for flag in long_flags(&["healthcheck", "--help"]) {
        assert!(page.contains(&flag), "healthcheck page lacks {flag}");
    }
}

/// helmgate.toml(5), as `manpage --out-dir` writes it.
fn config_page(tag: &str) -> String {
    let dir = TempDir::new(tag);
    stdout_of(&["manpage", "--out-dir", dir.path().to_str().unwrap()]);
    std::fs::read_to_string(dir.path().join("helmgate.toml.5")).expect("helmgate.toml.5 written")
}

/// The page's tables: each `.SS` heading with the keys listed under it, and
/// each key's entry (its `.TP` paragraph).
fn tables_of(page: &str) -> Vec<(String, Vec<(String, String)>)> {
    page.split("\n.SS ")
        .skip(1)
        .map(|section| {
            let section = section.split("\n.SH ").next().unwrap_or_default();
            let heading = section.lines().next().unwrap_or_default().to_string();
            let entries = section
                .split("\n.TP\n")
                .skip(1)
                .map(|entry| {
                    let key = entry
                        .strip_prefix("\\fB")
                        .and_then(|e| e.split("\\fR").next())
                        .unwrap_or_default();
                    (unroff(key), entry.to_string())
                })
                .collect();
            (heading, entries)
        })
        .collect()
}

#[test]
fn config_man_page_lists_every_key_of_the_schema_with_type_default_and_meaning() {
    let schema: serde_json::Value = serde_json::from_str(&stdout_of(&["schema"])).unwrap();
    let page = config_page("config-page-keys");
    assert!(page.starts_with(".TH helmgate.toml 5 "), "{page}");
    let tables = tables_of(&page);
    let mut defs: Vec<(&str, &serde_json::Value)> = vec![("the top level", &schema)];
    for (name, def) in schema["definitions"].as_object().unwrap() {
        if def.get("properties").is_some() {
            defs.push((name, def));
        }
    }
    assert!(defs.len() >= 10, "{defs:?}");
    for (name, def) in defs {
        let mut keys: Vec<&String> = def["properties"].as_object().unwrap().keys().collect();
        keys.sort();
        // Listed together under one heading, as the schema groups them.
        let (heading, entries) = tables
            .iter()
            .find(|(_, entries)| {
                let mut listed: Vec<&String> = entries.iter().map(|(k, _)| k).collect();
                listed.sort();
                listed == keys
            })
            .unwrap_or_else(|| {
                panic!("no table of helmgate.toml(5) lists the keys of {name}: {keys:?}")
            });
        for (key, entry) in entries {
            let prop = &def["properties"][key.as_str()];
            let meaning = prop["description"]
                .as_str()
                .unwrap_or_default()
                .replace('`', "");
            let words: Vec<&str> = meaning
                .split_whitespace()
                .take_while(|w| !w.starts_with("Default"))
                .take(3)
                .collect();
            assert!(!words.is_empty(), "{key} has no doc comment");
            assert!(
                unroff(entry)
                    .replace("\\fB", "")
                    .replace("\\fR", "")
                    .contains(&words.join(" ")),
                "{heading} {key}: the meaning is missing:\n{entry}"
            );
            let kind = unroff(entry).lines().next().unwrap_or_default().to_string();
            let is_table = kind.contains("table");
            assert!(
                ["string", "integer", "number", "boolean", "array", "table"]
                    .iter()
                    .any(|t| kind.contains(t)),
                "{heading} {key}: no type in {kind:?}"
            );
            assert!(
                is_table || entry.contains("\nDefault: ") || entry.contains("\nRequired."),
                "{heading} {key}: no default (say it in the doc comment: \"Default: ...\" or \"(required)\"):\n{entry}"
            );
        }
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "KEYS",
        "FILES",
        "ENVIRONMENT",
        "\"SEE ALSO\"",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
}

#[test]
fn config_man_page_example_is_a_valid_config() {
    let page = config_page("config-page");
    let example = page
        .split(".SH EXAMPLE\n.nf\n")
        .nth(1)
        .and_then(|rest| rest.split("\n.fi\n").next())
        .expect("an EXAMPLE section");
    let dir = TempDir::new("config-page-example");
    let path = dir.path().join("helmgate.toml");
    std::fs::write(&path, unroff(example)).unwrap();
    let out = helmgate(&["--check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn helmgate_1_says_files_signals_exit_status_and_every_variable_read() {
    let page = stdout_of(&["manpage"]);
    for section in [
        "FILES",
        "SIGNALS",
        "\"EXIT STATUS\"",
        "ENVIRONMENT",
        "\"SEE ALSO\"",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
    let section = |name: &str| {
        page.split(&format!("\n.SH {name}\n"))
            .nth(1)
            .and_then(|s| s.split("\n.SH ").next())
            .unwrap_or_default()
            .to_string()
    };
    let signals = section("SIGNALS");
    for sig in ["SIGHUP", "SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1"] {
        assert!(
            signals.contains(&format!("\\fB{sig}\\fR")),
            "SIGNALS lacks {sig}"
        );
    }
    // Every variable the code reads (env.rs, cli.rs' `env =`), and RUST_LOG.
    let environment = section("ENVIRONMENT");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = vec!["RUST_LOG".to_string()];
    for file in ["src/policy/env.rs", "src/cli/mod.rs"] {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        for pattern in ["get(\"", "env = \""] {
            for rest in source.split(pattern).skip(1) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if name.len() > 3 && rest[name.len()..].starts_with('"') {
                    names.push(name);
                }
            }
        }
    }
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            environment.contains(&format!("\\fB{name}\\fR")),
            "ENVIRONMENT lacks {name}"
        );
    }
    assert!(section("\"SEE ALSO\"").contains("helmgate.toml\\fR(5)"));
}

// --- JSON Schema ---------------------------------------------------------------

/// The command that rewrites the committed schema, as the failure says it.
const REGENERATE: &str = "cargo run -- schema > conf/helmgate.schema.json";

#[test]
fn schema_subcommand_prints_the_committed_schema() {
    let printed = stdout_of(&["schema"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/helmgate.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if printed != committed {
        let line = printed
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| printed.lines().count().min(committed.lines().count()));
        panic!(
            "conf/helmgate.schema.json is not what `helmgate schema` prints (first difference at line {}): \
             the config types changed. Regenerate it with\n    {REGENERATE}\nand commit it.",
            line + 1
        );
    }
}

#[test]
fn schema_is_pretty_json_with_a_trailing_newline() {
    let printed = stdout_of(&["schema"]);
    let schema: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(
        printed,
        format!("{}\n", serde_json::to_string_pretty(&schema).unwrap())
    );
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    assert!(stdout_of(&["--help"]).contains("schema"), "--help lists it");
}

// --- healthcheck --------------------------------------------------------------------

/// A one-connection HTTP server: sends `reply` (or nothing, holding the
/// connection open, when `None`) and reports the request head it got.
fn one_shot_server(reply: Option<&'static str>) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        match reply {
            Some(reply) => {
                let _ = conn.write_all(reply.as_bytes());
            }
            None => thread::sleep(Duration::from_secs(5)),
        }
    });
    (addr, rx)
}

fn healthcheck(url: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = helmgate(&["healthcheck", "--url", url]);
    (out, started.elapsed())
}

#[test]
fn healthcheck_succeeds_on_200_with_one_plain_get() {
    let (addr, head) = one_shot_server(Some("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"));
    let (out, _) = healthcheck(&format!("http://{addr}/healthz"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = head.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(head.starts_with("GET /healthz HTTP/1.0\r\n"), "{head:?}");
    assert!(head.contains(&format!("\r\nHost: {addr}\r\n")), "{head:?}");
}

#[test]
fn healthcheck_fails_on_503() {
    let (addr, _head) = one_shot_server(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
    let (out, _) = healthcheck(&format!("http://{addr}/readyz"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));
}

#[test]
fn healthcheck_fails_on_a_closed_port() {
    // Reserved, never listening: the connection is refused.
    let closed = Port::reserve();
    let (out, elapsed) = healthcheck(&format!("http://{}/healthz", closed.addr()));
    assert_eq!(out.status.code(), Some(1));
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn healthcheck_gives_up_on_a_silent_server_after_two_seconds() {
    let (addr, _head) = one_shot_server(None);
    let (out, elapsed) = healthcheck(&format!("http://{addr}/healthz"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(4),
        "took {elapsed:?}"
    );
}

#[test]
fn healthcheck_fails_on_a_reply_that_is_not_http() {
    let (addr, _head) = one_shot_server(Some("SSH-2.0-OpenSSH_9.2\r\n"));
    let (out, _) = healthcheck(&format!("http://{addr}/healthz"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn healthcheck_refuses_an_https_url() {
    let (out, _) = healthcheck("https://127.0.0.1:9901/healthz");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://"));
}

/// A gateway process, killed on drop.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn healthcheck_probes_the_gateways_admin_listener() {
    // /readyz only needs the upstream to accept TCP connections.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy_port, admin_port) = (Port::reserve(), Port::reserve());
    let dir = TempDir::new("admin");
    let config = dir.path().join("helmgate.toml");
    let text = Config::production(
        proxy_port.addr(),
        upstream.local_addr().unwrap(),
        &["https://app.example.com"],
    )
    .threads(1)
    .admin(Admin {
        hosts: vec![],
        ..Admin::on(admin_port.addr())
    });
    std::fs::write(&config, text.render()).unwrap();
    let _gw = Gateway(
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--upgrade-sock")
            .arg(dir.path().join("upgrade.sock"))
            .env_remove("HELMGATE_ENV")
            .env_remove("NODE_ENV")
            .env_remove("CORS_ALLOWED_ORIGINS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start helmgate"),
    );
    let admin = format!("http://{}", admin_port.addr());
    assert!(
        eventually(Duration::from_secs(20), || {
            healthcheck(&format!("{admin}/healthz")).0.status.success()
        }),
        "/healthz never answered 200"
    );
    assert!(healthcheck(&format!("{admin}/readyz")).0.status.success());
    drop(upstream);
    assert!(
        eventually(Duration::from_secs(10), || {
            healthcheck(&format!("{admin}/readyz")).0.status.code() == Some(1)
        }),
        "/readyz stayed 200 with the upstream gone"
    );
}
