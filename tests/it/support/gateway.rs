//! The gateway process: the real binary started on a config in a temporary
//! directory, its log, signals, and waiting for it to start or exit.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{request, Response};

pub const BIN: &str = env!("CARGO_BIN_EXE_helmgate");

/// The binary under test: `HELMGATE_TEST_BIN` points the suite at another
/// build (e.g. the release binary for resource measurements).
pub fn bin() -> String {
    std::env::var("HELMGATE_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    pub dir: TempDir,
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
    pub extra_toml: String,
    pub origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            environment: "production",
            extra_toml: String::new(),
            origins: vec!["https://app.example.com".into()],
            trusted_proxies: vec![],
            env: vec![],
            args: vec![],
        }
    }
}

pub fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Gateway {
    pub fn start(upstream: SocketAddr, opts: GatewayOptions) -> Gateway {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let text = format!(
            "environment = \"{}\"\n[server]\nlisten = [\"{addr}\"]\ntrusted_proxies = [{}]\nthreads = 2\ngrace_period_secs = 10\n{}\n[upstream]\naddress = \"{upstream}\"\nread_timeout_secs = 2.0\nconnect_timeout_secs = 2.0\n[cors]\nallowed_origins = [{}]\n",
            opts.environment,
            quoted(&opts.trusted_proxies),
            opts.extra_toml,
            quoted(&opts.origins),
        );
        Self::start_with_config(addr, &text, opts.env, opts.args)
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
