//! Command-line arguments as typed. Validation of the config happens later,
//! in `config`; this only says what the user asked for.

use std::path::PathBuf;

use clap::Parser;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::env::Environment;

/// A reverse-proxy security gateway: CORS at the edge and security headers on
/// every response, in front of any web app or API.
#[derive(Debug, Parser)]
#[command(name = "helmgate", version, about, long_about = None)]
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
}
