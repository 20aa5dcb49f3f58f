//! The gateway process: the real binary started on a config in a temporary
//! directory, its log, signals, and waiting for it to start or exit.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{request, Response};
use super::config::{Config, Settings, UpstreamSection};
use super::ports::Port;

pub const BIN: &str = env!("CARGO_BIN_EXE_helmgate");

/// The binary under test: `HELMGATE_TEST_BIN` points the suite at another
/// build (e.g. the release binary for resource measurements).
pub fn bin() -> String {
    std::env::var("HELMGATE_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    pub dir: TempDir,
    /// The ports reserved for its listeners, held as long as it runs.
    reserved: Vec<Port>,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "helmgate-test-{tag}-{}-{}",
            std::process::id(),
            fastrand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

/// Options for starting a gateway.
pub struct GatewayOptions {
    pub environment: &'static str,
    /// Keys beyond the defaults below, e.g.
    /// `Settings::new().set("server.keepalive_timeout_secs", 0)`.
    pub settings: Settings,
    pub origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

/// A gateway whose admin listener is on a port reserved for it: the
/// gateway and the admin listener's address.
pub fn start_with_admin(upstream: SocketAddr, mut opts: GatewayOptions) -> (Gateway, SocketAddr) {
    let port = Port::reserve();
    let admin = port.addr();
    opts.settings =
        std::mem::take(&mut opts.settings).set("admin", crate::support::Admin::on(admin));
    let mut gw = Gateway::start(upstream, opts);
    gw.hold(port);
    (gw, admin)
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            environment: "production",
            settings: Settings::new(),
            origins: vec!["https://app.example.com".into()],
            trusted_proxies: vec![],
            env: vec![],
            args: vec![],
        }
    }
}

impl GatewayOptions {
    /// The config every `Gateway::start` runs on: production by default,
    /// two threads, a 10 s grace period, 2 s upstream timeouts.
    pub fn config(&self, listen: SocketAddr, upstream: SocketAddr) -> Config {
        let origins: Vec<&str> = self.origins.iter().map(String::as_str).collect();
        let mut config = Config::new(listen, upstream)
            .environment(self.environment)
            .threads(2)
            .origins(&origins)
            .upstream(UpstreamSection {
                read_timeout_secs: Some(2.0),
                connect_timeout_secs: Some(2.0),
                ..UpstreamSection::at(upstream)
            })
            .with(&self.settings);
        config.server.trusted_proxies = Some(self.trusted_proxies.clone());
        config.server.grace_period_secs = Some(10);
        config
    }
}

impl Gateway {
    pub fn start(upstream: SocketAddr, opts: GatewayOptions) -> Gateway {
        let listen = Port::reserve();
        let config = opts.config(listen.addr(), upstream);
        Self::with_config(listen, &config, opts.env, opts.args)
    }

    /// `start` with raw TOML tables appended to the built config (for
    /// tables the builder has no type for).
    pub fn start_with_tables(upstream: SocketAddr, opts: GatewayOptions, tables: &str) -> Gateway {
        let listen = Port::reserve();
        let text = format!(
            "{}\n{tables}",
            opts.config(listen.addr(), upstream).render()
        );
        let mut gw = Self::start_with_config(listen.addr(), &text, opts.env, opts.args);
        gw.hold(listen);
        gw
    }

    /// Start on `config`, whose proxy listener is `listen`.
    pub fn with_config(
        listen: Port,
        config: &Config,
        env: Vec<(String, String)>,
        args: Vec<String>,
    ) -> Gateway {
        let mut gw = Self::start_with_config(listen.addr(), &config.render(), env, args);
        gw.hold(listen);
        gw
    }

    /// Wait until the gateway listens on `port` too (a listener of its
    /// config beside the proxy's: admin, TLS), and keep it reserved as long
    /// as the gateway lives.
    pub fn hold(&mut self, port: Port) {
        self.wait_ready(port.addr());
        self.reserved.push(port);
    }

    /// Start with a complete config text; `addr` is the proxy listener in it.
    pub fn start_with_config(
        addr: SocketAddr,
        text: &str,
        env: Vec<(String, String)>,
        args: Vec<String>,
    ) -> Gateway {
        let dir = TempDir::new("gw");
        let config_path = dir.path().join("helmgate.toml");
        std::fs::write(&config_path, text).unwrap();
        let log_path = dir.path().join("helmgate.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&config_path)
            .arg("--upgrade-sock")
            .arg(dir.path().join("upgrade.sock"))
            .args(&args)
            .env_remove("HELMGATE_ENV")
            .env_remove("NODE_ENV")
            .env_remove("CORS_ALLOWED_ORIGINS")
            .env_remove("HELMGATE_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn helmgate");
        let mut gw = Gateway {
            child,
            addr,
            log_path,
            config_path,
            dir,
            reserved: Vec::new(),
        };
        gw.wait_ready(addr);
        gw
    }

    pub fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("helmgate exited early with {status}: {}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
        panic!("helmgate did not start listening on {addr}: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log once it holds every one of `wanted` (or after 5 s, for the
    /// assertion to show what is there): the gateway writes its log out
    /// from a thread of its own, up to a second after the line is made.
    pub fn log_with(&self, wanted: &[&str]) -> String {
        let has_all = |log: &str| wanted.iter().all(|w| log.contains(w));
        crate::support::eventually(Duration::from_secs(5), || has_all(&self.log()));
        self.log()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Wait for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers, b"")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string())
                .status();
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// `helmgate --config <text> --check`, with the environment cleared: whether
/// it passed, and stdout then stderr.
pub fn check_config(text: &str) -> (bool, String) {
    let dir = TempDir::new("check");
    let path = dir.path().join("helmgate.toml");
    std::fs::write(&path, text).unwrap();
    check_config_file(&path)
}

/// `helmgate --config <path> --check`, as `check_config` runs it.
pub fn check_config_file(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(bin())
        .arg("--config")
        .arg(path)
        .arg("--check")
        .env_remove("HELMGATE_ENV")
        .env_remove("NODE_ENV")
        .env_remove("CORS_ALLOWED_ORIGINS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
