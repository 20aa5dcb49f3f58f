//! The one layering rule: a route's effective `[cors]` or `[headers]` is a
//! stack of raw tables, lowest first (global, environment, route, route
//! environment), and each key takes its value from the highest table that
//! sets it. Every validator asks the stack, so the rule exists once.

use super::raw::{RawConfig, RawProfile, RawRoute};
use crate::policy::env::Environment;

/// The stack of one kind of table for a site: `route` is `None` for the
/// default site. `pick` takes a table from the top level, a profile or a
/// route.
pub fn stack<'a, T>(
    raw: &'a RawConfig,
    env: Environment,
    route: Option<(&str, &'a RawRoute)>,
    kind: &str,
    top: impl Fn(&'a RawConfig) -> &'a T,
    profile: impl Fn(&'a RawProfile) -> Option<&'a T>,
    own: impl Fn(&'a RawRoute) -> Option<&'a T>,
) -> Stack<'a, T> {
    let mut s = Stack::new();
    s.push(kind, Some(top(raw)));
    s.push(format!("{env}.{kind}"), profile(raw.profile(env)));
    if let Some((table, r)) = route {
        s.push(format!("{table}.{kind}"), own(r));
        s.push(format!("{table}.{env}.{kind}"), profile(r.profile(env)));
    }
    s
}

/// `stack` for a table whose key is its field's name at the top level, in
/// profiles and in routes alike.
macro_rules! stack_of {
    ($raw:expr, $env:expr, $route:expr, $field:ident) => {
        $crate::config::layers::stack(
            $raw,
            $env,
            $route,
            stringify!($field),
            |c| &c.$field,
            |p| p.$field.as_ref(),
            |r| r.$field.as_ref(),
        )
    };
}
pub(crate) use stack_of;

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
        let pick = |s: &Stack<'_, Option<i32>>| {
            s.pick("k", |t| t.as_ref())
                .map(|p| (*p.value, p.key, p.layer))
        };
        assert_eq!(pick(&s), Some((1, "cors.k".to_string(), 0)));
        s.push("route[api].cors", Some(&route));
        assert_eq!(pick(&s), Some((3, "route[api].cors.k".to_string(), 2)));
    }
}
