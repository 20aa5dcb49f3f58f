//! Golden outputs: what `helmgate --check` prints for a set of files,
//! compared exactly with a file under `tests/it/golden/`.

use std::process::Command;

use super::{bin, TempDir};

/// `helmgate --check` on `files` (name, text; the first is the one given to
/// `--config`), compared exactly with `tests/it/golden/NAME`, the temporary
/// folder written `DIR`. `HELMGATE_BLESS=1` rewrites the golden file.
pub fn golden_check(golden: &str, files: &[(&str, &str)]) {
    let dir = TempDir::new("golden-check");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(dir.path().join(files[0].0))
        .arg("--check");
    for k in [
        "HELMGATE_ENV",
        "NODE_ENV",
        "CORS_ALLOWED_ORIGINS",
        "HELMGATE_CONFIG",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    let actual = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(dir.path().to_str().unwrap(), "DIR");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/golden")
        .join(golden);
    if std::env::var_os("HELMGATE_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (HELMGATE_BLESS=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "--check output differs from {}",
        path.display()
    );
}
