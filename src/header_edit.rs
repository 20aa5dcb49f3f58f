//! Overwriting a header that may already be there.
//!
//! Pingora's `insert_header` over a header that came from the wire did not
//! always replace it: with some processes (it varied from one start to the
//! next) the client's `X-Forwarded-For: 6.6.6.6` reached the upstream
//! unchanged after we inserted ours. Removing every value first and then
//! inserting was correct in every run, so all overwrites go through here.

use http::header::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};

/// Set `name` to exactly `value` on a response.
pub fn replace_response(resp: &mut ResponseHeader, name: &HeaderName, value: HeaderValue) {
    // A lookup is cheaper than a removal, and most of our headers are new.
    if resp.headers.contains_key(name) {
        resp.remove_header(name);
    }
    // Only fails for an invalid name, and ours are constants.
    let _ = resp.insert_header(name.clone(), value);
}

/// Set `name` to exactly `value` on a request, or remove it for `None`.
pub fn replace_request(
    req: &mut RequestHeader,
    name: &HeaderName,
    value: Option<HeaderValue>,
) -> pingora::Result<()> {
    if req.headers.contains_key(name) {
        req.remove_header(name);
    }
    if let Some(v) = value {
        req.insert_header(name.clone(), v)?;
    }
    Ok(())
}
