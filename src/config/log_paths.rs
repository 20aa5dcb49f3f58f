//! `[log] access_log_path` and `error_log_path`: a file that can't be
//! written is a config error at load (so `--check`, a start and a reload
//! all say which key), not lines lost later.
//!
//! The check leaves no trace: an existing file is opened for appending and
//! nothing is written; for a new one, a probe file is created beside it and
//! removed. Creating the log file itself would leave it owned by whoever
//! ran `--check` (root, say), and the service's user could not write it.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::problems::Validator;

impl Validator<'_> {
    /// `Some(None)`: not set, stderr. `None`: a problem was recorded.
    pub fn log_path(
        &mut self,
        key: &str,
        raw: Option<&Spanned<String>>,
    ) -> Option<Option<PathBuf>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let text = raw.get_ref().trim();
        if text.is_empty() {
            self.problem(
                key,
                Some(raw),
                "is empty: name a file, or remove the key to log to stderr",
            );
            return None;
        }
        let path = self.resolve(text);
        match writable(&path) {
            Ok(()) => Some(Some(path)),
            Err(why) => {
                self.problem(
                    key,
                    Some(raw),
                    format!(
                        "{} can't be written: {why}; make it writable by the user helmgate runs as (the Debian package's unit may write /var/log/helmgate), or remove the key to log to stderr",
                        path.display()
                    ),
                );
                None
            }
        }
    }
}

fn writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("it is a directory".to_string());
    }
    if path.exists() {
        return OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!("the directory {} does not exist", dir.display()));
    }
    let probe = dir.join(format!(".helmgate-write-test-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("no file can be created in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
