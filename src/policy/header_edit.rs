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
use http::header::{HeaderMap, HeaderName, HeaderValue};
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

/// What decorating a response needs of its head: read the headers, set one
/// (every earlier value replaced), remove one. Pingora's `ResponseHeader`
/// keeps its case map in step and parses each name again; a caseless head's
/// bare `HeaderMap` (see `edit_response`) does neither.
pub trait HeaderEdit {
    fn headers(&self) -> &HeaderMap;
    /// Set `name` to exactly `value`.
    fn set(&mut self, name: &Name, value: HeaderValue);
    /// Remove every value of `name`.
    fn remove(&mut self, name: &HeaderName);
}

impl HeaderEdit for ResponseHeader {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn set(&mut self, name: &Name, value: HeaderValue) {
        replace_response(self, name, value);
    }

    fn remove(&mut self, name: &HeaderName) {
        if self.headers.contains_key(name) {
            self.remove_header(name);
        }
    }
}

impl HeaderEdit for HeaderMap {
    fn headers(&self) -> &HeaderMap {
        self
    }

    fn set(&mut self, name: &Name, value: HeaderValue) {
        self.insert(name.header.clone(), value);
    }

    fn remove(&mut self, name: &HeaderName) {
        HeaderMap::remove(self, name);
    }
}

/// Run `edit` over `resp`'s headers: through its `HeaderMap` directly when
/// it has no case map (helmgate's default, `[server] preserve_header_case =
/// false`, for proxied responses and our own), else through Pingora's
/// setters. The map route costs no second parse of each name and no copy of
/// its spelling: a proxied GET's dozen security headers cost about a tenth
/// of its instructions the other way.
pub fn edit_response<R>(
    resp: &mut ResponseHeader,
    edit: impl FnOnce(&mut dyn HeaderEdit) -> R,
) -> R {
    if resp.has_case() {
        return edit(resp);
    }
    // Pingora lends its map only by value: take the head apart and put it
    // back together, keeping a reason phrase that is not the status's own
    // (`From<Parts>` forgets it).
    let reason = resp
        .get_reason_phrase()
        .filter(|r| Some(*r) != resp.status.canonical_reason())
        .map(str::to_owned);
    let placeholder = ResponseHeader::from(http::Response::new(()).into_parts().0);
    let mut parts = http::response::Parts::from(std::mem::replace(resp, placeholder));
    let out = edit(&mut parts.headers);
    *resp = ResponseHeader::from(parts);
    if let Some(reason) = reason {
        let _ = resp.set_reason_phrase(Some(&reason));
    }
    out
}

/// `edit_response` for a request head. `From<Parts>` forgets a request
/// target that doesn't round-trip through the `Uri` (absolute form,
/// non-UTF-8 bytes), so such a target is put back as it was: the upstream
/// must get exactly the target the gateway routed on.
pub fn edit_request<R>(req: &mut RequestHeader, edit: impl FnOnce(&mut dyn HeaderEdit) -> R) -> R {
    if req.has_case() {
        return edit(req);
    }
    let uri_target = req
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let raw_target = (req.raw_path() != uri_target.as_bytes()).then(|| req.raw_path().to_vec());
    let end_stream = req.send_end_stream();
    let placeholder = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts = http::request::Parts::from(std::mem::replace(req, placeholder));
    let out = edit(&mut parts.headers);
    *req = RequestHeader::from(parts);
    if let Some(target) = raw_target {
        // The bytes were a valid target when Pingora parsed them.
        let _ = req.set_raw_path(&target);
    }
    if let Some(end_stream) = end_stream {
        req.set_send_end_stream(end_stream);
    }
    out
}

impl HeaderEdit for RequestHeader {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn set(&mut self, name: &Name, value: HeaderValue) {
        let _ = replace_request(self, name, Some(value));
    }

    fn remove(&mut self, name: &HeaderName) {
        if self.headers.contains_key(name) {
            self.remove_header(name);
        }
    }
}

/// Set `name` to exactly `value`, or remove it for `None`.
pub fn set_or_remove(h: &mut dyn HeaderEdit, name: &Name, value: Option<HeaderValue>) {
    match value {
        Some(value) => h.set(name, value),
        None => h.remove(&name.header),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const X_TEST: Name = Name::from_static("x-test");

    fn edited(mut resp: ResponseHeader) -> ResponseHeader {
        edit_response(&mut resp, |h| {
            h.set(&X_TEST, HeaderValue::from_static("ours"));
            h.remove(&http::header::SERVER);
        });
        resp
    }

    #[test]
    fn a_caseless_head_is_edited_in_place_and_keeps_its_reason_and_version() {
        let mut resp = ResponseHeader::build_no_case(299, None).unwrap();
        resp.set_reason_phrase(Some("Custom Reason")).unwrap();
        resp.set_version(http::Version::HTTP_10);
        resp.append_header("x-test", "upstream 1").unwrap();
        resp.append_header("x-test", "upstream 2").unwrap();
        resp.append_header("server", "app").unwrap();
        let resp = edited(resp);
        assert!(!resp.has_case());
        assert_eq!(resp.status.as_u16(), 299);
        assert_eq!(resp.version, http::Version::HTTP_10);
        assert_eq!(resp.get_reason_phrase(), Some("Custom Reason"));
        let values: Vec<_> = resp.headers.get_all("x-test").iter().collect();
        assert_eq!(values, ["ours"]);
        assert!(!resp.headers.contains_key("server"));
    }

    #[test]
    fn a_head_with_case_keeps_its_map_in_step() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.append_header("X-TEST", "upstream").unwrap();
        resp.append_header("Server", "app").unwrap();
        let resp = edited(resp);
        assert!(resp.has_case());
        let mut wire = Vec::new();
        resp.header_to_h1_wire(&mut wire);
        assert_eq!(String::from_utf8(wire).unwrap(), "x-test: ours\r\n");
    }
}
