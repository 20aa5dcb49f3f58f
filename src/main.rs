use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use helmgate::cli::Args;
use helmgate::config::{self, Overrides};
use helmgate::env::EnvVars;
use helmgate::policy::LogFormat;
use helmgate::server::{self, RunOptions};
use helmgate::state::SharedState;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("helmgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let overrides = Overrides {
        environment: args.environment,
    };
    let policy = config::load_file(&args.config, overrides, &EnvVars::from_process())
        .map_err(|e| e.to_string())?;
    if args.check {
        print!("{}", helmgate::describe::describe(&policy));
        println!("configuration {} is valid", args.config.display());
        return Ok(());
    }
    helmgate::logging::init(policy.log.format == LogFormat::Json);
    for w in &policy.warnings {
        log::warn!("{w}");
    }
    if !args.upgrade {
        server::check_binds(&policy)?;
    }
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
    server::run(
        state,
        RunOptions {
            upgrade: args.upgrade,
            upgrade_sock: args.upgrade_sock,
        },
    )
}
