//! The running gateway's side of policy learning: the state file loaded at
//! start, saved every minute and at shutdown; each route's suggestions
//! against the policy in force, for the dashboard and `/suggestions.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::observe::learning::suggest::{self, Current, RouteSuggestions};
use crate::observe::learning::{persist, unix_now, RouteLearning};
use crate::policy::Policy;
use crate::state::SharedState;

/// How often the state is saved.
pub const SAVE_EVERY: Duration = Duration::from_secs(60);

/// `[learning] state_file`, unless learning is turned off.
fn state_file(policy: &Policy) -> Option<&std::path::Path> {
    let learning = &policy.learning;
    learning.state_file.as_deref().filter(|_| learning.enabled)
}

/// Load `[learning] state_file` into the running state. A file that is
/// corrupt, foreign or too new is a WARN and a fresh start, never a failure.
pub fn load_at_start(state: &SharedState) {
    let policy = state.policy();
    let Some(path) = state_file(&policy) else {
        return;
    };
    match persist::load(path) {
        Ok(None) => log::info!("learning: no state at {} yet; starting fresh", path.display()),
        Ok(Some(routes)) => {
            state.learning.merge(&routes);
            log::info!(
                "learning: state of {} route(s) loaded from {}",
                routes.len(),
                path.display()
            );
        }
        Err(e) if e.is_not_ours() => {
            *lock(&NOT_OURS) = Some(path.to_path_buf());
            log::warn!(
                "learning: ignoring the state file {} ({e}); starting fresh, and leaving that file alone: the state is not saved until [learning] state_file names another file",
                path.display()
            );
        }
        Err(e) => log::warn!(
            "learning: ignoring the state file {} ({e}); starting fresh, and it will be overwritten at the next save",
            path.display()
        ),
    }
}

/// A state file found at start that is not a learning state of ours
/// (another program's file, a newer helmgate's state): never overwritten.
static NOT_OURS: Mutex<Option<PathBuf>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Save the state now, if a state file is set; a failure is a WARN.
pub fn save_now(state: &SharedState) {
    let policy = state.policy();
    let Some(path) = state_file(&policy) else {
        return;
    };
    if lock(&NOT_OURS).as_deref() == Some(path) {
        return;
    }
    // One save at a time (the minute thread and a shutdown may meet).
    static SAVING: Mutex<()> = Mutex::new(());
    let _one = lock(&SAVING);
    // The state names client networks: readable by the gateway's user only.
    let saved = persist::bounded_json(&state.learning.snapshot(), unix_now())
        .and_then(|json| crate::ops::files::replace(path, &json, 0o600));
    if let Err(e) = saved {
        log::warn!(
            "learning: cannot save the state to {}: {e}; make it writable by the user helmgate runs as",
            path.display()
        );
    }
}

/// Save every minute on a thread of its own.
pub fn spawn_saver(state: Arc<SharedState>) {
    let spawned = thread::Builder::new()
        .name("helmgate-learning".into())
        .spawn(move || loop {
            thread::sleep(SAVE_EVERY);
            save_now(&state);
        });
    if let Err(e) = spawned {
        log::warn!(
            "cannot start the learning save thread: {e}; the state is saved at shutdown only"
        );
    }
}

/// Every route's suggestions against `policy`, from `learned` (by route
/// name), in the policy's route order; `min_clients` overrides the
/// policy's.
pub fn suggestions(
    policy: &Policy,
    learned: &BTreeMap<String, RouteLearning>,
    min_clients: Option<usize>,
) -> Vec<RouteSuggestions> {
    let min = min_clients.unwrap_or(policy.learning.min_clients);
    let empty = RouteLearning::default();
    policy
        .sites
        .iter()
        .map(|site| {
            let tables = learned.get(&*site.name).unwrap_or(&empty);
            suggest::suggest(&site.name, tables, Current::of(site), min)
        })
        .collect()
}

/// The running gateway's suggestions, as `/suggestions.json` gives them.
pub fn current(state: &SharedState) -> Vec<RouteSuggestions> {
    let policy = state.policy();
    suggestions(&policy, &state.learning.snapshot(), None)
}

/// `/suggestions.json`.
pub fn suggestions_json(state: &SharedState) -> String {
    let policy = state.policy();
    let body = serde_json::json!({
        "learning": policy.learning_active(),
        "min_clients": policy.learning.min_clients,
        "routes": current(state),
    });
    serde_json::to_string_pretty(&body).unwrap_or_else(|_| "{}".into())
}

/// `/learning.json`: the raw state, in the state file's format, for
/// `helmgate suggest --admin` to merge.
pub fn state_json(state: &SharedState) -> String {
    serde_json::to_string(&persist::to_file(&state.learning.snapshot(), unix_now()))
        .unwrap_or_else(|_| "{}".into())
}
