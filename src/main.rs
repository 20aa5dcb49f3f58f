use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use helmgate::cli::manual;
use helmgate::cli::{self, Args, Command};
use helmgate::config::{self, Overrides};
use helmgate::ops::healthcheck::{self, Health, Target};
use helmgate::ops::server::{self, RunOptions};
use helmgate::policy::env::EnvVars;
use helmgate::state::SharedState;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            helmgate::observe::access_log::flush();
            eprintln!("helmgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: Args) -> Result<(), String> {
    match args.command.take() {
        None => serve(args),
        Some(Command::Completions { shell }) => print(&cli::completions(shell)),
        Some(Command::Manpage { out_dir: None }) => {
            print(&manual::helmgate_1().map_err(|e| format!("man page: {e}"))?)
        }
        Some(Command::Manpage { out_dir: Some(dir) }) => manual::write_pages(&dir)
            .map_err(|e| format!("writing man pages to {}: {e}", dir.display())),
        Some(Command::Schema) => print(config::schema::json_schema_text().as_bytes()),
        Some(Command::Healthcheck { url }) => {
            match Target::parse(&url)
                .and_then(|t| t.probe(healthcheck::TIMEOUT))
                .map_err(|e| format!("healthcheck: {e}"))?
            {
                Health::Healthy => print(format!("{url}: 200\n").as_bytes()),
                Health::Unhealthy(code) => Err(format!("healthcheck: {url}: {code}")),
            }
        }
    }
}

/// Writes generated text to stdout; a closed pipe is an error, not a panic.
fn print(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

/// Checks the configuration (--check) or runs the gateway on it.
fn serve(args: Args) -> Result<(), String> {
    let overrides = Overrides {
        environment: args.environment,
    };
    let policy = config::load_file(&args.config, overrides, &EnvVars::from_process())
        .map_err(|e| e.to_string())?;
    if args.check {
        print!("{}", helmgate::ops::describe::describe(&policy));
        println!("configuration {} is valid", args.config.display());
        return Ok(());
    }
    helmgate::observe::logging::init(&policy.log);
    for w in &policy.warnings {
        log::warn!("{w}");
    }
    server::check_binds(&policy, args.upgrade)?;
    server::exit_if_a_listener_fails(&policy);
    log::info!(
        "helmgate {} starting: environment {} (from {}), {} route(s), upstream {}, listening on {}",
        env!("CARGO_PKG_VERSION"),
        policy.environment,
        policy.environment_source,
        policy.router.table().len(),
        policy.default_site().upstream.settings.display,
        policy
            .server
            .listen
            .iter()
            .map(ToString::to_string)
            .chain(
                policy
                    .server
                    .tls
                    .iter()
                    .map(|t| format!("{} (tls)", t.listen))
            )
            .collect::<Vec<_>>()
            .join(", ")
    );
    let state = Arc::new(SharedState::new(policy, args.config.clone(), overrides));
    server::install_reload_handler(Arc::clone(&state))?;
    helmgate::ops::signals::install_log_reopen_handler()?;
    server::run(
        state,
        RunOptions {
            upgrade: args.upgrade,
            upgrade_sock: args.upgrade_sock,
        },
    )
}
