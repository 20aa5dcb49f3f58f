//! The learning state on disk (`[learning] state_file`, `helmgate suggest
//! --state`): versioned JSON, at most [`MAX_FILE_BYTES`], saved atomically
//! (a temporary file beside it, then a rename). A file from elsewhere is
//! checked entry by entry: every source, origin, network and route name must
//! be one the gateway itself could have written, and every table within its
//! capacity, or the whole file is refused (the caller WARNs and starts
//! fresh).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sources::{self, Noise};
use super::table::{Entry, MAX_DOCUMENTS, MAX_NETWORKS};
use super::{
    csp_key, split_csp_key, Header, RouteLearning, CORS_CAPACITY, CSP_CAPACITY, MAX_ROUTES,
};

/// What the `format` field says.
pub const FORMAT: &str = "helmgate-learning";
/// The version written; a newer one is refused.
pub const VERSION: u32 = 1;
/// The largest state file read: the tables' capacities bound what is
/// written well below this.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub format: String,
    pub version: u32,
    /// Seconds since the Unix epoch.
    pub saved_at: u64,
    pub routes: BTreeMap<String, SavedRoute>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedRoute {
    #[serde(default)]
    pub csp: Vec<SavedCsp>,
    #[serde(default)]
    pub cors: Vec<SavedOrigin>,
    #[serde(default)]
    pub noise: BTreeMap<String, u64>,
    #[serde(default)]
    pub dropped: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedCsp {
    pub directive: String,
    /// `enforce` or `report`.
    pub disposition: String,
    pub source: String,
    #[serde(flatten)]
    pub seen: SavedSeen,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedOrigin {
    pub origin: String,
    #[serde(flatten)]
    pub seen: SavedSeen,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedSeen {
    pub count: u64,
    pub first_seen: u64,
    pub last_seen: u64,
    /// `203.0.113.0/24`, `2001:db8:1::/48`, `unknown`.
    pub networks: Vec<String>,
    /// Hashes of the documents.
    pub documents: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error("it is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("it is not a helmgate learning state: {0}")]
    Foreign(String),
    #[error("it is version {0}, newer than this helmgate reads ({VERSION})")]
    TooNew(u32),
    #[error("it holds an invalid entry: {0}")]
    Invalid(String),
}

impl SavedSeen {
    fn of(e: &Entry) -> SavedSeen {
        SavedSeen {
            count: e.count,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
            networks: e
                .networks
                .iter()
                .map(|n| sources::network_text(*n))
                .collect(),
            documents: e.documents.clone(),
        }
    }

    fn entry(&self, what: &str) -> Result<Entry, StateError> {
        let bad = |why: &str| StateError::Invalid(format!("{what}: {why}"));
        if self.networks.len() > MAX_NETWORKS || self.documents.len() > MAX_DOCUMENTS {
            return Err(bad("too many networks or documents"));
        }
        if self.count == 0 || self.first_seen > self.last_seen {
            return Err(bad("count or times out of range"));
        }
        let mut networks = Vec::with_capacity(self.networks.len());
        for n in &self.networks {
            let n =
                sources::parse_network(n).ok_or_else(|| bad("a network is not a /24 or /48"))?;
            if !networks.contains(&n) {
                networks.push(n);
            }
        }
        let mut documents = self.documents.clone();
        documents.dedup();
        Ok(Entry {
            count: self.count,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            networks,
            documents,
        })
    }
}

/// The state of every route, to save.
pub fn to_file(routes: &BTreeMap<String, RouteLearning>, now: u64) -> StateFile {
    let routes = routes
        .iter()
        .map(|(name, r)| (name.clone(), saved_route(r)))
        .collect();
    StateFile {
        format: FORMAT.into(),
        version: VERSION,
        saved_at: now,
        routes,
    }
}

fn saved_route(r: &RouteLearning) -> SavedRoute {
    let csp = r
        .csp
        .iter()
        .filter_map(|(key, e)| {
            let (directive, header, source) = split_csp_key(key)?;
            Some(SavedCsp {
                directive: directive.into(),
                disposition: header.as_str().into(),
                source: source.into(),
                seen: SavedSeen::of(e),
            })
        })
        .collect();
    let cors = r
        .cors
        .iter()
        .map(|(origin, e)| SavedOrigin {
            origin: origin.into(),
            seen: SavedSeen::of(e),
        })
        .collect();
    let noise = Noise::ALL
        .iter()
        .filter(|n| r.noise[n.index()] > 0)
        .map(|n| (n.as_str().to_string(), r.noise[n.index()]))
        .collect();
    SavedRoute {
        csp,
        cors,
        noise,
        dropped: r.csp.dropped.saturating_add(r.cors.dropped),
    }
}

/// Route names as the config allows them.
fn route_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The tables a state file holds, every entry checked.
pub fn from_file(file: &StateFile) -> Result<BTreeMap<String, RouteLearning>, StateError> {
    if file.format != FORMAT {
        return Err(StateError::Foreign(format!("format {:?}", file.format)));
    }
    if file.version > VERSION {
        return Err(StateError::TooNew(file.version));
    }
    if file.version == 0 {
        return Err(StateError::Foreign("version 0".into()));
    }
    if file.routes.len() > MAX_ROUTES {
        return Err(StateError::Invalid(format!(
            "more than {MAX_ROUTES} routes"
        )));
    }
    let mut out = BTreeMap::new();
    for (name, saved) in &file.routes {
        if !route_name_ok(name) {
            return Err(StateError::Invalid(format!("route name {name:?}")));
        }
        out.insert(name.clone(), route_of(name, saved)?);
    }
    Ok(out)
}

fn route_of(name: &str, saved: &SavedRoute) -> Result<RouteLearning, StateError> {
    if saved.csp.len() > CSP_CAPACITY || saved.cors.len() > CORS_CAPACITY {
        return Err(StateError::Invalid(format!(
            "route {name}: more entries than a table holds"
        )));
    }
    let mut r = RouteLearning::default();
    for c in &saved.csp {
        let what = format!("route {name}: csp {:?} {:?}", c.directive, c.source);
        let header = Header::parse(&c.disposition);
        let ok = super::takes_sources(&c.directive) && sources::is_source(&c.source);
        let (Some(header), true) = (header, ok) else {
            return Err(StateError::Invalid(what));
        };
        r.csp.merge(
            &csp_key(&c.directive, header, &c.source),
            &c.seen.entry(&what)?,
        );
    }
    for o in &saved.cors {
        let what = format!("route {name}: origin {:?}", o.origin);
        if !sources::is_origin(&o.origin) {
            return Err(StateError::Invalid(what));
        }
        r.cors.merge(&o.origin, &o.seen.entry(&what)?);
    }
    for (class, count) in &saved.noise {
        let n = Noise::parse(class)
            .ok_or_else(|| StateError::Invalid(format!("route {name}: noise class {class:?}")))?;
        r.noise[n.index()] = r.noise[n.index()].saturating_add(*count);
    }
    r.csp.dropped = saved.dropped;
    Ok(r)
}

/// Parse and check a state file's bytes.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, RouteLearning>, StateError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(StateError::TooLarge);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StateError::Foreign(e.to_string()))?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(StateError::Foreign(format!("format {format:?}")));
    }
    if let Some(v) = value.get("version").and_then(serde_json::Value::as_u64) {
        if v > u64::from(VERSION) {
            return Err(StateError::TooNew(u32::try_from(v).unwrap_or(u32::MAX)));
        }
    }
    let file: StateFile =
        serde_json::from_value(value).map_err(|e| StateError::Invalid(e.to_string()))?;
    from_file(&file)
}

/// Read a state file; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<BTreeMap<String, RouteLearning>>, StateError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::Read(e)),
        // A FIFO or a device would block the start or never end.
        Ok(m) if !m.is_file() => {
            return Err(StateError::Foreign("not a regular file".into()));
        }
        Ok(_) => {}
    }
    let file = std::fs::File::open(path).map_err(StateError::Read)?;
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(StateError::Read)?;
    match parse(&bytes) {
        // Not even JSON, but ours (a write cut short): corrupt, not foreign.
        Err(StateError::Foreign(why)) if contains(&bytes, FORMAT.as_bytes()) => {
            Err(StateError::Invalid(why))
        }
        other => other.map(Some),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl StateError {
    /// Whether the file must be left alone: it is someone else's (another
    /// program's, a newer helmgate's), not a state of ours gone bad.
    pub fn is_not_ours(&self) -> bool {
        matches!(self, StateError::Foreign(_) | StateError::TooNew(_))
    }
}

/// The state as JSON within [`MAX_FILE_BYTES`], as `state_file` holds it:
/// when every table of many routes is full, the entries seen from one
/// network only (never suggested by default) are left out first; a state
/// still too large is not saved.
pub fn bounded_json(
    routes: &BTreeMap<String, RouteLearning>,
    now: u64,
) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(&to_file(routes, now)).map_err(std::io::Error::other)?;
    if json.len() as u64 <= MAX_FILE_BYTES {
        return Ok(json);
    }
    let mut file = to_file(routes, now);
    for r in file.routes.values_mut() {
        r.csp.retain(|c| c.seen.networks.len() > 1);
        r.cors.retain(|c| c.seen.networks.len() > 1);
    }
    let json = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    if json.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "the state is larger than {MAX_FILE_BYTES} bytes even without what one network saw; the previous file is kept"
        )));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, RouteLearning> {
        let mut r = RouteLearning::default();
        for n in 0..3u128 {
            let net = sources::network_of(Some(std::net::IpAddr::from([203, 0, 113 + n as u8, 1])));
            r.csp.observe(
                &csp_key("script-src-elem", Header::ReportOnly, "https://cdn.example"),
                net,
                Some(7),
                10,
            );
            r.cors.observe("https://partner.example", net, None, 11);
        }
        r.note_noise(Noise::Extension);
        BTreeMap::from([("default".to_string(), r)])
    }

    #[test]
    fn a_state_survives_a_round_trip() {
        let json = serde_json::to_vec(&to_file(&sample(), 99)).unwrap();
        let back = parse(&json).unwrap();
        let again = serde_json::to_vec(&to_file(&back, 99)).unwrap();
        assert_eq!(json, again);
    }

    #[test]
    fn foreign_too_new_corrupt_and_forged_files_are_refused() {
        assert!(matches!(
            parse(b"{\"format\":\"x\"}"),
            Err(StateError::Foreign(_))
        ));
        assert!(matches!(
            parse(b"\x00\xff garbage"),
            Err(StateError::Foreign(_))
        ));
        assert!(matches!(parse(b"[]"), Err(StateError::Foreign(_))));
        let too_new = format!("{{\"format\":\"{FORMAT}\",\"version\":99,\"saved_at\":0,\"routes\":{{}},\"future\":1}}");
        assert!(matches!(
            parse(too_new.as_bytes()),
            Err(StateError::TooNew(99))
        ));
        let good = String::from_utf8(serde_json::to_vec(&to_file(&sample(), 1)).unwrap()).unwrap();
        for (from, to) in [
            ("https://cdn.example", "https://cdn.example\\n[x]"),
            ("https://cdn.example", "'unsafe-inline'"),
            ("https://partner.example", "null"),
            ("203.0.113.0/24", "203.0.113.7/24"),
            ("\"default\"", "\"Bad Name\""),
            ("script-src-elem", "sandbox"),
            ("browser-extension", "made-up"),
        ] {
            let forged = good.replacen(from, to, 1);
            assert!(
                matches!(parse(forged.as_bytes()), Err(StateError::Invalid(_))),
                "{to}"
            );
        }
    }

    #[test]
    fn a_saved_state_stays_within_the_size_bound() {
        let mut full = RouteLearning::default();
        for i in 0..CSP_CAPACITY {
            let source = format!("https://{}-{i}.example", "x".repeat(200));
            for n in 0..20u128 {
                let key = csp_key("script-src-elem", Header::Enforce, &source);
                full.csp
                    .observe(&key, (1 << 64) | (n << 8), Some(n as u64), 1);
            }
        }
        let one = BTreeMap::from([("r".to_string(), full.clone())]);
        let size = bounded_json(&one, 1).unwrap().len();
        assert!(size < 1024 * 1024, "{size}");
        let many: BTreeMap<String, RouteLearning> = (0..MAX_ROUTES)
            .map(|i| (format!("r{i}"), full.clone()))
            .collect();
        match bounded_json(&many, 1) {
            Ok(json) => assert!(json.len() as u64 <= MAX_FILE_BYTES),
            Err(e) => assert!(e.to_string().contains("previous file is kept")),
        }
    }

    #[test]
    fn a_saved_state_loads_back_and_a_missing_file_is_a_fresh_start() {
        let dir = std::env::temp_dir().join(format!("helmgate-learning-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert!(load(&path).unwrap().is_none());
        std::fs::write(&path, bounded_json(&sample(), 5).unwrap()).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded["default"].csp.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
