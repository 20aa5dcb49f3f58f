//! Overwriting a header that may already be there.
//!
//! Pingora's `insert_header` over a header that came from the wire did not
//! always replace it: with some processes (it varied from one start to the
//! next) the client's `X-Forwarded-For: 6.6.6.6` reached the upstream
//! unchanged after we inserted ours. Removing every value first and then
//! inserting was correct in every run, so all overwrites go through here.
//!
//! Pingora keeps each header's wire spelling beside the map and builds it
//! from a `HeaderName` by copying; a [`Name`] carries its spelling pre-built,
//! so setting a header allocates nothing for it.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};

/// A header name with its wire spelling, built once.
#[derive(Debug, Clone)]
pub struct Name {
    pub header: HeaderName,
    spelling: Bytes,
}

impl Name {
    /// `name` must be lower-case, as `HeaderName::from_static` requires.
    pub const fn from_static(name: &'static str) -> Name {
        Name {
            header: HeaderName::from_static(name),
            spelling: Bytes::from_static(name.as_bytes()),
        }
    }

    pub fn new(header: HeaderName) -> Name {
        let spelling = Bytes::copy_from_slice(header.as_str().as_bytes());
        Name { header, spelling }
    }
}

/// Set `name` to exactly `value` on a response.
pub fn replace_response(resp: &mut ResponseHeader, name: &Name, value: HeaderValue) {
    // A lookup is cheaper than a removal, and most of our headers are new.
    if resp.headers.contains_key(&name.header) {
        resp.remove_header(&name.header);
    }
    // Only fails for an invalid name, and ours are validated.
    let _ = resp.insert_header(name.spelling.clone(), value);
}

/// Set `name` on a response that can't hold it yet (one we are building).
pub fn insert_response(resp: &mut ResponseHeader, name: &Name, value: HeaderValue) {
    let _ = resp.insert_header(name.spelling.clone(), value);
}

/// Set `name` to exactly `value` on a request, or remove it for `None`.
pub fn replace_request(
    req: &mut RequestHeader,
    name: &Name,
    value: Option<HeaderValue>,
) -> pingora::Result<()> {
    if req.headers.contains_key(&name.header) {
        req.remove_header(&name.header);
    }
    if let Some(v) = value {
        req.insert_header(name.spelling.clone(), v)?;
    }
    Ok(())
}
