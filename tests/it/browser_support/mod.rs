//! A real, headless Chromium for the browser tests: Debian's `chromium`
//! driven through `chromedriver` over WebDriver (fantoccini), all on loopback.
//! Each [`Browser`] has its own chromedriver process on a free port and its
//! own fresh profile directory; both go away when it is dropped.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::support::TempDir;

/// How long any one script, navigation or in-page wait may take.
pub const STEP_LIMIT: Duration = Duration::from_secs(15);

/// The flags Chromium needs as root in CI, and those that keep it off the
/// network: it only ever talks to the loopback servers of the test.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-pings",
    "--no-proxy-server",
    "--window-size=800,600",
];

/// Where a program is on `PATH`, or a test failure that says how to get it:
/// the browser tests never pass by skipping.
fn require(program: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not on PATH: the browser tests need Debian's Chromium \
                 (`apt-get install -y chromium chromium-driver`; .ci/run installs them). \
                 Missing package: {package}"
            )
        })
}

/// One chromedriver process with one Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_addr: SocketAddr,
    session: Option<String>,
    /// The profile and chromedriver log, removed on drop.
    _dir: TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = require("chromium", "chromium");
        let chromedriver = require("chromedriver", "chromium-driver");
        let dir = TempDir::new("chromium");
        let log = std::fs::File::create(dir.path().join("chromedriver.log")).unwrap();
        // Port 0: chromedriver binds a free port itself and logs which.
        let mut driver = Command::new(&chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", chromedriver.display()));
        let deadline = Instant::now() + STEP_LIMIT;
        let listening = || {
            let log = read_log(&dir);
            let port = log
                .split("was started successfully on port ")
                .nth(1)?
                .split('.')
                .next()?
                .parse::<u16>()
                .ok()?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            TcpStream::connect_timeout(&addr, Duration::from_millis(100))
                .is_ok()
                .then_some(addr)
        };
        let driver_addr = loop {
            if let Some(addr) = listening() {
                break addr;
            }
            if let Ok(Some(status)) = driver.try_wait() {
                panic!(
                    "chromedriver exited early with {status}: {}",
                    read_log(&dir)
                );
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not start listening: {}", read_log(&dir));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        let profile = dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        // Keep the page's console, for `console_log`.
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{driver_addr}"))
            .await;
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("could not start Chromium: {e}\n{}", read_log(&dir));
            }
        };
        let session = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            driver,
            driver_addr,
            session,
            _dir: dir,
        };
        browser
            .client
            .update_timeouts(TimeoutConfiguration::new(
                Some(STEP_LIMIT),
                Some(STEP_LIMIT),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set WebDriver timeouts");
        browser
    }

    /// Run `body` with a browser, then quit the browser and chromedriver
    /// whether `body` passed or panicked (the panic is then resumed).
    pub async fn with<F, Fut>(body: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut browser = Browser::start().await;
        let outcome = tokio::spawn(body(browser.client.clone())).await;
        let closed = tokio::time::timeout(STEP_LIMIT, browser.client.clone().close()).await;
        if matches!(closed, Ok(Ok(()))) {
            browser.session = None;
        }
        drop(browser);
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

fn read_log(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.path().join("chromedriver.log")).unwrap_or_default()
}

impl Drop for Browser {
    /// If the session is still open (the body panicked before closing it),
    /// delete it with a plain HTTP request so chromedriver quits Chromium;
    /// then end chromedriver, the one process this started.
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = delete_session(self.driver_addr, &id);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn delete_session(addr: SocketAddr, id: &str) -> std::io::Result<()> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    conn.set_read_timeout(Some(STEP_LIMIT))?;
    write!(
        conn,
        "DELETE /session/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// What a page's JavaScript sees

/// The outcome of one `fetch()` as page JavaScript sees it.
#[derive(Debug, Deserialize)]
pub struct Fetched {
    /// The promise resolved (false: it rejected, e.g. a CORS failure).
    pub resolved: bool,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub error: String,
}

const FETCH_JS: &str = r#"
const [url, init, done] = arguments;
fetch(url, init).then(
  async (r) => done({ resolved: true, status: r.status, body: await r.text() }),
  (e) => done({ resolved: false, error: e.name + ': ' + e.message }),
);
"#;

/// `fetch(url, init)` from the page the browser is on.
pub async fn page_fetch(client: &Client, url: &str, init: Value) -> Fetched {
    let v = client
        .execute_async(FETCH_JS, vec![json!(url), init])
        .await
        .unwrap_or_else(|e| panic!("fetch({url}) in the page: {e}"));
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("fetch result {v}: {e}"))
}

/// Navigate and wait for the page's load event.
pub async fn goto(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
}

/// Run an async script (its last argument is the callback) in the page.
pub async fn run_async(client: &Client, script: &str, args: Vec<Value>) -> Value {
    client
        .execute_async(script, args)
        .await
        .unwrap_or_else(|e| panic!("script in the page: {e}\n{script}"))
}

/// Evaluate a script (`return …`) in the page.
pub async fn eval(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script in the page: {e}\n{script}"))
}

/// Every console entry since the last call (`level`, `message`): what a
/// person would see in the developer tools, CSP violations included.
pub async fn console_log(client: &Client) -> Vec<Value> {
    let v = client
        .issue_cmd(BrowserLog)
        .await
        .unwrap_or_else(|e| panic!("read the browser console: {e}"));
    v.as_array().cloned().unwrap_or_default()
}

/// chromedriver's `POST /session/{id}/se/log` for the `browser` log.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}
