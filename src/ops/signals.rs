//! Signals the gateway handles on threads of their own (SIGHUP reloads,
//! SIGUSR1 reopens the log files), apart from Pingora's runtime: a slow
//! handler never holds up requests.

use tokio::signal::unix::{signal, SignalKind};

/// Run `handle` on a thread named `thread` each time `kind` (`name` in
/// messages) arrives. Installed before the server starts serving, because
/// these signals' default action ends the process.
pub fn on_signal(
    kind: SignalKind,
    name: &str,
    thread: &str,
    mut handle: impl FnMut() + Send + 'static,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the {thread} thread: {e}"))?;
    let mut incoming = runtime
        .block_on(async { signal(kind) })
        .map_err(|e| format!("cannot install the {name} handler: {e}"))?;
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            runtime.block_on(async move {
                while incoming.recv().await.is_some() {
                    handle();
                }
            })
        })
        .map_err(|e| format!("cannot start the {thread} thread: {e}"))?;
    Ok(())
}

/// SIGUSR1 reopens the log files (after logrotate moved them).
pub fn install_log_reopen_handler() -> Result<(), String> {
    on_signal(
        SignalKind::user_defined1(),
        "SIGUSR1",
        "helmgate-reopen",
        || {
            crate::observe::log_files::reopen();
            log::info!("SIGUSR1: log files reopened");
        },
    )
}
