//! Writing client-supplied values into log lines without letting them forge
//! lines or terminal escapes.

use std::fmt::{self, Write};

/// Displays bytes with everything outside printable ASCII, plus `"` and `\`,
/// escaped as `\xNN`, so a CR, LF or ESC from a client can't start a new log
/// line or drive a terminal.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                f.write_char(b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// ` (N similar lines suppressed)` after a rate-limited line, or nothing.
pub struct Suppressed(pub u64);

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 {
            write!(f, " ({} similar lines suppressed)", self.0)?;
        }
        Ok(())
    }
}

/// A client address, or `-` when there is none.
pub struct Client(pub Option<std::net::IpAddr>);

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("-"),
        }
    }
}

/// Escape into a JSON string body (without the quotes). Control characters
/// and non-ASCII are `\u00XX` escaped so the output stays one ASCII line.
pub struct JsonEscaped<'a>(pub &'a [u8]);

impl fmt::Display for JsonEscaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\u{b:04x}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_escapes_are_neutralised() {
        let s = Escaped(b"https://a.com\r\nINFO fake\x1b[31m\"").to_string();
        assert_eq!(s, "https://a.com\\x0d\\x0aINFO fake\\x1b[31m\\x22");
        assert!(!s.contains('\n') && !s.contains('\r') && !s.contains('\x1b'));
    }

    #[test]
    fn json_escaping_stays_on_one_line() {
        let s = JsonEscaped("a\"b\\c\nd\u{e9}".as_bytes()).to_string();
        assert_eq!(s, "a\\\"b\\\\c\\u000ad\\u00c3\\u00a9");
    }
}
