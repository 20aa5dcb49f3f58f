//! The one layering rule: a route's effective `[cors]` or `[headers]` is a
//! stack of raw tables, lowest first (global, environment, route, route
//! environment), and each key takes its value from the highest table that
//! sets it. Every validator asks the stack, so the rule exists once.

/// A stack of raw tables of one kind, each with its name for messages
/// (`cors`, `production.cors`, `route[api].cors` ...).
pub struct Stack<'a, T> {
    layers: Vec<(String, &'a T)>,
}

/// A value taken from a stack.
pub struct Picked<'a, V: ?Sized> {
    pub value: &'a V,
    /// The full config key it came from (`route[api].cors.allowed_origins`).
    pub key: String,
    /// The position of its table in the stack, 0 the lowest.
    pub layer: usize,
}

impl<'a, T> Stack<'a, T> {
    pub fn new() -> Stack<'a, T> {
        Stack { layers: Vec::new() }
    }

    /// Put a table on top, if there is one.
    pub fn push(&mut self, name: impl Into<String>, table: Option<&'a T>) {
        if let Some(t) = table {
            self.layers.push((name.into(), t));
        }
    }

    /// The same stack with one more table on top.
    pub fn with(&self, name: impl Into<String>, table: Option<&'a T>) -> Stack<'a, T> {
        let mut s = Stack {
            layers: self.layers.clone(),
        };
        s.push(name, table);
        s
    }

    /// The value of one key from the highest table that sets it.
    pub fn pick<V: ?Sized>(
        &self,
        key: &str,
        field: impl Fn(&'a T) -> Option<&'a V>,
    ) -> Option<Picked<'a, V>> {
        self.layers
            .iter()
            .enumerate()
            .rev()
            .find_map(|(layer, (name, t))| {
                field(t).map(|value| Picked {
                    value,
                    key: format!("{name}.{key}"),
                    layer,
                })
            })
    }

    /// Every table with its name, lowest first.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &'a T)> + '_ {
        self.layers.iter().map(|(name, t)| (name.as_str(), *t))
    }

    /// The name of the highest table (for messages about the whole stack).
    pub fn name_of_top(&self) -> &str {
        self.layers
            .last()
            .map_or("headers", |(name, _)| name.as_str())
    }

    /// How many tables the stack holds.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
}

impl<T> Default for Stack<'_, T> {
    fn default() -> Self {
        Stack::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_table_that_sets_a_key_wins() {
        let (global, env, route) = (Some(1), None, Some(3));
        let mut s: Stack<'_, Option<i32>> = Stack::new();
        s.push("cors", Some(&global));
        s.push("production.cors", Some(&env));
        let top = s.with("route[api].cors", Some(&route));
        let pick = |s: &Stack<'_, Option<i32>>| {
            s.pick("k", |t| t.as_ref())
                .map(|p| (*p.value, p.key, p.layer))
        };
        assert_eq!(pick(&s), Some((1, "cors.k".to_string(), 0)));
        assert_eq!(pick(&top), Some((3, "route[api].cors.k".to_string(), 2)));
    }
}
