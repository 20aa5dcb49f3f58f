//! The man pages: helmgate(1) from the clap definitions (as `--help`), with
//! the sections clap knows nothing of (FILES, SIGNALS, EXIT STATUS,
//! ENVIRONMENT, SEE ALSO), and helmgate.toml(5) from the config's JSON
//! Schema, the same source as `helmgate schema`: every key with its type,
//! default and meaning, so the page cannot drift from the config types.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;

use serde_json::{Map, Value};

use crate::cli;
use crate::config::schema;

mod text;

/// helmgate(1), as `helmgate manpage` prints it.
pub fn helmgate_1() -> io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cli::command().disable_help_subcommand(true)).render(&mut page)?;
    let page = String::from_utf8_lossy(&page).into_owned();
    // Before VERSION, which clap writes last.
    let at = page.find("\n.SH VERSION").map_or(page.len(), |i| i + 1);
    let mut out = page[..at].to_string();
    out.push_str(text::HELMGATE_1_SECTIONS);
    out.push_str(&page[at..]);
    Ok(out.into_bytes())
}

/// Writes helmgate.1, a page per subcommand and helmgate.toml.5 into `dir`.
pub fn write_pages(dir: &Path) -> io::Result<()> {
    clap_mangen::generate_to(cli::command(), dir)?;
    std::fs::write(dir.join("helmgate.1"), helmgate_1()?)?;
    std::fs::write(dir.join("helmgate.toml.5"), helmgate_toml_5())
}

/// helmgate.toml(5).
pub fn helmgate_toml_5() -> String {
    let schema = schema::json_schema();
    let mut out = format!(
        ".TH helmgate.toml 5 \"\" \"helmgate {}\" \"File Formats\"\n.nh\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(text::TOML_5_HEAD);
    out.push_str(".SH KEYS\n");
    for section in sections(&schema) {
        section.render(&mut out);
    }
    out.push_str(text::TOML_5_TAIL);
    out
}

/// One table of the file (or the top level) and its keys.
struct Section {
    heading: String,
    description: String,
    entries: Vec<Entry>,
}

struct Entry {
    key: String,
    kind: String,
    meaning: String,
    default: Option<String>,
}

impl Section {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(".SS \"{}\"\n", escape(&self.heading)));
        if !self.description.is_empty() {
            out.push_str(&format!("{}\n", inline(&self.description)));
        }
        for e in &self.entries {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (\\fI{}\\fR)\n{}\n",
                escape(&e.key),
                escape(&e.kind),
                inline(&e.meaning)
            ));
            if let Some(default) = &e.default {
                out.push_str(&format!(".br\n{}\n", inline(default)));
            }
        }
    }
}

/// Every table, breadth first from the top level: a table's keys are listed
/// once, under the first name it has; every other place it appears says
/// whose keys it takes (`[route.cors]`: the keys of `[cors]`).
fn sections(root: &Value) -> Vec<Section> {
    let defs = root.get("definitions").unwrap_or(&Value::Null);
    let mut listed: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([("Top level".to_string(), String::new(), root)]);
    let mut out = Vec::new();
    while let Some((heading, path, table)) = queue.pop_front() {
        let mut section = Section {
            heading,
            description: description(table).to_string(),
            entries: Vec::new(),
        };
        for (key, prop) in properties(table) {
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let (meaning, default) = meaning_and_default(description(prop));
            let kind = match subtable(defs, prop, &full) {
                Some(Subtable {
                    def,
                    heading,
                    body,
                    shape,
                }) => match listed.get(&def) {
                    Some(first) if *first != heading => format!("{shape}: the keys of {first}"),
                    _ => {
                        listed.insert(def, heading.clone());
                        queue.push_back((heading.clone(), full.clone(), body));
                        format!("{shape}, see {heading}")
                    }
                },
                None => scalar_kind(defs, prop),
            };
            section.entries.push(Entry {
                key: key.clone(),
                kind,
                meaning,
                default,
            });
        }
        out.push(section);
    }
    out
}

fn properties(table: &Value) -> impl Iterator<Item = (&String, &Value)> {
    table
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::iter)
}

fn description(v: &Value) -> &str {
    v.get("description").and_then(Value::as_str).unwrap_or("")
}

/// The definition a `$ref` (bare or in a one-element `allOf`) names.
fn referenced<'a>(defs: &'a Value, v: &Value) -> Option<(String, &'a Value)> {
    let target = v
        .get("$ref")
        .or_else(|| v.get("allOf")?.get(0)?.get("$ref"))?
        .as_str()?;
    let name = target.rsplit('/').next()?;
    Some((name.to_string(), defs.get(name)?))
}

/// A key that holds keys of its own.
struct Subtable<'a> {
    /// The definition's name in the schema.
    def: String,
    /// Its section heading at this key: `[path]`, `[[path]]`, `[path.NAME]`.
    heading: String,
    body: &'a Value,
    /// "table", "array of tables" or "tables by name".
    shape: &'static str,
}

