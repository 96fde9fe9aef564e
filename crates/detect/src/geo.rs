//! IP geolocation from MaxMind DB (MMDB) files, and a small MMDB writer.
//!
//! Detectors that reason about where a session comes from (travel speed, anonymizing
//! networks, network changes) read the event's own `src_endpoint` facts first and fall
//! back to a [`GeoDb`]: one or more MMDB files in MaxMind's layouts — GeoIP2/GeoLite2 City
//! and Country (`country.iso_code`, `location.latitude`/`longitude`, `traits.*`), ASN
//! (`autonomous_system_number`/`_organization`) and Anonymous IP (`is_anonymous_vpn`,
//! `is_tor_exit_node`, `is_hosting_provider`, …, at the top level or under `traits`).
//!
//! [`MmdbWriter`] writes a database in the same format (binary search tree over IPv4 and
//! IPv6 networks, data section, metadata; MaxMind DB format 2.0), so tests build tiny
//! databases and a simulator can ship one for its own address ranges. Files are checked
//! whole when opened, so a corrupt or truncated file is refused with its name and what is
//! wrong instead of failing later.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a geo database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid MaxMind DB.
    #[error("{file}: not a valid MaxMind DB file: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, as the reader saw it.
        message: String,
    },
    /// A record could not be decoded for an address.
    #[error("{file}: cannot decode the record for {ip}: {message}")]
    Decode {
        /// The file.
        file: String,
        /// The address looked up.
        ip: IpAddr,
        /// What is wrong.
        message: String,
    },
    /// The writer was asked for something the format cannot hold.
    #[error("cannot write MaxMind DB: {0}")]
    Write(String),
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a
/// single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// A network from its first address and prefix length; `None` when the prefix is too
    /// long for the family or bits are set after it.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let (bits, width) = addr_bits(addr);
        if prefix > width || bits & !mask(prefix, width) != 0 {
            return None;
        }
        Some(Cidr { addr, prefix })
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        let net = canonical_net(*self);
        let (a, wa) = addr_bits(ip);
        let (n, wn) = addr_bits(net.addr);
        wa == wn && a & mask(net.prefix, wn) == n
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:a.b.c.d/96+n`) as the IPv4 network it carries.
fn canonical_net(c: Cidr) -> Cidr {
    match c.addr {
        IpAddr::V6(v6) if c.prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Cidr {
                addr: IpAddr::V4(v4),
                prefix: c.prefix - 96,
            },
            None => c,
        },
        _ => c,
    }
}

/// An address as an integer and its width in bits (32 or 128).
fn addr_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// The network mask of `prefix` bits in a `width`-bit address.
fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    // prefix >= 1, so at most 127 host bits: the shift cannot overflow.
    let host = (1u128 << u32::from(width.saturating_sub(prefix))) - 1;
    all & !host
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP network (`{addr}` is not an IP address)"))?;
        let width = addr_bits(addr).1;
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| {
                    format!("`{s}`: prefix `/{p}` must be a number from 0 to {width}")
                })?,
        };
        let (bits, _) = addr_bits(addr);
        let first = bits & mask(prefix, width);
        if first != bits {
            let first = match addr {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(first).unwrap_or(0))),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(first)),
            };
            return Err(format!(
                "`{s}` has bits set after the prefix; the network is `{first}/{prefix}`"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How an address hides who is behind it, per the database's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Anonymity {
    /// `is_anonymous`: any kind of anonymizer.
    pub anonymous: bool,
    /// `is_anonymous_vpn`: a commercial VPN service.
    pub vpn: bool,
    /// `is_tor_exit_node`.
    pub tor: bool,
    /// `is_hosting_provider`: a hosting or cloud network.
    pub hosting: bool,
    /// `is_public_proxy` or `is_residential_proxy` (or the legacy `is_anonymous_proxy`).
    pub proxy: bool,
}

impl Anonymity {
    /// True when any flag is set.
    pub fn any(&self) -> bool {
        self.anonymous || self.vpn || self.tor || self.hosting || self.proxy
    }

    /// The set flags, by name (`tor`, `vpn`, `proxy`, `hosting`, `anonymous`).
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            (self.tor, "tor"),
            (self.vpn, "vpn"),
            (self.proxy, "proxy"),
            (self.hosting, "hosting"),
            (self.anonymous, "anonymous"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// What a geo database knows about one address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country (the located country, else the registered one).
    pub country: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub asn_org: Option<String>,
    /// Anonymizer flags.
    pub anonymity: Anonymity,
}

impl GeoInfo {
    /// Fill what `self` lacks from `other` (flags are combined).
    fn merge(&mut self, other: GeoInfo) {
        self.country = self.country.take().or(other.country);
        if self.lat.is_none() || self.lon.is_none() {
            self.lat = other.lat;
            self.lon = other.lon;
        }
        self.asn = self.asn.or(other.asn);
        self.asn_org = self.asn_org.take().or(other.asn_org);
        let (a, b) = (&mut self.anonymity, other.anonymity);
        a.anonymous |= b.anonymous;
        a.vpn |= b.vpn;
        a.tor |= b.tor;
        a.hosting |= b.hosting;
        a.proxy |= b.proxy;
    }

    /// The record in the GeoIP2 City / ASN / Anonymous IP layout [`GeoDb`] reads back. As in
    /// MaxMind's data, `is_anonymous` is set whenever any specific flag is.
    pub fn to_mmdb(&self) -> MmdbValue {
        let mut m = BTreeMap::new();
        if let Some(c) = &self.country {
            m.insert(
                "country".into(),
                MmdbValue::map([("iso_code", MmdbValue::from(c.as_str()))]),
            );
        }
        if let (Some(lat), Some(lon)) = (self.lat, self.lon) {
            m.insert(
                "location".into(),
                MmdbValue::map([
                    ("latitude", MmdbValue::Double(lat)),
                    ("longitude", MmdbValue::Double(lon)),
                ]),
            );
        }
        if let Some(asn) = self.asn {
            m.insert("autonomous_system_number".into(), MmdbValue::U32(asn));
        }
        if let Some(org) = &self.asn_org {
            m.insert(
                "autonomous_system_organization".into(),
                MmdbValue::from(org.as_str()),
            );
        }
        let a = self.anonymity;
        for (on, key) in [
            (a.anonymous || a.any(), "is_anonymous"),
            (a.vpn, "is_anonymous_vpn"),
            (a.tor, "is_tor_exit_node"),
            (a.hosting, "is_hosting_provider"),
            (a.proxy, "is_public_proxy"),
        ] {
            if on {
                m.insert(key.into(), MmdbValue::Bool(true));
            }
        }
        MmdbValue::Map(m)
    }
}

/// The fields midwatch reads from a MaxMind record; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    country: Option<CountryRec>,
    registered_country: Option<CountryRec>,
    location: Option<LocationRec>,
    traits: Option<Flags>,
    #[serde(flatten)]
    top: Flags,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountryRec {
    iso_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LocationRec {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// Flags and AS facts, found at the top level (ASN and Anonymous IP databases) or under
/// `traits` (City and Enterprise databases).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Flags {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    is_anonymous: Option<bool>,
    is_anonymous_vpn: Option<bool>,
    is_anonymous_proxy: Option<bool>,
    is_tor_exit_node: Option<bool>,
    is_hosting_provider: Option<bool>,
    is_public_proxy: Option<bool>,
    is_residential_proxy: Option<bool>,
}

impl Flags {
    fn anonymity(&self) -> Anonymity {
        let on = |f: Option<bool>| f.unwrap_or(false);
        Anonymity {
            anonymous: on(self.is_anonymous),
            vpn: on(self.is_anonymous_vpn),
            tor: on(self.is_tor_exit_node),
            hosting: on(self.is_hosting_provider),
            proxy: on(self.is_public_proxy)
                || on(self.is_residential_proxy)
                || on(self.is_anonymous_proxy),
        }
    }
}

impl Record {
    fn into_info(self) -> GeoInfo {
        let traits = self.traits.unwrap_or_default();
        let mut anonymity = self.top.anonymity();
        let t = traits.anonymity();
        anonymity.anonymous |= t.anonymous;
        anonymity.vpn |= t.vpn;
        anonymity.tor |= t.tor;
        anonymity.hosting |= t.hosting;
        anonymity.proxy |= t.proxy;
        let (lat, lon) = match self.location {
            Some(LocationRec {
                latitude: Some(lat),
                longitude: Some(lon),
            }) if lat.is_finite() && lon.is_finite() => (Some(lat), Some(lon)),
            _ => (None, None),
        };
        GeoInfo {
            country: self
                .country
                .and_then(|c| c.iso_code)
                .or_else(|| self.registered_country.and_then(|c| c.iso_code)),
            lat,
            lon,
            asn: self
                .top
                .autonomous_system_number
                .or(traits.autonomous_system_number),
            asn_org: self
                .top
                .autonomous_system_organization
                .or(traits.autonomous_system_organization),
            anonymity,
        }
    }
}

/// One opened MMDB file.
struct Layer {
    file: String,
    reader: maxminddb::Reader<Vec<u8>>,
}

/// One or more MaxMind DB files, looked up together (e.g. City + ASN + Anonymous IP): each
/// field comes from the first file that has it; anonymizer flags from any.
pub struct GeoDb {
    layers: Vec<Layer>,
    lookup_errors: AtomicU64,
}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<&str> = self.layers.iter().map(|l| l.file.as_str()).collect();
        f.debug_struct("GeoDb").field("files", &files).finish()
    }
}

impl GeoDb {
    /// Open and verify one MMDB file.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| GeoError::Io {
            file: file.clone(),
            source,
        })?;
        GeoDb::from_bytes(&file, bytes)
    }

    /// Verify and use an MMDB image held in memory; `name` names it in errors.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<GeoDb, GeoError> {
        let invalid = |e: maxminddb::MaxMindDbError| GeoError::Invalid {
            file: name.to_string(),
            message: e.to_string(),
        };
        let reader = maxminddb::Reader::from_source(bytes).map_err(invalid)?;
        reader.verify().map_err(invalid)?;
        Ok(GeoDb {
            layers: vec![Layer {
                file: name.to_string(),
                reader,
            }],
            lookup_errors: AtomicU64::new(0),
        })
    }

    /// Several databases looked up together, earlier ones first.
    pub fn layered(dbs: impl IntoIterator<Item = GeoDb>) -> GeoDb {
        GeoDb {
            layers: dbs.into_iter().flat_map(|d| d.layers).collect(),
            lookup_errors: AtomicU64::new(0),
        }
    }

    /// The files, in lookup order.
    pub fn files(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.file.as_str()).collect()
    }

    /// What the databases know about `ip`; `Ok(None)` when no file has a record for it.
    /// IPv4-mapped IPv6 addresses are looked up as IPv4; IPv6 addresses in IPv4-only files
    /// have no record.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<GeoInfo>, GeoError> {
        let ip = canonical_ip(ip);
        let mut found: Option<GeoInfo> = None;
        for layer in &self.layers {
            if ip.is_ipv6() && layer.reader.metadata().ip_version == 4 {
                continue;
            }
            let decode_err = |e: maxminddb::MaxMindDbError| GeoError::Decode {
                file: layer.file.clone(),
                ip,
                message: e.to_string(),
            };
            let result = layer.reader.lookup(ip).map_err(decode_err)?;
            let Some(record) = result.decode::<Record>().map_err(decode_err)? else {
                continue;
            };
            let info = record.into_info();
            match &mut found {
                Some(f) => f.merge(info),
                None => found = Some(info),
            }
        }
        Ok(found)
    }

    /// [`GeoDb::lookup`] for an address as text, for detectors: an unparsable address or a
    /// record that cannot be decoded gives `None` (counted in [`GeoDb::lookup_errors`]).
    pub fn lookup_str(&self, ip: &str) -> Option<GeoInfo> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        match self.lookup(ip) {
            Ok(info) => info,
            Err(_) => {
                self.lookup_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Lookups whose record could not be decoded, since opening.
    pub fn lookup_errors(&self) -> u64 {
        self.lookup_errors.load(Ordering::Relaxed)
    }
}

/// A value in an MMDB data section.
#[derive(Debug, Clone, PartialEq)]
pub enum MmdbValue {
    /// UTF-8 string.
    String(String),
    /// 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Unsigned 16-bit integer.
    U16(u16),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Signed 32-bit integer.
    I32(i32),
    /// Unsigned 64-bit integer.
    U64(u64),
    /// Unsigned 128-bit integer.
    U128(u128),
    /// Boolean.
    Bool(bool),
    /// 32-bit float.
    Float(f32),
    /// Map with string keys.
    Map(BTreeMap<String, MmdbValue>),
    /// Array.
    Array(Vec<MmdbValue>),
}

impl From<&str> for MmdbValue {
    fn from(s: &str) -> MmdbValue {
        MmdbValue::String(s.to_string())
    }
}

impl MmdbValue {
    /// A map from `(key, value)` pairs.
    pub fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, MmdbValue)>) -> MmdbValue {
        MmdbValue::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

/// Largest size the MMDB control-byte encoding can express.
const MAX_SIZE: usize = 65_821 + (1 << 24) - 1;

/// Append a control byte (and extended type and size bytes) for `type_num` and `size`.
fn control(out: &mut Vec<u8>, type_num: u8, size: usize) -> Result<(), GeoError> {
    let (bits, extra): (u8, Vec<u8>) = if size < 29 {
        (u8::try_from(size).unwrap_or(0), Vec::new())
    } else if size < 285 {
        (29, vec![u8::try_from(size - 29).unwrap_or(0)])
    } else if size < 65_821 {
        let n = u16::try_from(size - 285).unwrap_or(0);
        (30, n.to_be_bytes().to_vec())
    } else if size <= MAX_SIZE {
        let n = u32::try_from(size - 65_821).unwrap_or(0).to_be_bytes();
        (31, n.get(1..).unwrap_or_default().to_vec())
    } else {
        return Err(GeoError::Write(format!(
            "a value of size {size} is over the format's limit of {MAX_SIZE}"
        )));
    };
    if type_num <= 7 {
        out.push((type_num << 5) | bits);
    } else {
        out.push(bits);
        out.push(type_num - 7);
    }
    out.extend_from_slice(&extra);
    Ok(())
}

/// Big-endian bytes of `v` without leading zeros.
fn minimal_be(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// Encode one value in the MMDB data-section format.
fn encode(v: &MmdbValue, out: &mut Vec<u8>) -> Result<(), GeoError> {
    match v {
        MmdbValue::String(s) => {
            control(out, 2, s.len())?;
            out.extend_from_slice(s.as_bytes());
        }
        MmdbValue::Double(d) => {
            control(out, 3, 8)?;
            out.extend_from_slice(&d.to_be_bytes());
        }
        MmdbValue::Bytes(b) => {
            control(out, 4, b.len())?;
            out.extend_from_slice(b);
        }
        MmdbValue::U16(n) => uint(out, 5, &n.to_be_bytes())?,
        MmdbValue::U32(n) => uint(out, 6, &n.to_be_bytes())?,
        MmdbValue::Map(m) => {
            control(out, 7, m.len())?;
            for (k, v) in m {
                encode(&MmdbValue::String(k.clone()), out)?;
                encode(v, out)?;
            }
        }
        MmdbValue::I32(n) => {
            // Shorter than four bytes is always positive; negatives take all four.
            let bytes = n.to_be_bytes();
            let payload = if *n < 0 {
                &bytes[..]
            } else {
                minimal_be(&bytes)
            };
            control(out, 8, payload.len())?;
            out.extend_from_slice(payload);
        }
        MmdbValue::U64(n) => uint(out, 9, &n.to_be_bytes())?,
        MmdbValue::U128(n) => uint(out, 10, &n.to_be_bytes())?,
        MmdbValue::Array(items) => {
            control(out, 11, items.len())?;
            for item in items {
                encode(item, out)?;
            }
        }
        MmdbValue::Bool(b) => control(out, 14, usize::from(*b))?,
        MmdbValue::Float(f) => {
            control(out, 15, 4)?;
            out.extend_from_slice(&f.to_be_bytes());
        }
    }
    Ok(())
}

fn uint(out: &mut Vec<u8>, type_num: u8, be: &[u8]) -> Result<(), GeoError> {
    let payload = minimal_be(be);
    control(out, type_num, payload.len())?;
    out.extend_from_slice(payload);
    Ok(())
}

/// One record of a search-tree node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// The search tree while it is built.
#[derive(Debug, Default)]
struct Tree {
    nodes: Vec<[Rec; 2]>,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            nodes: vec![[Rec::Empty; 2]],
        }
    }

    fn rec(&self, node: usize, bit: usize) -> Rec {
        self.nodes
            .get(node)
            .and_then(|n| n.get(bit))
            .copied()
            .unwrap_or(Rec::Empty)
    }

    fn set(&mut self, node: usize, bit: usize, rec: Rec) {
        if let Some(r) = self.nodes.get_mut(node).and_then(|n| n.get_mut(bit)) {
            *r = rec;
        }
    }

    /// The child node under `node`'s `bit` record, created (inheriting a covering
    /// network's data) if the record is not a node yet.
    fn child(&mut self, node: usize, bit: usize) -> usize {
        match self.rec(node, bit) {
            Rec::Node(n) => n,
            other => {
                let fill = match other {
                    Rec::Data(d) => Rec::Data(d),
                    _ => Rec::Empty,
                };
                self.nodes.push([fill; 2]);
                let n = self.nodes.len() - 1;
                self.set(node, bit, Rec::Node(n));
                n
            }
        }
    }

    /// The node reached after the first `depth` bits of `key` (of `width` bits), creating
    /// nodes as needed.
    fn walk(&mut self, key: u128, width: u8, depth: u8) -> usize {
        let mut node = 0;
        for i in 0..depth {
            node = self.child(node, bit_at(key, width, i));
        }
        node
    }

    /// Store `rec` for the network `key/prefix`: the record at depth `prefix - 1`, or both
    /// root records for `/0`. More specific networks already below it keep their data.
    fn insert(&mut self, key: u128, width: u8, prefix: u8, rec: Rec) {
        if prefix == 0 {
            for bit in 0..2 {
                self.place(0, bit, rec);
            }
            return;
        }
        let node = self.walk(key, width, prefix - 1);
        self.place(node, bit_at(key, width, prefix - 1), rec);
    }

    fn place(&mut self, node: usize, bit: usize, rec: Rec) {
        match self.rec(node, bit) {
            Rec::Node(n) => self.fill_empty(n, rec),
            _ => self.set(node, bit, rec),
        }
    }

    /// Put `rec` in every empty record under `node`.
    fn fill_empty(&mut self, node: usize, rec: Rec) {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            for bit in 0..2 {
                match self.rec(n, bit) {
                    Rec::Empty => self.set(n, bit, rec),
                    Rec::Node(c) => stack.push(c),
                    Rec::Data(_) => {}
                }
            }
        }
    }
}

/// Bit `i` (0 = most significant) of a `width`-bit key, as a record index.
fn bit_at(key: u128, width: u8, i: u8) -> usize {
    let shift = u32::from(width - 1 - i);
    usize::from(key.checked_shr(shift).unwrap_or(0) & 1 == 1)
}

/// Writes MaxMind DB files: networks with their records, looked up most-specific first.
///
/// ```
/// use midwatch_detect::geo::{GeoDb, GeoInfo, MmdbWriter};
/// let mut w = MmdbWriter::new("midwatch-test");
/// w.insert("198.51.100.0/24".parse().unwrap(), GeoInfo {
///     country: Some("PT".into()), asn: Some(64500), ..GeoInfo::default()
/// }.to_mmdb());
/// let db = GeoDb::from_bytes("test.mmdb", w.to_bytes().unwrap()).unwrap();
/// let hit = db.lookup("198.51.100.7".parse().unwrap()).unwrap().unwrap();
/// assert_eq!(hit.asn, Some(64500));
/// ```
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    description: String,
    ip_version: u16,
    build_epoch: u64,
    networks: Vec<(Cidr, MmdbValue)>,
}

