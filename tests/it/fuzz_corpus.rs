//! Replays every committed fuzz seed (`fuzz/corpus/<target>/*`) through the
//! same checks the cargo-fuzz targets run, so a plain `cargo test` on stable
//! exercises the corpora and any crash input saved there as a regression.
//! Fuzzing itself: `fuzz/run.sh [SECONDS]`.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A fuzz target's check: panics when an invariant breaks.
type Check = fn(&[u8]);

/// Each corpus directory and the check its target runs.
const TARGETS: &[(&str, Check)] = &[
    ("origin", checks::origin),
    ("forwarded", checks::forwarded),
    ("vary", checks::vary),
    ("config", checks::config),
    ("raw_head", checks::raw_head),
    ("path", checks::path),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn replay(target: &str) {
    let check = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no check for {target}"));
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: only {} seeds; keep the committed corpus meaningful",
        dir.display(),
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("readable corpus file");
            panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus inputs failed (reproduce one with `cargo fuzz run {target} <file>` in fuzz/):\n  {}",
        failed.len(),
        files.len(),
        failed.join("\n  ")
    );
}

#[test]
fn origin_corpus_passes_the_origin_checks() {
    replay("origin");
}

#[test]
fn forwarded_corpus_passes_the_forwarding_checks() {
    replay("forwarded");
}

#[test]
fn vary_corpus_passes_the_vary_checks() {
    replay("vary");
}

#[test]
fn config_corpus_passes_the_config_checks() {
    replay("config");
}

#[test]
fn raw_head_corpus_passes_the_raw_head_checks() {
    replay("raw_head");
}

#[test]
fn path_corpus_passes_the_canonical_path_checks() {
    replay("path");
}

#[test]
fn every_corpus_directory_is_replayed() {
    let mut dirs: Vec<String> = fs::read_dir(corpus_root())
        .expect("fuzz/corpus exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    let mut known: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    known.sort();
    assert_eq!(dirs, known, "add new fuzz targets to TARGETS here");
}

/// The path check over paths made of the tokens that matter to it, so
/// `cargo test` explores well past the committed seeds.
mod path_tokens {
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "/", "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", ";", ";x=1", "admin",
        "Admin", "ADMIN", "embed", "v1", "Files", "files", "caf", "%C3%A9", "%c3", "%a9", "\u{e9}",
        "%20", "%00", "%zz", "%", "\\", "a", "%61", "%C0%AF", "%3B", " ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]
        #[test]
        fn the_path_check_holds_for_token_paths(tokens in prop::collection::vec(0..TOKENS.len(), 0..12)) {
            let mut path = String::from("/");
            for i in tokens {
                path.push_str(TOKENS[i]);
            }
            super::checks::path(path.as_bytes());
        }
    }
}
