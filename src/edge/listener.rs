//! Which kind of listener a request came in on: how the gateway's own
//! answers there are decorated and logged.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Proxy,
    Redirect,
    Admin,
}
