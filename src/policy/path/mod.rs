//! Request paths: the one canonical spelling the router matches and the
//! upstream receives (`canonical`), and the other ways common upstreams read
//! a path (`readings`), which the router uses to refuse a path whose route
//! would depend on the reading. Pure byte functions: no config, no session.

mod canonical;
pub mod readings;

pub use canonical::{canonicalize, CanonicalPath, PathRefusal};
