//! `[headers]` at any layer: the preset, each named header of
//! `headers::TABLE`, and `remove_x_powered_by`, folded from a stack.

use http::header::HeaderValue;

use super::layers::Stack;
use super::problems::Validator;
use super::raw::RawHeaders;
use crate::env::Environment;
use crate::headers::{HeaderSettings, Preset, TABLE};

impl Validator<'_> {
    pub fn header_settings(
        &mut self,
        env: Environment,
        stack: &Stack<'_, RawHeaders>,
    ) -> Option<HeaderSettings> {
        let before = self.count();
        let preset = match stack.pick("preset", |h| h.preset.as_ref()) {
            None => Preset::Seed,
            Some(p) => match Preset::parse(p.value.get_ref()) {
                Some(preset) => preset,
                None => {
                    self.problem(
                        &p.key,
                        Some(p.value),
                        format!(
                            "{:?} is not a preset; use \"seed\" (the default) or \"hardened\"",
                            p.value.get_ref()
                        ),
                    );
                    Preset::Seed
                }
            },
        };
        let mut settings = HeaderSettings::defaults(env, preset);
        for (row, slot) in TABLE.iter().zip(settings.values.iter_mut()) {
            let Some(p) = stack.pick(row.key, |h| h.named(row.key)) else {
                continue;
            };
            let text = p.value.get_ref().trim();
            if HeaderValue::from_str(text).is_err() {
                self.problem(
                    &p.key,
                    Some(p.value),
                    "is not a valid header value (control characters or non-ASCII)",
                );
                continue;
            }
            *slot = (!text.is_empty()).then(|| text.to_string());
        }
        if let Some(p) = stack.pick("remove_x_powered_by", |h| h.remove_x_powered_by.as_ref()) {
            settings.remove_x_powered_by = *p.value;
        }
        (self.count() == before).then_some(settings)
    }
}
