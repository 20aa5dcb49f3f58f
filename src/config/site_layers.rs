//! The per-route tables added after `[cors]` and `[headers]`
//! (`[fetch_metadata]`, `[cookies]`): each is layered like them (top level,
//! `[ENV.x]`, `[route.x]`, `[route.ENV.x]`) and validated into its site once
//! the sites exist.

use super::layers::stack_of;
use super::problems::Validator;
use super::raw::{RawConfig, RawRoute};
use crate::policy::env::Environment;
use crate::policy::SitePolicy;

/// A route's table name in messages, as `sites` spells it.
fn table_name(i: usize, route: &RawRoute) -> String {
    let name = route.name.get_ref();
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        format!("route[{name}]")
    } else {
        format!("route[{i}]")
    }
}

impl Validator<'_> {
    /// Fill in each site's later tables. `sites[0]` is the default site,
    /// `sites[i + 1]` route `i`; a site that failed already stays `None`.
    pub fn site_layers(
        &mut self,
        raw: &RawConfig,
        env: Environment,
        sites: &mut [Option<SitePolicy>],
    ) {
        for (i, slot) in sites.iter_mut().enumerate() {
            let table;
            let route = match i.checked_sub(1) {
                None => None,
                Some(r) => {
                    let route = &raw.routes[r];
                    table = table_name(r, route);
                    Some((table.as_str(), route))
                }
            };
            let fetch = self.fetch_metadata(&stack_of!(raw, env, route, fetch_metadata));
            let cookies = self.cookies(&stack_of!(raw, env, route, cookies));
            match (slot.as_mut(), fetch, cookies) {
                (Some(site), Some(f), Some(c)) => {
                    site.fetch_metadata = f;
                    site.cookies = c;
                }
                _ => *slot = None,
            }
        }
    }
}
