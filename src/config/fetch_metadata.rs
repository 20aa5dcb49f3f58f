//! `[fetch_metadata]` at any layer: the mode, the paths meant to be loaded
//! cross-site and whether same-site requests pass, folded from a stack.

use super::layers::Stack;
use super::problems::Validator;
use super::raw::RawFetchMetadata;
use super::routes::path_prefix;
use crate::policy::fetch_metadata::{FetchMetadataMode, FetchMetadataPolicy};

impl Validator<'_> {
    pub fn fetch_metadata(
        &mut self,
        stack: &Stack<'_, RawFetchMetadata>,
    ) -> Option<FetchMetadataPolicy> {
        let before = self.count();
        let mut out = FetchMetadataPolicy::default();
        if let Some(p) = stack.pick("mode", |f| f.mode.as_ref()) {
            match FetchMetadataMode::parse(p.value.get_ref()) {
                Some(mode) => out.mode = mode,
                None => self.problem(
                    &p.key,
                    Some(p.value),
                    format!(
                        "{:?} is not a mode; use \"enforce\", \"report\" or \"off\" (the default)",
                        p.value.get_ref()
                    ),
                ),
            }
        }
        if let Some(p) = stack.pick("allow_paths", |f| f.allow_paths.as_ref()) {
            for (i, s) in p.value.iter().enumerate() {
                match path_prefix(s.get_ref()) {
                    Ok(prefix) if out.allow_paths.contains(&prefix) => self.problem(
                        format!("{}[{i}]", p.key),
                        Some(s),
                        format!("{:?} is listed twice", s.get_ref()),
                    ),
                    Ok(prefix) => out.allow_paths.push(prefix),
                    Err(message) => self.problem(format!("{}[{i}]", p.key), Some(s), message),
                }
            }
            if out.allow_paths.iter().any(|p| &**p == "/") {
                self.warn(format!(
                    "{} holds \"/\": every path may be loaded cross-site, so the rule refuses nothing",
                    p.key
                ));
            }
        }
        if let Some(p) = stack.pick("allow_same_site", |f| f.allow_same_site.as_ref()) {
            out.allow_same_site = *p.value;
        }
        (self.count() == before).then_some(out)
    }
}
