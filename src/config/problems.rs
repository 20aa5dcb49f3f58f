//! Collecting what is wrong with a config file: every problem with its key,
//! the bad value and, where the value came from the file, its line and
//! column. The per-concern validators (server, upstream, cors, headers,
//! routes) all report through here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    /// 1-based line and column in the file, when the value came from it.
    pub location: Option<(usize, usize)>,
    /// The included file it is in; `None`: the main file (or no file).
    pub file: Option<PathBuf>,
    pub message: String,
}

/// Where something is: line and column, and the included file (`None`:
/// the main file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub col: usize,
    pub file: Option<PathBuf>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match self.location {
            Some((line, col)) => write!(
                f,
                "line {line}, column {col}: {}: {}",
                self.key, self.message
            ),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// The validation pass over one file: its text (for positions), the folder
/// relative paths start from, and what was found so far.
pub struct Validator<'t> {
    text: &'t str,
    /// Where each included file starts in `text` (they follow the main
    /// file, in the order they were read).
    included: Vec<(usize, PathBuf)>,
    pub base_dir: PathBuf,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl<'t> Validator<'t> {
    pub fn new(text: &'t str, base_dir: PathBuf) -> Validator<'t> {
        Validator {
            text,
            included: Vec::new(),
            base_dir,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Problems and warnings, each once: a table shared by several routes is
    /// validated once per route but reported once.
    pub fn finish(self) -> (Vec<Problem>, Vec<String>) {
        let mut problems: Vec<Problem> = Vec::with_capacity(self.problems.len());
        for p in self.problems {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
        let mut warnings: Vec<String> = Vec::with_capacity(self.warnings.len());
        for w in self.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        (problems, warnings)
    }

    /// Take the problems another pass over the same file found, each once:
    /// the pass that validated the tables of the environment not in force.
    /// Its warnings are dropped (they describe a policy that is not running);
    /// a problem the two passes share is kept once, and one only the other
    /// environment has says so when its key does not already name it.
    pub fn absorb_other_environment(&mut self, other: Validator<'_>, env: &str) {
        let marker = format!("{env}.");
        for mut p in other.problems {
            if self.problems.contains(&p) {
                continue;
            }
            if !p.key.starts_with(&marker) && !p.key.contains(&format!("].{marker}")) {
                p.message = format!("with environment {env}: {}", p.message);
            }
            self.problems.push(p);
        }
    }

    /// The files after the main one: where each starts in the text.
    pub fn with_included(mut self, included: Vec<(usize, PathBuf)>) -> Self {
        self.included = included;
        self
    }

    /// A fresh pass over the same text and files.
    pub fn shadow(&self) -> Validator<'t> {
        Validator::new(self.text, self.base_dir.clone()).with_included(self.included.clone())
    }

    /// How many problems so far: compare before and after a step to know
    /// whether it found any.
    pub fn count(&self) -> usize {
        self.problems.len()
    }

    /// The line and column of a byte offset of the text, in the file it
    /// falls in.
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let (start, file) = self
            .included
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .map_or((0, None), |(start, file)| (*start, Some(file.clone())));
        let before = self.text.get(start..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location { line, col, file }
    }

    pub fn problem<T>(
        &mut self,
        key: impl Into<String>,
        at: Option<&Spanned<T>>,
        message: impl Into<String>,
    ) {
        let at = at.map(|s| self.location(s.span().start));
        self.problems.push(Problem {
            key: key.into(),
            location: at.as_ref().map(|l| (l.line, l.col)),
            file: at.and_then(|l| l.file),
            message: message.into(),
        });
    }

    /// A problem at a position found inside a value (e.g. one CSP directive).
    pub fn problem_at(
        &mut self,
        key: impl Into<String>,
        location: Location,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            key: key.into(),
            location: Some((location.line, location.col)),
            file: location.file,
            message: message.into(),
        });
    }

    /// The file's text in a span (empty if out of range).
    pub fn text_at(&self, span: std::ops::Range<usize>) -> &str {
        self.text.get(span).unwrap_or("")
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    pub fn socket_addr(&mut self, key: &str, raw: &Spanned<String>) -> Option<SocketAddr> {
        match raw.get_ref().parse::<SocketAddr>() {
            Ok(a) if a.port() == 0 => {
                self.problem(
                    key,
                    Some(raw),
                    format!(
                        "{:?}: port 0 would listen on a random port, a different one at each start; choose a port, e.g. \"{}\"",
                        raw.get_ref(),
                        SocketAddr::new(a.ip(), 8080)
                    ),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    key,
                    Some(raw),
                    format!(
                        "{:?} is not an IP:PORT address; write e.g. \"0.0.0.0:8080\" or \"[::]:8080\"",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub fn addresses(&mut self, key: &str, raw: &[Spanned<String>]) -> Option<Vec<SocketAddr>> {
        let before = self.count();
        let addrs: Vec<SocketAddr> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.socket_addr(&format!("{key}[{i}]"), s))
            .collect();
        (self.count() == before).then_some(addrs)
    }

    pub fn int(
        &mut self,
        key: &str,
        raw: Option<&Spanned<i64>>,
        default: i64,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let Some(s) = raw else { return Some(default) };
        let v = *s.get_ref();
        if v < min || v > max {
            self.problem(
                key,
                Some(s),
                format!("{v} is out of range; use a value from {min} to {max}"),
            );
            return None;
        }
        Some(v)
    }

    pub fn secs(
        &mut self,
        key: &str,
        raw: Option<&Spanned<f64>>,
        default: f64,
    ) -> Option<Duration> {
        let Some(s) = raw else {
            return Some(Duration::from_secs_f64(default));
        };
        let v = *s.get_ref();
        if !(v > 0.0 && v <= 86_400.0) {
            self.problem(
                key,
                Some(s),
                format!("{v} is not a timeout; use seconds above 0 and at most 86400"),
            );
            return None;
        }
        Some(Duration::from_secs_f64(v))
    }

    pub fn resolve(&self, raw: &str) -> PathBuf {
        let p = PathBuf::from(raw);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }
}

/// `Validator::int` for the field `$field` of the raw table `$raw`, read
/// under the key `$table.$field`: the key a problem names can't drift from
/// the field it came from. `$range` is inclusive.
macro_rules! int_setting {
    ($v:expr, $table:literal, $raw:expr, $field:ident, $default:expr, $range:expr) => {{
        let range = $range;
        $v.int(
            concat!($table, ".", stringify!($field)),
            $raw.$field.as_ref(),
            $default,
            *range.start(),
            *range.end(),
        )
    }};
}
pub(crate) use int_setting;

/// `Validator::secs` for `$raw.$field` under the key `$table.$field`.
macro_rules! secs_setting {
    ($v:expr, $table:literal, $raw:expr, $field:ident, $default:expr) => {
        $v.secs(
            concat!($table, ".", stringify!($field)),
            $raw.$field.as_ref(),
            $default,
        )
    };
}
pub(crate) use secs_setting;
