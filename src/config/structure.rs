//! The shape of a config file, checked before its meaning: every unknown key
//! and every value of the wrong type at once, with its line and column, in
//! TOML's terms (integer, string, array of strings, table), and for an
//! unknown key close to a known one, the key it probably meant. The keys and
//! types come from the JSON Schema (`schema.rs`), so the file's shape is
//! described once, for editors and `--check` alike.
//!
//! Each offending item is taken out of the tree, so that the rest of the
//! file can still be deserialized and its meaning checked in the same run.

use serde_json::Value as Schema;
use toml_edit::{Item, TableLike, Value};

use super::problems::{Location, Validator};

/// Walks a parsed file against the schema, reporting through a validator.
pub struct Shape<'s, 'v, 't> {
    root: &'s Schema,
    v: &'v mut Validator<'t>,
}

impl<'s, 'v, 't> Shape<'s, 'v, 't> {
    pub fn new(root: &'s Schema, v: &'v mut Validator<'t>) -> Self {
        Shape { root, v }
    }

    /// Check the top-level table, taking out whatever is wrong in it.
    pub fn check_root(&mut self, table: &mut dyn TableLike) {
        let root = self.root;
        self.table("", table, root);
    }

    /// A schema node with its `$ref` (or one-element `allOf`) followed.
    fn resolve(&self, mut node: &'s Schema) -> &'s Schema {
        for _ in 0..8 {
            let next = node
                .get("allOf")
                .and_then(|a| a.as_array())
                .filter(|a| a.len() == 1)
                .map(|a| &a[0])
                .unwrap_or(node);
            let Some(reference) = next.get("$ref").and_then(|r| r.as_str()) else {
                return next;
            };
            let name = reference.trim_start_matches("#/definitions/");
            node = &self.root["definitions"][name];
        }
        node
    }

    /// The keys of a table; false when the table itself must be taken out
    /// (a required key is missing, so it can't be read at all).
    fn table(&mut self, path: &str, table: &mut dyn TableLike, schema: &'s Schema) -> bool {
        let properties = schema.get("properties").and_then(|p| p.as_object());
        let extra = schema.get("additionalProperties");
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        for key in keys {
            let full = join(path, &key);
            let child = match (properties.and_then(|p| p.get(&key)), extra) {
                (Some(s), _) => s,
                (None, Some(s)) if s.is_object() => s,
                _ => {
                    self.unknown(&full, &key, table, properties);
                    table.remove(&key);
                    continue;
                }
            };
            let words = closed_words(child, self.resolve(child));
            let child = self.resolve(child);
            let keep = table
                .get_mut(&key)
                .is_none_or(|item| self.item(&full, item, child) && self.word(&full, item, words));
            if !keep {
                table.remove(&key);
            }
        }
        self.required(path, table, schema)
    }

    /// A value of a closed word list the raw types read as a Rust enum (so a
    /// word outside it can't be read at all): one of its words.
    fn word(&mut self, path: &str, item: &Item, words: Option<&Vec<Schema>>) -> bool {
        let (Some(words), Some(value)) = (words, item.as_value()) else {
            return true;
        };
        if words.iter().any(|w| w.as_str() == value.as_str()) {
            return true;
        }
        let list: Vec<String> = words.iter().map(ToString::to_string).collect();
        let at = self.v.location(value.span().map_or(0, |s| s.start));
        self.v.problem_at(
            path,
            at,
            format!(
                "{} is not one of {}",
                value.to_string().trim(),
                list.join(", ")
            ),
        );
        false
    }

    /// Required keys of a table (not the top level's `[upstream]`, which the
    /// meaning checks explain better).
    fn required(&mut self, path: &str, table: &dyn TableLike, schema: &Schema) -> bool {
        if path.is_empty() {
            return true;
        }
        let mut complete = true;
        for key in schema["required"].as_array().into_iter().flatten() {
            let Some(key) = key.as_str() else { continue };
            if !table.contains_key(key) {
                let kind = self.describe(&schema["properties"][key]);
                let at = self.table_position(table);
                self.v.problem_at(
                    join(path, key),
                    at,
                    format!("missing: this table needs {key} ({kind})"),
                );
                complete = false;
            }
        }
        complete
    }

    fn table_position(&self, table: &dyn TableLike) -> Location {
        let start = table
            .iter()
            .next()
            .and_then(|(k, _)| table.get_key_value(k))
            .and_then(|(k, _)| k.span())
            .map_or(0, |s| s.start);
        self.v.location(start)
    }

    fn unknown(
        &mut self,
        full: &str,
        key: &str,
        table: &dyn TableLike,
        properties: Option<&serde_json::Map<String, Schema>>,
    ) {
        let span = table
            .get_key_value(key)
            .and_then(|(k, item)| k.span().or_else(|| item.span()));
        let at = self.v.location(span.map_or(0, |s| s.start));
        let known: Vec<&str> = properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let message = match suggestion(key, &known) {
            Some(near) => format!("unknown key; did you mean \"{near}\"?"),
            None if known.is_empty() => "unknown key: this table takes none".to_string(),
            None => format!("unknown key; this table takes {}", known.join(", ")),
        };
        self.v.problem_at(full, at, message);
    }

    /// One value against its schema; false when it must be taken out.
    fn item(&mut self, path: &str, item: &mut Item, schema: &'s Schema) -> bool {
        match item {
            Item::None => true,
            Item::Value(value) => self.value(path, value, schema),
            Item::Table(table) => {
                let span = table.span();
                self.nested(path, table, schema, span)
            }
            Item::ArrayOfTables(tables) => {
                let Some(items) = self.array_items(schema) else {
                    let span = tables.span();
                    self.mismatch(path, span, "an array of tables", schema);
                    return false;
                };
                let mut ok = true;
                for (i, table) in tables.iter_mut().enumerate() {
                    let span = table.span();
                    // Named as the meaning checks name it: `route[api]`.
                    let label = table
                        .get("name")
                        .and_then(Item::as_str)
                        .filter(|n| !n.is_empty())
                        .map_or(i.to_string(), str::to_string);
                    ok &= self.nested(&format!("{path}[{label}]"), table, items, span);
                }
                ok
            }
        }
    }

    fn nested(
        &mut self,
        path: &str,
        table: &mut dyn TableLike,
        schema: &'s Schema,
        span: Option<std::ops::Range<usize>>,
    ) -> bool {
        if !self.accepts(schema, "object") {
            self.mismatch(path, span, "a table", schema);
            return false;
        }
        self.table(path, table, schema)
    }

    /// The item schema of an array schema (resolved), if it is one.
    fn array_items(&self, schema: &'s Schema) -> Option<&'s Schema> {
        if let Some(alternatives) = schema.get("anyOf").and_then(|a| a.as_array()) {
            return alternatives.iter().find_map(|a| self.array_items(a));
        }
        (schema.get("type").and_then(|t| t.as_str()) == Some("array"))
            .then(|| self.resolve(&schema["items"]))
    }

    fn value(&mut self, path: &str, value: &mut Value, schema: &'s Schema) -> bool {
        let span = value.span();
        match value {
            Value::InlineTable(table) => self.nested(path, table, schema, span),
            Value::Array(array) => {
                let Some(items) = self.array_items(schema) else {
                    self.mismatch(path, span, found(value), schema);
                    return false;
                };
                let mut ok = true;
                for (i, element) in array.iter_mut().enumerate() {
                    ok &= self.value(&format!("{path}[{i}]"), element, items);
                }
                ok
            }
            _ if self.accepts(schema, scalar_type(value)) => true,
            _ => {
                self.mismatch(path, span, found(value), schema);
                false
            }
        }
    }

    /// Does the schema take a value of this JSON type?
    fn accepts(&self, schema: &Schema, json_type: &str) -> bool {
        if let Some(alternatives) = schema.get("anyOf").and_then(|a| a.as_array()) {
            return alternatives
                .iter()
                .any(|a| self.accepts(self.resolve(a), json_type));
        }
        match schema.get("type").and_then(|t| t.as_str()) {
            // A TOML integer is a fine number of seconds.
            Some("number") => matches!(json_type, "number" | "integer"),
            Some(t) => t == json_type,
            None => true,
        }
    }

    fn mismatch(
        &mut self,
        path: &str,
        span: Option<std::ops::Range<usize>>,
        found: &str,
        schema: &Schema,
    ) {
        let at = self.v.location(span.map_or(0, |s| s.start));
        let expected = self.describe(schema);
        self.v
            .problem_at(path, at, format!("expected {expected}, found {found}"));
    }

    /// What a schema takes, in TOML's words.
    fn describe(&self, schema: &Schema) -> String {
        let schema = self.resolve(schema);
        if let Some(alternatives) = schema.get("anyOf").and_then(|a| a.as_array()) {
            let words: Vec<String> = alternatives.iter().map(|a| self.describe(a)).collect();
            return words.join(" or ");
        }
        match schema.get("type").and_then(|t| t.as_str()) {
            Some("string") => "a string".into(),
            Some("integer") => "an integer".into(),
            Some("number") => "a number".into(),
            Some("boolean") => "true or false".into(),
            Some("object") => "a table".into(),
            Some("array") => {
                let items = self.describe(&schema["items"]);
                let plural = items
                    .strip_prefix("a ")
                    .or_else(|| items.strip_prefix("an "))
                    .map_or(items.clone(), |one| format!("{one}s"));
                format!("an array of {plural}")
            }
            _ => "a value".into(),
        }
    }
}

/// The words of an enum reached through a reference: a Rust enum. (A
/// word list on the key itself is a string the meaning checks explain.)
fn closed_words<'s>(key: &Schema, resolved: &'s Schema) -> Option<&'s Vec<Schema>> {
    if key.get("enum").is_some() {
        return None;
    }
    resolved.get("enum").and_then(|e| e.as_array())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The JSON Schema type of a scalar TOML value.
fn scalar_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) | Value::Datetime(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "number",
        Value::Boolean(_) => "boolean",
        Value::Array(_) => "array",
        Value::InlineTable(_) => "object",
    }
}

/// What a value is, in TOML's words.
fn found(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

/// The known key an unknown one was probably meant to be: at most two edits
/// away, or sharing most of its beginning (`trusted_proxy`).
pub fn suggestion<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), common_prefix(key, k), *k))
        .filter(|(d, prefix, k)| {
            let longer = key.len().max(k.len());
            *d <= 2
                || (*prefix >= 4 && prefix * 3 >= longer * 2)
                || (key.len() >= 4 && k.starts_with(key))
        })
        .min_by_key(|(d, prefix, _)| (*d, usize::MAX - prefix))
        .map(|(_, _, k)| k)
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Levenshtein distance, bytewise (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_keys_are_suggested_and_far_ones_not() {
        let known = ["trusted_proxies", "trust_all_proxies", "listen", "threads"];
        assert_eq!(suggestion("trusted_proxy", &known), Some("trusted_proxies"));
        assert_eq!(suggestion("lisen", &known), Some("listen"));
        assert_eq!(suggestion("thread", &known), Some("threads"));
        assert_eq!(suggestion("colour", &known), None);
        assert_eq!(
            suggestion("max_age", &["max_age_secs", "mode"]),
            Some("max_age_secs")
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
