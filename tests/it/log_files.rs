//! `[log] access_log_path` and `error_log_path` (issue 20, part 6), through
//! the real binary: each log gets its own file, SIGUSR1 reopens them after
//! a rotation, a path that can't be written is a config error naming the
//! key, and a stalled log drops (and counts) lines instead of holding up
//! requests.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn with_log_files(up: &Upstream, dir: &Path, extra: impl Fn(Settings) -> Settings) -> Gateway {
    Gateway::start(
        up.addr,
        GatewayOptions {
            settings: extra(
                Settings::new()
                    .set(
                        "log.access_log_path",
                        dir.join("access.log").display().to_string(),
                    )
                    .set(
                        "log.error_log_path",
                        dir.join("error.log").display().to_string(),
                    ),
            ),
            ..GatewayOptions::default()
        },
    )
}

#[test]
fn access_and_error_lines_go_to_their_own_files() {
    let up = Upstream::start();
    let dir = TempDir::new("log-files");
    let gw = with_log_files(&up, dir.path(), |s| s);
    assert_eq!(gw.get("/to-the-file", &[]).status, 200);
    let (access, error) = (dir.path().join("access.log"), dir.path().join("error.log"));
    assert!(
        eventually(Duration::from_secs(5), || read(&access)
            .contains("path=\"/to-the-file\"")),
        "access.log: {}",
        read(&access)
    );
    assert!(
        read(&error).contains("helmgate 0.1.0 starting"),
        "{}",
        read(&error)
    );
    assert!(!read(&error).contains("path=\"/to-the-file\""));
    assert!(!read(&access).contains("starting"));
    // Nothing goes to stderr any more.
    assert!(
        !gw.log().contains("/to-the-file") && !gw.log().contains("starting"),
        "{}",
        gw.log()
    );
}

#[test]
fn sigusr1_reopens_both_files_after_a_rotation() {
    let up = Upstream::start();
    let dir = TempDir::new("log-reopen");
    let gw = with_log_files(&up, dir.path(), |s| s);
    let (access, error) = (dir.path().join("access.log"), dir.path().join("error.log"));
    assert_eq!(gw.get("/before", &[]).status, 200);
    assert!(eventually(Duration::from_secs(5), || read(&access).contains("/before")));
    // What logrotate does: move the files away, then signal.
    let (old_access, old_error) = (
        dir.path().join("access.log.1"),
        dir.path().join("error.log.1"),
    );
    std::fs::rename(&access, &old_access).unwrap();
    std::fs::rename(&error, &old_error).unwrap();
    gw.signal("USR1");
    assert!(
        eventually(Duration::from_secs(5), || read(&error)
            .contains("log files reopened")),
        "error.log: {:?}, stderr: {}",
        read(&error),
        gw.log()
    );
    assert_eq!(gw.get("/after", &[]).status, 200);
    assert!(
        eventually(Duration::from_secs(5), || read(&access).contains("/after")),
        "access.log: {:?}",
        read(&access)
    );
    assert!(!read(&access).contains("/before"));
    assert!(read(&old_access).contains("/before") && !read(&old_access).contains("/after"));
    assert!(read(&old_error).contains("starting"));
    // Still serving: the signal did not end the process.
    assert_eq!(gw.get("/still", &[]).status, 200);
}

fn check(config: &str) -> (bool, String) {
    let dir = TempDir::new("log-check");
    let path = dir.path().join("helmgate.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin())
        .args(["--check", "--config"])
        .arg(&path)
        .env_remove("HELMGATE_ENV")
        .env_remove("NODE_ENV")
        .env_remove("CORS_ALLOWED_ORIGINS")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const BASE: &str = "environment = \"production\"\n[server]\nlisten = [\"127.0.0.1:18080\"]\n[upstream]\naddress = \"127.0.0.1:3000\"\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n";

#[test]
fn a_log_path_that_cant_be_written_is_a_config_error_naming_the_key() {
    let dir = TempDir::new("log-unwritable");
    let missing = dir.path().join("no-such-dir").join("access.log");
    let (ok, err) = check(&format!(
        "{BASE}[log]\naccess_log_path = \"{}\"\n",
        missing.display()
    ));
    assert!(!ok);
    assert!(err.contains("log.access_log_path"), "{err}");
    assert!(
        err.contains("no-such-dir") && err.contains("does not exist"),
        "{err}"
    );
    let (ok, err) = check(&format!(
        "{BASE}[log]\nerror_log_path = \"{}\"\n",
        dir.path().display()
    ));
    assert!(!ok);
    assert!(
        err.contains("log.error_log_path") && err.contains("directory"),
        "{err}"
    );
    // A path that can be written passes, and --check leaves no file behind
    // (one root created would be root's, and the service couldn't write it).
    let fine = dir.path().join("access.log");
    let (ok, err) = check(&format!(
        "{BASE}[log]\naccess_log_path = \"{}\"\n",
        fine.display()
    ));
    assert!(ok, "{err}");
    assert!(!fine.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_stalled_access_log_drops_and_counts_lines_but_never_holds_up_a_request() {
    let up = Upstream::start();
    let dir = TempDir::new("log-stalled");
    // A FIFO nobody reads: once its 64 KiB pipe buffer is full, every write
    // to it blocks, like a stalled disk.
    let fifo = dir.path().join("access.log");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Read-write, so neither side's open waits for the other.
    let _held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let admin_port = Port::reserve();
    let admin = admin_port.addr();
    let mut gw = Gateway::start(
        up.addr,
        GatewayOptions {
            settings: Settings::new()
                .set("log.access_log_path", fifo.display().to_string())
                .set("admin.listen", admin.to_string())
                .set("admin.hosts", ["gateway.test"]),
            ..GatewayOptions::default()
        },
    );
    gw.hold(admin_port);
    // Lines of about 8 KiB: the 4 MiB buffer is full after ~520 requests.
    let long = format!("/{}", "x".repeat(8000));
    let started = Instant::now();
    for i in 0..800 {
        let r = gw.get(&long, &[]);
        assert_eq!(r.status, 200, "request {i} after {:?}", started.elapsed());
    }
    let dropped = || {
        let text = request(admin, "GET", "/metrics", &[], b"").body_text();
        text.lines()
            .find(|l| l.starts_with("helmgate_log_lines_dropped_total{log=\"access\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(5), || dropped() >= 200),
        "dropped: {}; metrics: {}; log: {}",
        dropped(),
        request(admin, "GET", "/metrics", &[], b"").body_text(),
        gw.log()
    );
}
