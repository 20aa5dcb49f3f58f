//! Running the gateway: building Pingora's server and listeners, signals and
//! reloads (`server`), the admin listener and its dashboard, `--check`'s
//! description of the effective policy, and `helmgate healthcheck`.
//!
//! May use every layer below it.

pub mod acme;
pub mod admin;
pub mod dashboard;
pub mod describe;
pub mod files;
pub mod healthcheck;
pub mod learning;
pub mod server;
pub mod signals;
pub mod suggest;
