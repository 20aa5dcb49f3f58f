//! What the gateway tells its operators: Prometheus metrics, the access log
//! and rate-limited WARN/INFO lines, the dashboard's top-k insight, and the
//! violation-report parser. Observers read request facts and verdicts; they
//! never decide what happens to a request.
//!
//! May use: `policy`. Never `config`, `state`, `edge` or `ops`.

pub mod access_log;
pub mod blocked_log;
pub mod cert_metrics;
pub mod client_rate;
pub mod insight;
pub mod learning;
pub mod log_files;
pub mod logfmt;
pub mod logging;
pub mod metrics;
pub mod prom;
pub mod refused;
pub mod reports;
pub mod topk;
