//! The per-route tables added after `[cors]` and `[headers]`
//! (`[fetch_metadata]`, `[cookies]`): each is layered like them (top level,
//! `[ENV.x]`, `[route.x]`, `[route.ENV.x]`) and validated into its site once
//! the sites exist.

use super::layers::Stack;
use super::problems::Validator;
use super::raw::{RawConfig, RawProfile, RawRoute};
use crate::policy::env::Environment;
use crate::policy::SitePolicy;

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
            let fetch = stack(
                raw,
                env,
                route,
                "fetch_metadata",
                |c| &c.fetch_metadata,
                |p| p.fetch_metadata.as_ref(),
                |r| r.fetch_metadata.as_ref(),
            );
            let fetch = self.fetch_metadata(&fetch);
            let cookies = stack(
                raw,
                env,
                route,
                "cookies",
                |c| &c.cookies,
                |p| p.cookies.as_ref(),
                |r| r.cookies.as_ref(),
            );
            let cookies = self.cookies(&cookies);
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
