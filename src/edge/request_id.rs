//! Keep the client's `X-Request-Id` when it is sane, or make one.

use http::header::{HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// A sane id is short and made of characters that are safe in logs, URLs and
/// shell pipelines; anything else is replaced rather than escaped.
pub fn is_sane(raw: &[u8]) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_LEN
        && raw.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'=' | b'/')
        })
}

/// The id for this request: the client's if sane, otherwise 32 random hex digits.
pub fn keep_or_generate(incoming: Option<&HeaderValue>) -> HeaderValue {
    match incoming {
        Some(v) if is_sane(v.as_bytes()) => v.clone(),
        _ => generate(),
    }
}

pub fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u128(..);
    let mut out = [0u8; 32];
    for byte in out.iter_mut().rev() {
        *byte = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
    match HeaderValue::from_bytes(&out) {
        Ok(v) => v,
        Err(_) => HeaderValue::from_static("0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept() {
        let v = HeaderValue::from_static("req-123_abc.def:9");
        assert_eq!(keep_or_generate(Some(&v)), v);
    }

    #[test]
    fn odd_or_long_ids_are_replaced() {
        for bad in ["", "has space", "quote\"", &"x".repeat(129)] {
            let v = HeaderValue::from_str(bad).unwrap();
            let id = keep_or_generate(Some(&v));
            assert_ne!(id, v);
            assert_eq!(id.len(), 32);
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(generate(), generate());
    }
}
