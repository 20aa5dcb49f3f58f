//! The files of one configuration: the main file and the files its
//! top-level `include` globs match (relative to it, each glob's matches in
//! sorted order), read as if appended to it: `[[route]]` entries add up and
//! tables merge, but a key set in two files is an error naming both. Every
//! file is re-read on each load, so SIGHUP sees a file added to `conf.d/`.
//!
//! The files are validated as one text (each after the one before), so a
//! position anywhere in it names its file; each file is parsed on its own,
//! with its start padded so its spans fall where it is in that text.

use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, Table};

use super::problems::Validator;
use super::ConfigError;

/// One file of the configuration.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// The main file (its text already read) and every file it includes, each
/// read and its TOML syntax checked.
pub fn read_all(main: &Path, text: &str) -> Result<Vec<Source>, ConfigError> {
    let doc = parse(main, text)?;
    let mut sources = vec![Source {
        path: main.to_path_buf(),
        text: text.to_string(),
    }];
    for path in included(main, doc.as_table())? {
        if sources.iter().any(|s| s.path == path) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Include {
            path: path.clone(),
            main: main.to_path_buf(),
            source,
        })?;
        parse(&path, &text)?;
        sources.push(Source { path, text });
    }
    Ok(sources)
}

fn parse<'t>(path: &Path, text: &'t str) -> Result<ImDocument<&'t str>, ConfigError> {
    ImDocument::parse(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// The files the main file's `include` globs match, in order. A glob that
/// matches nothing adds nothing; a malformed glob or a folder that can't be
/// listed is an error. (An `include` that is not an array of strings is
/// left to the shape check.)
fn included(main: &Path, table: &Table) -> Result<Vec<PathBuf>, ConfigError> {
    let Some(patterns) = table.get("include").and_then(Item::as_array) else {
        return Ok(Vec::new());
    };
    let base = main.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for pattern in patterns.iter().filter_map(|p| p.as_str()) {
        let full = base.join(pattern);
        let bad = |message: String| ConfigError::Glob {
            main: main.to_path_buf(),
            pattern: pattern.to_string(),
            message,
        };
        let matches = glob::glob(&full.to_string_lossy()).map_err(|e| bad(e.to_string()))?;
        let mut found = Vec::new();
        for entry in matches {
            found.push(entry.map_err(|e| bad(e.to_string()))?);
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// The files as one text, and where each file after the main one starts.
pub fn joined(sources: &[Source]) -> (String, Vec<(usize, PathBuf)>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if i > 0 {
            starts.push((text.len(), s.path.clone()));
        }
        text.push_str(&s.text);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    (text, starts)
}

/// Every file's tree merged into the main file's; a key set in two files
/// is a problem (the first file's value is kept).
pub fn merged(v: &mut Validator<'_>, sources: &[Source], main: &Path) -> Table {
    let mut root = Table::new();
    let mut offset = 0;
    for (i, s) in sources.iter().enumerate() {
        let padded = format!("{}{}", " ".repeat(offset), s.text);
        offset += s.text.len() + usize::from(!s.text.ends_with('\n'));
        // Parsed once already, without the padding; it can't fail now.
        let Ok(doc) = ImDocument::parse(padded) else {
            continue;
        };
        let mut table = doc.into_table();
        if i > 0 {
            if let Some((key, _)) = table.get_key_value("include") {
                let at = v.location(key.span().map_or(0, |s| s.start));
                v.problem_at(
                    "include",
                    at,
                    "is read from the main file only: move it there",
                );
            }
            table.remove("include");
        }
        merge(v, "", &mut root, &table, main);
    }
    root
}

fn merge(v: &mut Validator<'_>, path: &str, into: &mut Table, from: &Table, main: &Path) {
    for (name, item) in from.iter() {
        let Some((key, _)) = from.get_key_value(name) else {
            continue;
        };
        let full = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        let first = into.key(name).and_then(|k| k.span()).map(|s| s.start);
        match (into.get_mut(name), item) {
            (None, _) => {
                into.insert_formatted(key, item.clone());
            }
            (Some(Item::Table(a)), Item::Table(b)) => merge(v, &full, a, b, main),
            (Some(Item::ArrayOfTables(a)), Item::ArrayOfTables(b)) => {
                for t in b.iter() {
                    a.push(t.clone());
                }
            }
            (Some(_), _) => {
                let before = v.location(first.unwrap_or(0));
                let file = before.file.clone().unwrap_or_else(|| main.to_path_buf());
                let at = v.location(key.span().map_or(0, |s| s.start));
                let here = at.file.clone().unwrap_or_else(|| main.to_path_buf());
                v.problem_at(
                    full,
                    at,
                    format!(
                        "set in two files: {} line {} and {} line {}; set it in one of them",
                        file.display(),
                        before.line,
                        here.display(),
                        at_line(v, key.span())
                    ),
                );
            }
        }
    }
}

fn at_line(v: &Validator<'_>, span: Option<std::ops::Range<usize>>) -> usize {
    v.location(span.map_or(0, |s| s.start)).line
}
