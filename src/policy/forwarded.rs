//! Who the client is and what it asked for, believing `X-Forwarded-*` only
//! from configured trusted proxies, and what we tell the upstream about it.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use ipnet::IpNet;

use crate::policy::origin::Scheme;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// The request as the client saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a> {
    /// The TCP peer (a proxy or the client itself).
    pub peer: Option<IpAddr>,
    pub peer_trusted: bool,
    /// https when our listener is TLS, or a trusted proxy says so.
    pub scheme: Scheme,
    /// The host the client addressed: a trusted proxy's `X-Forwarded-Host`,
    /// else `Host` (or the HTTP/2 authority).
    pub host: Option<&'a [u8]>,
}

impl<'a> ClientView<'a> {
    pub fn new(
        trusted: &TrustedProxies,
        peer: Option<IpAddr>,
        tls: bool,
        headers: &'a HeaderMap,
        authority: Option<&'a str>,
    ) -> ClientView<'a> {
        let peer = peer.map(|p| p.to_canonical());
        let peer_trusted = peer.is_some_and(|p| trusted.contains(p));
        let own_scheme = if tls { Scheme::Https } else { Scheme::Http };
        let own_host = headers
            .get(HOST)
            .map(HeaderValue::as_bytes)
            .or(authority.map(str::as_bytes));
        if !peer_trusted {
            return ClientView {
                peer,
                peer_trusted,
                scheme: own_scheme,
                host: own_host,
            };
        }
        let scheme = match first_token(headers, &X_FORWARDED_PROTO) {
            Some(p) if p.eq_ignore_ascii_case(b"https") => Scheme::Https,
            Some(p) if p.eq_ignore_ascii_case(b"http") => Scheme::Http,
            _ => own_scheme,
        };
        let host = first_token(headers, &X_FORWARDED_HOST).or(own_host);
        ClientView {
            peer,
            peer_trusted,
            scheme,
            host,
        }
    }

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// The real client address: from a trusted peer, the right-most entry of
    /// `X-Forwarded-For` that is not itself a trusted proxy (what nginx's
    /// `real_ip_recursive` does); otherwise the peer.
    pub fn client_ip(&self, trusted: &TrustedProxies, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.peer_trusted {
            return self.peer;
        }
        let mut client = self.peer;
        // Right to left, across repeated headers too, without collecting.
        'hops: for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
            for hop in value.as_bytes().rsplit(|&b| b == b',') {
                let Some(ip) = parse_ip(hop.trim_ascii()) else {
                    break 'hops;
                };
                client = Some(ip);
                if !trusted.contains(ip) {
                    break 'hops;
                }
            }
        }
        client
    }
}

/// What the upstream is told about the client. `None` removes the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamForwarding {
    pub x_forwarded_for: ForwardedFor,
    pub x_forwarded_proto: HeaderValue,
    pub x_forwarded_host: Option<HeaderValue>,
}

/// The `X-Forwarded-For` the upstream gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardedFor {
    /// None (no peer address, nothing trusted to pass on).
    Absent,
    /// The peer's address alone, as text: written straight into the
    /// upstream's head, without a header value of its own to allocate.
    Peer(IpText),
    /// A trusted chain, with the peer appended.
    Chain(HeaderValue),
}

impl ForwardedFor {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            ForwardedFor::Absent => None,
            ForwardedFor::Peer(ip) => Some(ip.as_bytes()),
            ForwardedFor::Chain(value) => Some(value.as_bytes()),
        }
    }

    /// As a header value, for a head the fields are set in.
    pub fn value(&self) -> Option<HeaderValue> {
        match self {
            ForwardedFor::Absent => None,
            ForwardedFor::Peer(ip) => HeaderValue::from_bytes(ip.as_bytes()).ok(),
            ForwardedFor::Chain(value) => Some(value.clone()),
        }
    }
}

/// The names `UpstreamForwarding::lines` writes: whoever sends the lines
/// takes fields of these names off the head first, as setting them would.
pub static LINE_NAMES: [HeaderName; 4] = [
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    HeaderName::from_static("x-request-id"),
];

