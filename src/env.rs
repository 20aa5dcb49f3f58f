//! Which environment profile is in force, and where that choice came from.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, clap::ValueEnum)]
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
    let pick = |environment, source, warnings| EnvironmentChoice {
        environment,
        source,
        warnings,
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

    #[test]
    fn command_line_wins_over_everything() {
        let c = choose(
            Some(Environment::Development),
            &vars(Some("production"), Some("production")),
            Some(Environment::Production),
        )
        .unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.source, EnvironmentSource::CommandLine);
    }

    #[test]
    fn helmgate_env_wins_over_node_env_and_file() {
        let c = choose(None, &vars(Some("development"), Some("production")), None).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.source, EnvironmentSource::HelmgateEnv);
    }

    #[test]
    fn node_env_wins_over_file() {
        let c = choose(
            None,
            &vars(None, Some("development")),
            Some(Environment::Production),
        )
        .unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.source, EnvironmentSource::NodeEnv);
    }

    #[test]
    fn nothing_set_means_production_with_a_warning() {
        let c = choose(None, &vars(None, None), None).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.source, EnvironmentSource::Default);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn bad_helmgate_env_is_an_error() {
        let err = choose(None, &vars(Some("prod"), None), None).unwrap_err();
        assert!(err.contains("HELMGATE_ENV"), "{err}");
    }

    #[test]
    fn unknown_node_env_is_skipped() {
        let c = choose(
            None,
            &vars(None, Some("test")),
            Some(Environment::Development),
        )
        .unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.source, EnvironmentSource::ConfigFile);
        assert_eq!(c.warnings.len(), 1);
    }
}
