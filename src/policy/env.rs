//! Which environment profile is in force, and where that choice came from.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, clap::ValueEnum)]
// The `environment` key of the config's JSON Schema (`config::schema`).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Development,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Development => "development",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "production" => Ok(Environment::Production),
            "development" => Ok(Environment::Development),
            _ => Err(()),
        }
    }
}

/// Where the environment came from, shown by `--check` and at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentSource {
    CommandLine,
    HelmgateEnv,
    NodeEnv,
    ConfigFile,
    /// Nothing chose one: production, the secure default.
    Default,
}

impl fmt::Display for EnvironmentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvironmentSource::CommandLine => "--environment",
            EnvironmentSource::HelmgateEnv => "HELMGATE_ENV",
            EnvironmentSource::NodeEnv => "NODE_ENV",
            EnvironmentSource::ConfigFile => "config file `environment`",
            EnvironmentSource::Default => "default (nothing set)",
        })
    }
}

/// The process environment variables helmgate reads, captured once so that
/// config loading is a pure function (tests pass their own instead of
/// mutating the process environment).
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    pub helmgate_env: Option<String>,
    pub node_env: Option<String>,
    pub cors_allowed_origins: Option<String>,
    /// `HELMGATE_ADMIN_TOKEN`: the admin token, kept out of the file.
    pub admin_token: Option<String>,
}

impl EnvVars {
    pub fn from_process() -> EnvVars {
        let get = |k: &str| std::env::var(k).ok();
        EnvVars {
            helmgate_env: get("HELMGATE_ENV"),
            node_env: get("NODE_ENV"),
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS"),
            admin_token: get("HELMGATE_ADMIN_TOKEN"),
        }
    }
}

/// Outcome of choosing an environment: the choice, its source, and any
/// warnings worth logging (they are not fatal).
#[derive(Debug, Clone)]
pub struct EnvironmentChoice {
    pub environment: Environment,
    pub source: EnvironmentSource,
    pub warnings: Vec<String>,
}

/// First that is set wins: command line, `HELMGATE_ENV`, `NODE_ENV`, config
/// file, production. An invalid `HELMGATE_ENV` is an error because it is ours;
/// `NODE_ENV` belongs to other tools too (`test`, `staging`), so an unknown
/// value there is skipped with a warning.
pub fn choose(
    cli: Option<Environment>,
    vars: &EnvVars,
    file: Option<Environment>,
) -> Result<EnvironmentChoice, String> {
    let mut warnings = Vec::new();
    let pick = |environment, source, mut warnings: Vec<String>| {
        warnings.extend(weakens_the_file(environment, source, file));
        EnvironmentChoice {
            environment,
            source,
            warnings,
        }
    };
    if let Some(env) = cli {
        return Ok(pick(env, EnvironmentSource::CommandLine, warnings));
    }
    if let Some(raw) = vars.helmgate_env.as_deref().filter(|s| !s.is_empty()) {
        return match raw.parse() {
            Ok(env) => Ok(pick(env, EnvironmentSource::HelmgateEnv, warnings)),
            Err(()) => Err(format!(
                "HELMGATE_ENV={raw:?} is not an environment: set it to `production` or `development`, or unset it"
            )),
        };
    }
    if let Some(raw) = vars.node_env.as_deref().filter(|s| !s.is_empty()) {
        match raw.parse() {
            Ok(env) => return Ok(pick(env, EnvironmentSource::NodeEnv, warnings)),
            Err(()) => warnings.push(format!(
                "NODE_ENV={raw:?} is neither production nor development; ignored for choosing the environment"
            )),
        }
    }
    if let Some(env) = file {
        return Ok(pick(env, EnvironmentSource::ConfigFile, warnings));
    }
    warnings.push(
        "no environment was set (--environment, HELMGATE_ENV, NODE_ENV or `environment` in the config); using production"
            .to_string(),
    );
    Ok(pick(
        Environment::Production,
        EnvironmentSource::Default,
        warnings,
    ))
}