impl UpstreamForwarding {
    /// These fields and `X-Request-Id: request_id`, as HTTP/1 lines with
    /// Title-Case names, as a head without a case map is written upstream
    /// (for `Session::set_upstream_request_header_block`).
    pub fn lines(&self, request_id: &HeaderValue) -> Bytes {
        let fields = [
            (&b"X-Forwarded-For: "[..], self.x_forwarded_for.as_bytes()),
            (
                b"X-Forwarded-Proto: ",
                Some(self.x_forwarded_proto.as_bytes()),
            ),
            (
                b"X-Forwarded-Host: ",
                self.x_forwarded_host.as_ref().map(HeaderValue::as_bytes),
            ),
            (b"X-Request-Id: ", Some(request_id.as_bytes())),
        ];
        let mut out = BytesMut::with_capacity(160);
        for (name, value) in fields {
            if let Some(value) = value {
                out.put_slice(name);
                out.put_slice(value);
                out.put_slice(b"\r\n");
            }
        }
        out.freeze()
    }
}

/// Other spellings of what a proxy in front tells its upstream: the client's
/// address, scheme, host, port, path prefix, user or certificate. Frameworks
/// and platforms read many of them, so from a peer that is not a trusted
/// proxy every one is dropped: the client can't speak for a proxy. The same
/// list is in README "Deploying behind a load balancer".
pub fn is_proxy_claim(name: &str) -> bool {
    matches!(
        name,
        "forwarded"
            | "x-real-ip"
            | "x-forwarded-ssl"
            | "x-forwarded-port"
            | "x-forwarded-scheme"
            | "x-forwarded-prefix"
            | "x-forwarded-server"
            | "x-forwarded-user"
            | "x-forwarded-uri"
            | "x-forwarded-client-cert"
            | "x-original-forwarded-for"
            | "x-original-host"
            | "x-original-url"
            | "x-rewrite-url"
            | "x-url-scheme"
            | "front-end-https"
            | "true-client-ip"
            | "cf-connecting-ip"
            | "fastly-client-ip"
            | "x-client-ip"
            | "x-cluster-client-ip"
            | "client-ip"
    )
}

/// The request headers to drop before the request goes upstream: proxy
/// claims from an untrusted peer, and, unless allowed, any name with an
/// underscore. CGI/WSGI/PHP servers fold `X_Forwarded_For` into the same
/// variable as `X-Forwarded-For`, so an underscore spelling would slip a
/// claim past the check above (nginx ignores them by default too). And any
/// of `replaced`, fields the gateway writes itself after the head: found in
/// the same pass, not looked up one by one.
pub fn headers_to_drop(
    headers: &HeaderMap,
    peer_trusted: bool,
    allow_underscores: bool,
    replaced: &[HeaderName],
) -> Vec<HeaderName> {
    let mut drop = Vec::new();
    for name in headers.keys() {
        let text = name.as_str();
        if (!peer_trusted && is_proxy_claim(text))
            || (!allow_underscores && text.contains('_'))
            || replaced.contains(name)
        {
            drop.push(name.clone());
        }
    }
    drop
}

