//! Per-response CSP nonces: minted from the operating system's CSPRNG, and
//! written into HTML bodies in place of a placeholder, streaming.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::HeaderValue;

/// 128 bits from the OS CSPRNG, base64: what CSP3 asks of a nonce.
pub fn mint() -> HeaderValue {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        // The OS has no entropy to give: no nonce is safer than a guessable
        // one, so the policy's nonce source then matches nothing.
        return HeaderValue::from_static("unavailable");
    }
    let text = STANDARD.encode(raw);
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("unavailable"))
}

/// Replaces every occurrence of a placeholder in a body that arrives in
/// chunks, holding back only the bytes that could be the start of one split
/// across a chunk boundary.
#[derive(Debug)]
pub struct Replacer {
    needle: Box<[u8]>,
    with: Bytes,
    carry: Vec<u8>,
}

impl Replacer {
    pub fn new(needle: &[u8], with: Bytes) -> Replacer {
        Replacer {
            needle: needle.into(),
            with,
            carry: Vec::new(),
        }
    }

    /// The bytes to send for this chunk. With `end`, everything held back.
    pub fn feed(&mut self, chunk: &[u8], end: bool) -> Bytes {
        if self.needle.is_empty() {
            return Bytes::copy_from_slice(chunk);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(data.len() + self.with.len());
        let mut i = 0;
        while let Some(at) = find(&data[i..], &self.needle) {
            out.extend_from_slice(&data[i..i + at]);
            out.extend_from_slice(&self.with);
            i += at + self.needle.len();
        }
        let rest = &data[i..];
        let hold = if end {
            0
        } else {
            partial_suffix(rest, &self.needle)
        };
        out.extend_from_slice(&rest[..rest.len() - hold]);
        self.carry = rest[rest.len() - hold..].to_vec();
        Bytes::from(out)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest suffix of `data` that is a proper prefix of
/// `needle`.
fn partial_suffix(data: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(data.len() + 1))
        .rev()
        .find(|&k| data[data.len() - k..] == needle[..k])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> String {
        let mut r = Replacer::new(b"__CSP_NONCE__", Bytes::from_static(b"N0nce=="));
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            out.extend_from_slice(&r.feed(c.as_bytes(), i + 1 == chunks.len()));
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn nonces_are_fresh_128_bit_base64() {
        let a = mint();
        assert_eq!(a.len(), 24);
        assert_eq!(STANDARD.decode(a.as_bytes()).unwrap().len(), 16);
        assert_ne!(a, mint());
    }

    #[test]
    fn placeholders_are_replaced_wherever_the_chunks_split_them() {
        let html = "<script nonce=\"__CSP_NONCE__\">a</script><style nonce=__CSP_NONCE__>";
        let want = html.replace("__CSP_NONCE__", "N0nce==");
        for split in 0..=html.len() {
            let (a, b) = html.split_at(split);
            assert_eq!(run(&[a, b]), want, "split at {split}");
        }
        let bytes: Vec<String> = html.chars().map(String::from).collect();
        let chunks: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(run(&chunks), want);
    }

    #[test]
    fn near_misses_and_trailing_prefixes_pass_through() {
        assert_eq!(run(&["__CSP_NONCE", "_ __CSP_"]), "__CSP_NONCE_ __CSP_");
        assert_eq!(run(&["___CSP_NONCE__"]), "_N0nce==");
        assert_eq!(run(&["no placeholder", ""]), "no placeholder");
    }
}