/// A WARN when the command line or an environment variable turns the file's
/// `environment = "production"` into development: easy to do by accident
/// (`NODE_ENV=development` left in a shell or a unit file), and it weakens
/// every response.
fn weakens_the_file(
    chosen: Environment,
    source: EnvironmentSource,
    file: Option<Environment>,
) -> Option<String> {
    if chosen != Environment::Development || file != Some(Environment::Production) {
        return None;
    }
    let fix = match source {
        EnvironmentSource::CommandLine => "drop --environment development",
        EnvironmentSource::HelmgateEnv => "unset HELMGATE_ENV or set it to production",
        EnvironmentSource::NodeEnv => {
            "unset NODE_ENV, or set HELMGATE_ENV=production (it wins over NODE_ENV)"
        }
        EnvironmentSource::ConfigFile | EnvironmentSource::Default => return None,
    };
    Some(format!(
        "environment development from {source} overrides environment = \"production\" in the config file: development's defaults allow any localhost origin with credentials, turn HSTS and Cross-Origin-Embedder-Policy off and pass X-Powered-By through; to run as production, {fix}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(helmgate: Option<&str>, node: Option<&str>) -> EnvVars {
        EnvVars {
            helmgate_env: helmgate.map(str::to_string),
            node_env: node.map(str::to_string),
            ..EnvVars::default()
        }
    }

    /// `--environment`, then HELMGATE_ENV, then NODE_ENV (skipped unless
    /// development or production), then the file, then production.
    #[test]
    fn the_strongest_source_that_sets_the_environment_wins() {
        use Environment::{Development as Dev, Production as Prod};
        use EnvironmentSource as From;
        for (cli, helmgate, node, file, want) in [
            (
                Some(Dev),
                Some("production"),
                Some("production"),
                Some(Prod),
                (Dev, From::CommandLine),
            ),
            (
                None,
                Some("development"),
                Some("production"),
                None,
                (Dev, From::HelmgateEnv),
            ),
            (
                None,
                None,
                Some("development"),
                Some(Prod),
                (Dev, From::NodeEnv),
            ),
            (None, None, Some("test"), Some(Dev), (Dev, From::ConfigFile)),
            (None, None, None, None, (Prod, From::Default)),
        ] {
            let c = choose(cli, &vars(helmgate, node), file).unwrap();
            let case = format!("{cli:?} {helmgate:?} {node:?} {file:?}");
            assert_eq!((c.environment, c.source), want, "{case}");
        }
    }

    #[test]
    fn nothing_set_or_an_unknown_node_env_warns() {
        let dev = Some(Environment::Development);
        for c in [
            choose(None, &vars(None, None), None),
            choose(None, &vars(None, Some("test")), dev),
        ] {
            assert_eq!(c.unwrap().warnings.len(), 1);
        }
    }

    #[test]
    fn bad_helmgate_env_is_an_error() {
        let err = choose(None, &vars(Some("prod"), None), None).unwrap_err();
        assert!(err.contains("HELMGATE_ENV"), "{err}");
    }

    #[test]
    fn a_weaker_override_of_a_production_file_warns_naming_its_source() {
        let file = Some(Environment::Production);
        let dev = Some("development");
        for (c, source) in [
            (
                choose(Some(Environment::Development), &vars(None, None), file),
                "--environment",
            ),
            (choose(None, &vars(dev, None), file), "HELMGATE_ENV"),
            (choose(None, &vars(None, dev), file), "NODE_ENV"),
        ] {
            let c = c.unwrap();
            assert_eq!(c.environment, Environment::Development);
            assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
            let w = &c.warnings[0];
            assert!(
                w.starts_with(&format!(
                    "environment development from {source} overrides environment = \"production\""
                )),
                "{w}"
            );
            assert!(w.contains("HSTS"), "{w}");
        }
    }

    #[test]
    fn agreeing_or_stronger_overrides_do_not_warn() {
        let prod = Some(Environment::Production);
        let dev = Some(Environment::Development);
        for c in [
            choose(None, &vars(None, Some("production")), prod),
            choose(None, &vars(None, Some("development")), dev),
            choose(None, &vars(Some("production"), None), dev),
            choose(Some(Environment::Production), &vars(None, None), dev),
            choose(None, &vars(None, Some("development")), None),
            choose(None, &vars(None, None), dev),
        ] {
            assert!(c.as_ref().unwrap().warnings.is_empty(), "{c:?}");
        }
    }
}