/// Decide the `X-Forwarded-*` headers for the upstream. `own_tls` is whether
/// our own listener is TLS.
pub fn upstream_forwarding(
    view: &ClientView<'_>,
    own_tls: bool,
    headers: &HeaderMap,
) -> UpstreamForwarding {
    let peer = view.peer.map(IpText::of);
    let own_proto = HeaderValue::from_static(if own_tls { "https" } else { "http" });
    // The Host the client sent, shared rather than copied; the HTTP/2
    // authority has no header value to share.
    let own_host = || match headers.get(HOST) {
        Some(h) => Some(h.clone()),
        None => view.host.and_then(|h| HeaderValue::from_bytes(h).ok()),
    };
    if !view.peer_trusted {
        return UpstreamForwarding {
            x_forwarded_for: peer.map_or(ForwardedFor::Absent, ForwardedFor::Peer),
            x_forwarded_proto: own_proto,
            x_forwarded_host: own_host(),
        };
    }
    let mut chain = headers.get_all(&X_FORWARDED_FOR).iter();
    let x_forwarded_for = match (chain.next(), chain.next()) {
        (None, _) => peer.map_or(ForwardedFor::Absent, ForwardedFor::Peer),
        // One header and nothing to append: pass it on as it is.
        (Some(only), None) if peer.is_none() => ForwardedFor::Chain(only.clone()),
        (Some(first), second) => {
            let mut joined = Vec::with_capacity(first.len() + 48);
            joined.extend_from_slice(first.as_bytes());
            for more in second.into_iter().chain(chain) {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(more.as_bytes());
            }
            if let Some(peer) = &peer {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(peer.as_bytes());
            }
            HeaderValue::from_bytes(&joined).map_or(ForwardedFor::Absent, ForwardedFor::Chain)
        }
    };
    let x_forwarded_proto = match headers.get(&X_FORWARDED_PROTO) {
        Some(v) if first_token(headers, &X_FORWARDED_PROTO).is_some() => v.clone(),
        _ => own_proto,
    };
    let x_forwarded_host = match headers.get(&X_FORWARDED_HOST) {
        Some(v) if first_token(headers, &X_FORWARDED_HOST).is_some() => Some(v.clone()),
        _ => own_host(),
    };
    UpstreamForwarding {
        x_forwarded_for,
        x_forwarded_proto,
        x_forwarded_host,
    }
}

/// An address as text, formatted on the stack (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpText {
    text: [u8; 48],
    len: usize,
}

impl IpText {
    pub fn of(ip: IpAddr) -> IpText {
        use std::io::Write as _;
        let mut out = IpText {
            text: [0; 48],
            len: 0,
        };
        if let IpAddr::V4(v4) = ip {
            // Every proxied request formats one: four octets without
            // `fmt`'s machinery, which costs about a thousand instructions.
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b".");
                }
                out.push(digits.format(octet).as_bytes());
            }
            return out;
        }
        let mut cursor = std::io::Cursor::new(&mut out.text[..]);
        // 48 bytes hold the longest IPv6 text (45).
        let _ = write!(cursor, "{ip}");
        out.len = cursor.position() as usize;
        out
    }

    fn push(&mut self, bytes: &[u8]) {
        self.text[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..self.len]
    }
}

fn first_token<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h [u8]> {
    let raw = headers.get(name)?.as_bytes();
    let first = raw.split(|&b| b == b',').next().unwrap_or(raw).trim_ascii();
    (!first.is_empty()).then_some(first)
}