/// The marker before the metadata section.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

impl MmdbWriter {
    /// An IPv6 database (which also holds IPv4 networks) of the given type name.
    pub fn new(database_type: &str) -> MmdbWriter {
        MmdbWriter {
            database_type: database_type.to_string(),
            description: format!("{database_type} written by midwatch"),
            ip_version: 6,
            build_epoch: 0,
            networks: Vec::new(),
        }
    }

    /// Make it an IPv4-only database (IPv6 networks are then refused).
    pub fn ipv4_only(mut self) -> MmdbWriter {
        self.ip_version = 4;
        self
    }

    /// Set the English description.
    pub fn description(mut self, text: &str) -> MmdbWriter {
        self.description = text.to_string();
        self
    }

    /// Set the build time, epoch seconds (default 0, so output is reproducible).
    pub fn build_epoch(mut self, secs: u64) -> MmdbWriter {
        self.build_epoch = secs;
        self
    }

    /// Add a network and its record. A later insert of the same network replaces the
    /// record; a more specific network wins over a less specific one for its addresses.
    /// IPv4-mapped IPv6 networks are stored as IPv4.
    pub fn insert(&mut self, network: Cidr, value: MmdbValue) {
        let network = canonical_net(network);
        self.networks.retain(|(n, _)| *n != network);
        self.networks.push((network, value));
    }

