//! Shared by the fuzz targets in `fuzz_targets/` and by helmgate's
//! `tests/fuzz_corpus.rs`, which includes `checks.rs` directly.

pub mod checks;
