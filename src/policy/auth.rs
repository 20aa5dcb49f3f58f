//! The admin listener's bearer token: required when it listens beyond
//! loopback, compared in constant time, never printed.

use std::fmt;

use subtle::ConstantTimeEq;

/// Shortest token accepted: 16 characters of a random token are well past
/// guessing over the network.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(Box<[u8]>);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token of visible ASCII (what fits `Authorization: Bearer` without
    /// quoting), at least [`MIN_TOKEN_LEN`] long.
    pub fn new(raw: &str) -> Result<AdminToken, String> {
        if raw.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "is {} characters long; use at least {MIN_TOKEN_LEN} random characters (e.g. `openssl rand -hex 32`)",
                raw.len()
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "must be visible ASCII without spaces (e.g. `openssl rand -hex 32`)".to_string(),
            );
        }
        Ok(AdminToken(raw.as_bytes().into()))
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`.
    /// The comparison of the token takes the same time wherever the first
    /// difference is (`subtle`, which keeps the optimiser from turning it
    /// back into an early-exit loop).
    pub fn authorizes(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let value = value.trim_ascii();
        let Some(split) = value.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, rest) = value.split_at(split);
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        let presented = rest.trim_ascii();
        // Lengths may differ in time; the token's length is no secret.
        presented.len() == self.0.len() && bool::from(presented.ct_eq(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_authorizes() {
        let t = AdminToken::new("0123456789abcdef-secret").unwrap();
        assert!(t.authorizes(Some(b"Bearer 0123456789abcdef-secret")));
        assert!(t.authorizes(Some(b"bearer   0123456789abcdef-secret ")));
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer 0123456789abcdef-secreT",
            "Bearer 0123456789abcdef-secret2",
            "Basic 0123456789abcdef-secret",
            "0123456789abcdef-secret",
        ] {
            assert!(!t.authorizes(Some(bad.as_bytes())), "{bad:?}");
        }
        assert!(!t.authorizes(None));
    }

    #[test]
    fn short_or_odd_tokens_are_refused_and_never_printed() {
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("0123456789abcdef ghi").is_err());
        assert!(AdminToken::new("0123456789abcdéf").is_err());
        let t = AdminToken::new("0123456789abcdef").unwrap();
        assert!(!format!("{t:?}").contains("0123"));
    }
}