    /// Number of networks inserted.
    pub fn len(&self) -> usize {
        self.networks.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The database file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GeoError> {
        let (data, offsets) = self.data_section()?;
        let tree = self.tree(&offsets)?;
        let node_count = tree.nodes.len();
        let max = node_count + 16 + data.len();
        let record_size: u16 = if max < 1 << 24 {
            24
        } else if max < 1 << 28 {
            28
        } else if u32::try_from(max).is_ok() {
            32
        } else {
            return Err(GeoError::Write(format!(
                "{node_count} nodes and {} data bytes are too many for 32-bit records",
                data.len()
            )));
        };
        let value = |r: Rec| -> u32 {
            let v = match r {
                Rec::Empty => node_count,
                Rec::Node(n) => n,
                Rec::Data(off) => node_count + 16 + off,
            };
            u32::try_from(v).unwrap_or(u32::MAX)
        };
        let mut out = Vec::with_capacity(node_count * 8 + data.len() + 256);
        for [l, r] in &tree.nodes {
            write_node(&mut out, record_size, value(*l), value(*r));
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(METADATA_MARKER);
        encode(&self.metadata(node_count, record_size)?, &mut out)?;
        Ok(out)
    }

    /// Write the database to `path`.
    pub fn write(&self, path: &Path) -> Result<(), GeoError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| GeoError::Io {
            file: path.display().to_string(),
            source,
        })
    }

