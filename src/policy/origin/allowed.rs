//! The entries of `allowed_origins`: an exact origin, or a wildcard
//! (`https://*.example.com`) matched against a request's canonical origin.
//! Parsed with the one origin parser of the parent module.

use super::{Canonical, Host, Origin, OriginError, Scheme};

/// `scheme://*.suffix[:port]`: any host of one or more labels under
/// `suffix`, never `suffix` itself, with this exact scheme and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WildcardOrigin {
    pub scheme: Scheme,
    /// Lower-case, without the leading `*.`.
    pub suffix: Box<str>,
    pub port: Option<u16>,
    canonical: Box<str>,
}

impl WildcardOrigin {
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// Whether a canonical request origin falls under this pattern.
    pub fn matches(&self, origin: &Canonical<'_>) -> bool {
        origin.host_is_name
            && origin.scheme == self.scheme
            && origin.port == self.port
            && origin
                .host()
                .strip_suffix(&*self.suffix)
                .is_some_and(|label| label.len() > 1 && label.ends_with('.'))
    }
}

/// An entry of `allowed_origins`: an exact origin or a wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllowedOrigin {
    Exact(Origin),
    Wildcard(WildcardOrigin),
}

impl AllowedOrigin {
    pub fn parse(input: &str) -> Result<AllowedOrigin, OriginError> {
        let Some((scheme, rest)) = input.split_once("://") else {
            return Origin::parse(input).map(AllowedOrigin::Exact);
        };
        let Some(after_star) = rest.strip_prefix("*.") else {
            return Origin::parse(input).map(AllowedOrigin::Exact);
        };
        if after_star.contains('*') {
            return Err(OriginError::BadWildcard);
        }
        // Validate the rest with the one origin parser, a placeholder label
        // standing in for `*`.
        let probe = Origin::parse(&format!("{scheme}://x.{after_star}"))?;
        let Host::Name(host) = probe.host() else {
            return Err(OriginError::BadWildcard);
        };
        let suffix: Box<str> = host["x.".len()..].into();
        let port = probe.port();
        let mut canonical = format!("{}://*.{suffix}", probe.scheme().as_str());
        if let Some(p) = port {
            canonical.push_str(&format!(":{p}"));
        }
        Ok(AllowedOrigin::Wildcard(WildcardOrigin {
            scheme: probe.scheme(),
            suffix,
            port,
            canonical: canonical.into(),
        }))
    }

    pub fn as_str(&self) -> &str {
        match self {
            AllowedOrigin::Exact(o) => o.as_str(),
            AllowedOrigin::Wildcard(w) => w.as_str(),
        }
    }
}
