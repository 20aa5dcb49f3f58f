//! The integration tests, as one binary (as ripgrep does): each suite would
//! otherwise link Pingora on its own. Run one suite with
//! `cargo test --test it gateway::`, one test by its name.
//! `tests/allocations.rs` stays separate: it replaces the global allocator.

mod acme;
mod browser;
mod browser_learning;
mod browser_support;
mod config_hardening;
mod cookies;
mod edge_answers;
mod fetch_metadata;
mod first_run;
mod fuzz_corpus;
mod gateway;
mod hardening;
mod headers;
mod hostile;
mod learning;
mod log_files;
mod operations;
mod packaging;
mod properties;
mod route_boundary;
mod routes;
mod schema;
mod slow_body;
mod support;
mod visibility;