    /// The data section and each network's offset in it (identical records stored once).
    fn data_section(&self) -> Result<(Vec<u8>, Vec<usize>), GeoError> {
        let mut data = Vec::new();
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut offsets = Vec::with_capacity(self.networks.len());
        for (_, value) in &self.networks {
            let mut bytes = Vec::new();
            encode(value, &mut bytes)?;
            let off = match seen.get(&bytes) {
                Some(off) => *off,
                None => {
                    let off = data.len();
                    data.extend_from_slice(&bytes);
                    seen.insert(bytes, off);
                    off
                }
            };
            offsets.push(off);
        }
        Ok((data, offsets))
    }

    /// The search tree: networks from least to most specific, then the IPv4-mapped alias.
    fn tree(&self, offsets: &[usize]) -> Result<Tree, GeoError> {
        let mut order: Vec<usize> = (0..self.networks.len()).collect();
        order.sort_by_key(|&i| self.networks.get(i).map_or(0, |(n, _)| self.depth(n)));
        let mut tree = Tree::new();
        let mut has_v4 = false;
        for i in order {
            let (Some((net, _)), Some(&off)) = (self.networks.get(i), offsets.get(i)) else {
                continue;
            };
            let (bits, width) = addr_bits(net.addr);
            match (net.addr, self.ip_version) {
                (IpAddr::V6(_), 4) => {
                    return Err(GeoError::Write(format!(
                        "IPv6 network {net} in an IPv4-only database"
                    )));
                }
                (IpAddr::V4(_), 6) => {
                    has_v4 = true;
                    tree.insert(bits, 128, net.prefix + 96, Rec::Data(off));
                }
                _ => tree.insert(bits, width, net.prefix, Rec::Data(off)),
            }
        }
        if has_v4 {
            // IPv4-mapped IPv6 addresses (::ffff:0:0/96) lead to the IPv4 subtree (::/96).
            let v4_parent = tree.walk(0, 128, 95);
            let v4_root = tree.rec(v4_parent, 0);
            let mapped: u128 = 0xffff << 32;
            let parent = tree.walk(mapped, 128, 95);
            tree.set(parent, bit_at(mapped, 128, 95), v4_root);
        }
        Ok(tree)
    }

