//! The 403 for a refused origin.

use http::header::{HeaderMap, HeaderValue};
use http::StatusCode;
use pingora::http::ResponseHeader;

use crate::policy::response_head::response_with;

use super::CorsPolicy;
use crate::policy::header_edit::Name;
use crate::policy::vary;

/// The fixed body of our 403: no detail an attacker could use.
pub const REJECTED_BODY: &[u8] = b"Forbidden: origin not allowed\n";

const CONTENT_TYPE: Name = Name::from_static("content-type");
pub(super) const CONTENT_LENGTH: Name = Name::from_static("content-length");
const CACHE_CONTROL: Name = Name::from_static("cache-control");

impl CorsPolicy {
    /// The 403 for a refused origin. `Vary: Origin` keeps caches from handing
    /// it to an allowed origin.
    pub fn rejected_response(&self) -> ResponseHeader {
        // Room for the security headers decoration adds after these.
        let mut headers = HeaderMap::with_capacity(16);
        headers.insert(vary::VARY_NAME.header.clone(), self.vary_actual.clone());
        headers.insert(
            CONTENT_TYPE.header.clone(),
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            CONTENT_LENGTH.header.clone(),
            HeaderValue::from(REJECTED_BODY.len()),
        );
        headers.insert(
            CACHE_CONTROL.header.clone(),
            HeaderValue::from_static("no-store"),
        );
        response_with(StatusCode::FORBIDDEN, headers)
    }
}
