//! A typed builder for helmgate config files: serde structs for the keys
//! the suites set most, [`Settings`] (a dotted key and any serde value) for
//! the rest, rendered to TOML by the `toml` crate, so values are always
//! quoted and escaped right and no test splices text into a template.
//! Tests of the TOML reader itself (error positions, typos, unknown keys)
//! keep writing raw text on purpose.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

/// The origin the suites allow by default.
pub const APP_ORIGIN: &str = "https://app.example.com";

#[derive(Serialize, Clone, Debug, Default)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub server: Server,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    /// Any other key, merged in after the typed sections.
    #[serde(skip)]
    pub settings: Settings,
    /// Raw TOML appended after the rendered text (e.g. `[[route]]` tables a
    /// test spells out itself).
    #[serde(skip)]
    pub tail: String,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Server {
    pub listen: Vec<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_secs: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub https_redirect_listen: Vec<SocketAddr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<Tls>,
}

/// `[upstream]` (and each `[upstreams.NAME]`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct UpstreamSection {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<f64>,
}

impl UpstreamSection {
    pub fn at(address: SocketAddr) -> UpstreamSection {
        UpstreamSection {
            address: address.to_string(),
            ..UpstreamSection::default()
        }
    }

    pub fn read_timeout(mut self, secs: f64) -> Self {
        self.read_timeout_secs = Some(secs);
        self
    }
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Cors {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_any_origin: Option<bool>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Admin {
    pub listen: SocketAddr,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Admin {
    /// An admin listener answering for `Host: gateway.test` (the test
    /// client's default Host).
    pub fn on(listen: SocketAddr) -> Admin {
        Admin {
            listen,
            hosts: vec!["gateway.test".into()],
            token: None,
        }
    }
}

/// A `[[server.tls]]` listener.
#[derive(Serialize, Clone, Debug)]
pub struct Tls {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Keys beyond the typed ones: `("server.keepalive_timeout_secs", 0)`,
/// `("headers.custom", table)`; tables given twice are merged.
#[derive(Clone, Debug, Default)]
pub struct Settings(Vec<(String, toml::Value)>);

impl Settings {
    pub fn new() -> Settings {
        Settings::default()
    }

    pub fn set(mut self, key: &str, value: impl Serialize) -> Settings {
        let value =
            toml::Value::try_from(value).unwrap_or_else(|e| panic!("{key}: not a TOML value: {e}"));
        self.0.push((key.to_string(), value));
        self
    }

    fn apply(&self, root: &mut toml::Table) {
        for (key, value) in &self.0 {
            let mut path: Vec<&str> = key.split('.').collect();
            let last = path.pop().expect("a key");
            let mut table = &mut *root;
            for part in path {
                table = table
                    .entry(part)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .unwrap_or_else(|| panic!("{key}: {part} is not a table"));
            }
            merge(table, last, value.clone());
        }
    }
}

/// Insert `value` at `key`, merging tables into tables.
fn merge(table: &mut toml::Table, key: &str, value: toml::Value) {
    match (table.get_mut(key), value) {
        (Some(toml::Value::Table(old)), toml::Value::Table(new)) => {
            for (k, v) in new {
                merge(old, &k, v);
            }
        }
        (_, value) => {
            table.insert(key.to_string(), value);
        }
    }
}

impl Config {
    /// `[server] listen = [listen]` and `[upstream] address = upstream`,
    /// nothing else.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Config {
        Config {
            server: Server {
                listen: vec![listen],
                ..Server::default()
            },
            upstream: Some(UpstreamSection::at(upstream)),
            ..Config::default()
        }
    }

    /// [`Config::new`] in production, two threads, allowing `origins`.
    pub fn production(listen: SocketAddr, upstream: SocketAddr, origins: &[&str]) -> Config {
        Config::new(listen, upstream)
            .environment("production")
            .threads(2)
            .origins(origins)
    }

    pub fn environment(mut self, environment: &str) -> Self {
        self.environment = Some(environment.into());
        self
    }

    pub fn threads(mut self, threads: usize) -> Self {
        self.server.threads = Some(threads);
        self
    }

    pub fn origins(mut self, origins: &[&str]) -> Self {
        self.cors.get_or_insert_with(Cors::default).allowed_origins =
            Some(origins.iter().map(|o| o.to_string()).collect());
        self
    }

    pub fn upstream(mut self, upstream: UpstreamSection) -> Self {
        self.upstream = Some(upstream);
        self
    }

    pub fn admin(mut self, admin: Admin) -> Self {
        self.admin = Some(admin);
        self
    }

    pub fn tls(mut self, tls: Tls) -> Self {
        self.server.tls.push(tls);
        self
    }

    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.settings = self.settings.set(key, value);
        self
    }

    pub fn with(mut self, settings: &Settings) -> Self {
        self.settings.0.extend(settings.0.iter().cloned());
        self
    }

    /// Raw TOML to append as it is.
    pub fn append(mut self, toml: &str) -> Self {
        self.tail.push_str(toml);
        self
    }

    /// The config file's text.
    pub fn render(&self) -> String {
        let mut root = toml::Table::try_from(self).expect("the config as a TOML table");
        self.settings.apply(&mut root);
        let mut text = toml::to_string(&root).expect("the config as TOML");
        if !self.tail.is_empty() {
            text.push('\n');
            text.push_str(&self.tail);
        }
        text
    }
}

/// A table from (key, value) pairs: `table([("X-Route", "default")])`.
pub fn table<'a, V: Serialize>(pairs: impl IntoIterator<Item = (&'a str, V)>) -> toml::Table {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = toml::Value::try_from(v).unwrap_or_else(|e| panic!("{k}: {e}"));
            (k.to_string(), v)
        })
        .collect()
}