    /// Depth of a network in this database's tree.
    fn depth(&self, net: &Cidr) -> u8 {
        match (net.addr, self.ip_version) {
            (IpAddr::V4(_), 6) => net.prefix + 96,
            _ => net.prefix,
        }
    }

    fn metadata(&self, node_count: usize, record_size: u16) -> Result<MmdbValue, GeoError> {
        let node_count = u32::try_from(node_count)
            .map_err(|_| GeoError::Write(format!("{node_count} nodes is too many")))?;
        Ok(MmdbValue::map([
            ("binary_format_major_version", MmdbValue::U16(2)),
            ("binary_format_minor_version", MmdbValue::U16(0)),
            ("build_epoch", MmdbValue::U64(self.build_epoch)),
            (
                "database_type",
                MmdbValue::from(self.database_type.as_str()),
            ),
            (
                "description",
                MmdbValue::map([("en", MmdbValue::from(self.description.as_str()))]),
            ),
            ("ip_version", MmdbValue::U16(self.ip_version)),
            ("languages", MmdbValue::Array(vec![MmdbValue::from("en")])),
            ("node_count", MmdbValue::U32(node_count)),
            ("record_size", MmdbValue::U16(record_size)),
        ]))
    }
}

/// Append one search-tree node with records `l` and `r` of `record_size` bits.
fn write_node(out: &mut Vec<u8>, record_size: u16, l: u32, r: u32) {
    let (lb, rb) = (l.to_be_bytes(), r.to_be_bytes());
    match record_size {
        24 => {
            out.extend_from_slice(lb.get(1..).unwrap_or_default());
            out.extend_from_slice(rb.get(1..).unwrap_or_default());
        }
        28 => {
            out.extend_from_slice(lb.get(1..).unwrap_or_default());
            let high = (((l >> 24) & 0x0f) << 4) | ((r >> 24) & 0x0f);
            out.push(u8::try_from(high).unwrap_or(0));
            out.extend_from_slice(rb.get(1..).unwrap_or_default());
        }
        _ => {
            out.extend_from_slice(&lb);
            out.extend_from_slice(&rb);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask(0, 32), 0);
        assert_eq!(mask(8, 32), 0xff00_0000);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(128, 128), u128::MAX);
        assert_eq!(mask(1, 128), 1u128 << 127);
    }

    #[test]
    fn control_bytes_follow_the_spec() {
        let mut out = Vec::new();
        control(&mut out, 2, 3).unwrap();
        assert_eq!(out, [0x43]);
        out.clear();
        control(&mut out, 2, 29).unwrap();
        assert_eq!(out, [0x5d, 0]);
        out.clear();
        control(&mut out, 2, 285).unwrap();
        assert_eq!(out, [0x5e, 0, 0]);
        out.clear();
        control(&mut out, 2, 65_821).unwrap();
        assert_eq!(out, [0x5f, 0, 0, 0]);
        out.clear();
        control(&mut out, 14, 1).unwrap();
        assert_eq!(out, [0x01, 0x07]);
        out.clear();
        control(&mut out, 11, 300).unwrap();
        assert_eq!(out, [0x1e, 0x04, 0, 15]);
        assert!(control(&mut out, 2, MAX_SIZE + 1).is_err());
    }

    #[test]
    fn nodes_pack_records() {
        let mut out = Vec::new();
        write_node(&mut out, 28, 0x0abc_def1, 0x0234_5678);
        assert_eq!(out, [0xbc, 0xde, 0xf1, 0xa2, 0x34, 0x56, 0x78]);
    }
}
