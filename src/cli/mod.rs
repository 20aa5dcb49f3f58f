//! Command-line arguments as typed. Validation of the config happens later,
//! in `config`; this only says what the user asked for. Shell completions and
//! the man pages (`manual`) are generated from these same definitions, so
//! they cannot drift from `--help`.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::policy::env::Environment;

pub mod manual;

/// The admin endpoint `helmgate healthcheck` probes unless told otherwise: the
/// `[admin] listen` of the shipped configs.
pub const DEFAULT_HEALTHCHECK_URL: &str = "http://127.0.0.1:9901/healthz";

/// A reverse-proxy security gateway: CORS at the edge and security headers on
/// every response, in front of any web app or API.
#[derive(Debug, Parser)]
#[command(
    name = "helmgate",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// The TOML configuration file.
    #[arg(short, long, env = "HELMGATE_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Validate the configuration, print the effective policy, and exit
    /// (non-zero on any problem).
    #[arg(long)]
    pub check: bool,

    /// Override the environment profile (beats HELMGATE_ENV, NODE_ENV and the file).
    #[arg(short, long, value_enum)]
    pub environment: Option<Environment>,

    /// Take over the listening sockets of a running helmgate (zero-downtime
    /// binary upgrade): start the new binary with this flag, then send the old
    /// one SIGQUIT.
    #[arg(long)]
    pub upgrade: bool,

    /// The socket the old and new process use to hand over listeners during
    /// an upgrade.
    #[arg(
        long,
        env = "HELMGATE_UPGRADE_SOCK",
        default_value = "/tmp/helmgate_upgrade.sock"
    )]
    pub upgrade_sock: String,

    /// Something other than running the gateway. Without one, helmgate runs
    /// (or checks, with --check) the configuration.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands: tools around the gateway (only `suggest` reads a config).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: Shell,
    },

    /// Probe the admin listener: exit 0 if GET URL answers 200 within 2 s.
    ///
    /// One HTTP/1.0 request; any other status, no answer within 2 seconds, or
    /// a refused connection exits 1. For container HEALTHCHECKs in images
    /// that have no curl or shell.
    Healthcheck {
        /// An http:// URL, normally the admin listener's /healthz or /readyz.
        #[arg(long, default_value = DEFAULT_HEALTHCHECK_URL)]
        url: String,
    },

    /// Print the helmgate(1) man page (roff) to stdout.
    ///
    /// Packaging uses --out-dir to write every page: helmgate(1), one per
    /// subcommand, and helmgate.toml(5), the config file's keys. Completions
    /// and man pages are generated from the same definitions as --help, the
    /// config page from the same ones as `helmgate schema`.
    Manpage {
        /// Write helmgate.1, one page per subcommand and helmgate.toml.5 into
        /// DIR instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },

    /// Print the policy changes that what browsers reported and CORS refused
    /// suggest, as TOML lines per route and table.
    ///
    /// Reads the learning state of one or more gateways (--state, their
    /// [learning] state_file, merged) and/or a running gateway (--admin).
    /// Only what was seen from at least --min-clients distinct client
    /// networks (/24, /48) is suggested; `*`, 'unsafe-inline',
    /// 'unsafe-eval', data:/blob: in scripts, scheme-only sources, public
    /// suffixes and noise (browser extensions, about:, foreign documents)
    /// never are, and are listed with the reason. With --config, the lines
    /// are the whole new values in the route's tables; --write FILE writes
    /// the config with them applied (it passes --check, or nothing is
    /// written).
    Suggest {
        /// The config the suggestions are made against (and --write edits).
        #[arg(short, long, env = "HELMGATE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,

        /// The environment profile of --config (beats HELMGATE_ENV, NODE_ENV and the file).
        #[arg(short, long, value_enum)]
        environment: Option<Environment>,

        /// A running gateway's admin listener, e.g. http://127.0.0.1:9901.
        #[arg(long, value_name = "URL")]
        admin: Option<String>,

        /// The admin token of --admin's gateway.
        #[arg(long, env = "HELMGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,

        /// A learning state file ([learning] state_file); repeat to merge
        /// the states of several gateways.
        #[arg(long = "state", value_name = "FILE")]
        states: Vec<PathBuf>,

        /// Only this route (its name; `default` for the top level).
        #[arg(long, value_name = "NAME")]
        route: Option<String>,

        /// Distinct client networks needed, 1-16 (default: the config's
        /// [learning] min_clients, else 3).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
        min_clients: Option<u8>,

        /// Write the config with the suggestions applied to FILE (may be
        /// --config itself); needs --config.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
    },

    /// Print the JSON Schema of the configuration file to stdout.
    ///
    /// For editors: with it, taplo and VS Code's Even Better TOML underline an
    /// unknown key or a value of the wrong type as you type, and show what
    /// each key means. The Debian package installs it as
    /// /usr/share/helmgate/helmgate.schema.json; in the source it is
    /// conf/helmgate.schema.json. It checks keys and types; --check checks
    /// everything.
    Schema,
}

/// The clap command as `--help` shows it.
pub fn command() -> clap::Command {
    Args::command()
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    script
}
