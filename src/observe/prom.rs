//! Writing the Prometheus text format: one `Family` a metric, its `# HELP`
//! and `# TYPE` lines, then its samples.

use std::fmt::{Arguments, Display, Write as _};

/// One metric family of the Prometheus text: `# HELP` and `# TYPE` when it
/// is made, then one line a sample.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    pub fn counter(out: &'a mut String, name: &'static str, help: &str) -> Family<'a> {
        Family::new(out, name, "counter", help)
    }

    pub fn gauge(out: &'a mut String, name: &'static str, help: &str) -> Family<'a> {
        Family::new(out, name, "gauge", help)
    }

    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out, name }
    }

    /// `name{labels} value`; `labels` is written as given (already quoted).
    pub fn sample(&mut self, labels: Arguments<'_>, value: impl Display) {
        let _ = writeln!(self.out, "{}{{{labels}}} {value}", self.name);
    }
}
