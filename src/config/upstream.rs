//! `[upstream]` and `[upstreams.NAME]`: where requests go and the timeouts
//! that turn a slow or dead upstream into a 502/504.

use std::net::ToSocketAddrs;

use super::problems::Validator;
use super::raw;
use crate::policy::UpstreamSettings;

impl Validator<'_> {
    /// One upstream table; `table` is `upstream` or `upstreams.NAME`.
    pub fn upstream(&mut self, table: &str, raw: &raw::RawUpstream) -> Option<UpstreamSettings> {
        let text = raw.address.get_ref().trim();
        let address = match text.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => Some(a),
            _ => {
                self.problem(
                    format!("{table}.address"),
                    Some(&raw.address),
                    format!("{text:?} is not a reachable HOST:PORT (it must include the port and resolve), e.g. \"127.0.0.1:3000\""),
                );
                None
            }
        };
        let host = text
            .rsplit_once(':')
            .map_or(text, |(h, _)| h)
            .trim_matches(['[', ']']);
        let sni = raw.sni.clone().unwrap_or_else(|| host.to_string());
        let [connect, read, write, idle] = [
            ("connect_timeout_secs", &raw.connect_timeout_secs, 5.0),
            ("read_timeout_secs", &raw.read_timeout_secs, 60.0),
            ("write_timeout_secs", &raw.write_timeout_secs, 60.0),
            ("idle_timeout_secs", &raw.idle_timeout_secs, 60.0),
        ]
        .map(|(key, value, default)| self.secs(&format!("{table}.{key}"), value.as_ref(), default));
        Some(UpstreamSettings {
            display: text.to_string(),
            address: address?,
            tls: raw.tls,
            sni,
            connect_timeout: connect?,
            read_timeout: read?,
            write_timeout: write?,
            idle_timeout: idle?,
        })
    }
}