fn subtable<'a>(defs: &'a Value, prop: &Value, path: &str) -> Option<Subtable<'a>> {
    let table = |v: Option<&Value>| {
        v.and_then(|v| referenced(defs, v))
            .filter(|(_, body)| body.get("properties").is_some())
    };
    let (heading, shape, (def, body)) = if let Some(found) = table(Some(prop)) {
        (format!("[{path}]"), "table", found)
    } else if let Some(found) = table(prop.get("items")) {
        (format!("[[{path}]]"), "array of tables", found)
    } else {
        let found = table(prop.get("additionalProperties"))?;
        (format!("[{path}.NAME]"), "tables by name", found)
    };
    Some(Subtable {
        def,
        heading,
        body,
        shape,
    })
}

/// A value's type in TOML's words.
fn scalar_kind(defs: &Value, prop: &Value) -> String {
    let v = referenced(defs, prop).map_or(prop, |(_, body)| body);
    if let Some(words) = v.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = words.iter().map(Value::to_string).collect();
        return format!("string: {}", words.join(" or "));
    }
    // An untagged enum (`http_only`: true, false or names).
    if let Some(choices) = v
        .get("anyOf")
        .or_else(|| v.get("oneOf"))
        .and_then(Value::as_array)
    {
        let kinds: Vec<String> = choices.iter().map(|c| scalar_kind(defs, c)).collect();
        return kinds.join(" or ");
    }
    match v.get("type").and_then(Value::as_str) {
        Some("array") => {
            let item = v
                .get("items")
                .map_or("value".to_string(), |i| scalar_kind(defs, i));
            format!("array of {item}s")
        }
        Some("object") => {
            let value = v
                .get("additionalProperties")
                .filter(|a| a.is_object())
                .map_or("value".to_string(), |a| scalar_kind(defs, a));
            format!("table of {value}s")
        }
        Some("number") => "number".to_string(),
        Some(other) => other.to_string(),
        None => "value".to_string(),
    }
}

/// The doc comments carry the default: "... Default 20.", "... Default:
/// off.", `"text" (the default) or ...`, or "(required)". The meaning loses
/// a trailing "Default ..." sentence, which becomes the default line.
fn meaning_and_default(text: &str) -> (String, Option<String>) {
    if text.contains("(required)") {
        return (text.to_string(), Some("Required.".to_string()));
    }
    let at = text
        .rfind(". Default")
        .map(|i| i + 2)
        .or_else(|| text.starts_with("Default").then_some(0));
    if let Some(at) = at {
        let rest = &text[at + "Default".len()..];
        let end = rest
            .find("; ")
            .or_else(|| rest.find(". "))
            .unwrap_or(rest.len());
        let value = rest[..end]
            .trim_start_matches(':')
            .trim()
            .trim_end_matches('.');
        // Only a final sentence leaves the meaning; one with more after it
        // stays there too.
        let meaning = if end == rest.len() {
            text[..at].trim_end()
        } else {
            text
        };
        return (meaning.to_string(), Some(format!("Default: {value}.")));
    }
    if let Some(at) = text.find(" (the default)") {
        let value = text[..at].rsplit(' ').next().unwrap_or("");
        return (text.to_string(), Some(format!("Default: {value}.")));
    }
    (text.to_string(), None)
}

/// Text for roff: backslashes and hyphens escaped, no line starting with a
/// control character.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    text.lines()
        .map(|line| {
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code` spans in bold, the rest escaped.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("\\fB{}\\fR", escape(part))
            } else {
                escape(part)
            }
        })
        .collect::<String>()
        .replace("\n\n", "\n.PP\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_out_of_the_doc_comments() {
        let cases = [
            (
                "One line per request. Default true.",
                "One line per request.",
                "Default: true.",
            ),
            (
                "The listener. Default: off.",
                "The listener.",
                "Default: off.",
            ),
            (
                "\"text\" (the default) or \"json\".",
                "\"text\" (the default) or \"json\".",
                "Default: \"text\".",
            ),
            (
                "\"HOST:PORT\" of the app (required).",
                "\"HOST:PORT\" of the app (required).",
                "Required.",
            ),
            (
                "Listeners. Default `[]`; at least one. More.",
                "Listeners. Default `[]`; at least one. More.",
                "Default: `[]`.",
            ),
        ];
        for (text, meaning, default) in cases {
            let (m, d) = meaning_and_default(text);
            assert_eq!(m, meaning, "{text}");
            assert_eq!(d.as_deref(), Some(default), "{text}");
        }
        assert_eq!(meaning_and_default("No default here.").1, None);
    }

    #[test]
    fn roff_text_never_starts_a_line_with_a_control_character() {
        assert_eq!(escape(".hidden\n'also"), "\\&.hidden\n\\&'also");
        assert_eq!(inline("a `x-y` b\\"), "a \\fBx\\-y\\fR b\\e");
    }
}
