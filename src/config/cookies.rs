//! `[cookies]` at any layer: the attributes the gateway adds to the
//! upstream's `Set-Cookie` headers, folded from a stack.

use super::layers::Stack;
use super::problems::Validator;
use super::raw::{RawCookies, RawHttpOnly};
use crate::policy::cookies::{CookiePolicy, HttpOnly, SameSite};

/// A cookie name as RFC 6265 allows it: a token.
fn cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

impl Validator<'_> {
    pub fn cookies(&mut self, stack: &Stack<'_, RawCookies>) -> Option<CookiePolicy> {
        let before = self.count();
        let mut out = CookiePolicy::default();
        if let Some(p) = stack.pick("secure", |c| c.secure.as_ref()) {
            out.secure = *p.value;
        }
        if let Some(p) = stack.pick("http_only", |c| c.http_only.as_ref()) {
            out.http_only = match p.value {
                RawHttpOnly::All(true) => HttpOnly::All,
                RawHttpOnly::All(false) => HttpOnly::None,
                RawHttpOnly::Names(names) => {
                    let mut list: Vec<Box<str>> = Vec::new();
                    for (i, n) in names.iter().enumerate() {
                        if !cookie_name(n) {
                            self.problem::<()>(
                                format!("{}[{i}]", p.key),
                                None,
                                format!("{n:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~, no spaces)"),
                            );
                        } else if !list.iter().any(|l| **l == **n) {
                            list.push(n.as_str().into());
                        }
                    }
                    if list.is_empty() {
                        HttpOnly::None
                    } else {
                        HttpOnly::Names(list)
                    }
                }
            };
        }
        if let Some(p) = stack.pick("same_site", |c| c.same_site.as_ref()) {
            let text = p.value.get_ref();
            if !text.is_empty() {
                match SameSite::parse(text) {
                    Some(s) => out.same_site = Some(s),
                    None => self.problem(
                        &p.key,
                        Some(p.value),
                        format!("{text:?} is not a SameSite value; use \"Lax\", \"Strict\", \"None\" or \"\" (leave the upstream's)"),
                    ),
                }
            }
        }
        if let Some(p) = stack.pick("override", |c| c.override_upstream.as_ref()) {
            out.override_upstream = *p.value;
        }
        (self.count() == before).then_some(out)
    }
}
