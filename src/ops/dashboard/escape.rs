//! HTML escaping for every value the dashboard shows.

use std::fmt::{self, Write as _};

/// HTML-escapes text for element content and quoted attribute values.
pub struct Html<'a>(pub &'a str);

impl fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c if c.is_control() => write!(f, "&#xFFFD;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