fn parse_ip(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw).ok()?;
    // Some proxies write `[v6]:port` or `v4:port`.
    if let Some(rest) = text.strip_prefix('[') {
        return rest
            .split(']')
            .next()?
            .parse()
            .ok()
            .map(|ip: IpAddr| ip.to_canonical());
    }
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::header_map;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ])
    }

    /// What a plain-HTTP request from `peer` with headers `h` looks like.
    fn view<'h>(peer: &str, h: &'h HeaderMap) -> ClientView<'h> {
        ClientView::new(&trusted(), Some(peer.parse().unwrap()), false, h, None)
    }

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_bytes(), ip.to_string().as_bytes());
        }
    }

    /// `lines` writes what setting the fields in a caseless head writes
    /// (Title-Case names, in the same order), leaving out absent ones.
    #[test]
    fn forwarding_lines_are_the_fields_the_head_would_carry() {
        use crate::policy::response_head::Lines;
        let chain = header_map(&[
            ("host", "internal:8080"),
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw.example.com"),
        ]);
        let bare = header_map(&[]);
        let id = HeaderValue::from_static("req-1");
        for (peer, h) in [
            ("203.0.113.9", &chain),
            ("10.1.2.3", &chain),
            ("::1", &chain),
            ("10.1.2.3", &bare),
        ] {
            let v = view(peer, h);
            let f = upstream_forwarding(&v, false, h);
            let mut map = HeaderMap::new();
            for (name, value) in [
                (X_FORWARDED_FOR, f.x_forwarded_for.value()),
                (X_FORWARDED_PROTO, Some(f.x_forwarded_proto.clone())),
                (X_FORWARDED_HOST, f.x_forwarded_host.clone()),
                (HeaderName::from_static("x-request-id"), Some(id.clone())),
            ] {
                if let Some(value) = value {
                    map.insert(name, value);
                }
            }
            assert_eq!(
                String::from_utf8_lossy(&f.lines(&id)),
                String::from_utf8_lossy(Lines::of(map).get(true)),
                "peer {peer}"
            );
        }
    }

    #[test]
    fn forwarded_proto_and_host_are_believed_from_trusted_proxies_only() {
        let h = header_map(&[
            ("host", "internal:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw.example.com"),
        ]);
        let untrusted = view("203.0.113.9", &h);
        assert_eq!(untrusted.scheme, Scheme::Http);
        assert_eq!(untrusted.host, Some(&b"internal:8080"[..]));
        let trusted = view("10.1.2.3", &h);
        assert_eq!(trusted.scheme, Scheme::Https);
        assert_eq!(trusted.host, Some(&b"gw.example.com"[..]));
    }

    #[test]
    fn untrusted_xff_is_replaced() {
        let h = header_map(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let v = view("203.0.113.9", &h);
        let f = upstream_forwarding(&v, false, &h);
        assert_eq!(f.x_forwarded_for.value().unwrap(), "203.0.113.9");
        assert_eq!(f.x_forwarded_proto, "http");
        assert!(headers_to_drop(&h, v.peer_trusted, false, &[])
            .contains(&HeaderName::from_static("forwarded")));
    }

    #[test]
    fn proxy_claims_are_dropped_from_untrusted_peers_only() {
        let h = header_map(&[
            ("true-client-ip", "1.2.3.4"),
            ("x-forwarded-ssl", "on"),
            ("x_forwarded_for", "1.2.3.4"),
            ("accept", "*/*"),
        ]);
        let names = |trusted, allow| -> Vec<String> {
            headers_to_drop(&h, trusted, allow, &[])
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        assert_eq!(
            names(false, false),
            ["true-client-ip", "x-forwarded-ssl", "x_forwarded_for"]
        );
        assert_eq!(names(true, false), ["x_forwarded_for"]);
        assert_eq!(names(true, true), Vec::<String>::new());
    }

    #[test]
    fn trusted_xff_chain_is_appended() {
        let h = header_map(&[
            ("x-forwarded-for", "198.51.100.7, 10.0.0.5"),
            ("x-forwarded-proto", "https"),
        ]);
        let v = view("10.1.2.3", &h);
        let f = upstream_forwarding(&v, false, &h);
        assert_eq!(
            f.x_forwarded_for.value().unwrap(),
            "198.51.100.7, 10.0.0.5, 10.1.2.3"
        );
        assert_eq!(f.x_forwarded_proto, "https");
    }

    #[test]
    fn client_ip_skips_trusted_hops() {
        let h = header_map(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        let v = view("10.1.2.3", &h);
        assert_eq!(
            v.client_ip(&trusted(), &h),
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn bracketed_and_bare_mapped_hops_give_the_same_client() {
        for hop in [
            "[::ffff:198.51.100.7]:80",
            "::ffff:198.51.100.7",
            "198.51.100.7:4321",
        ] {
            let h = header_map(&[("x-forwarded-for", hop)]);
            let v = view("10.1.2.3", &h);
            assert_eq!(
                v.client_ip(&trusted(), &h),
                Some("198.51.100.7".parse().unwrap()),
                "{hop}"
            );
        }
    }

    #[test]
    fn v4_mapped_peer_matches_v4_cidr() {
        let t = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(t.contains("::ffff:127.0.0.1".parse().unwrap()));
    }
}
