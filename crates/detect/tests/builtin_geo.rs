//! Geo: MMDB files written by `MmdbWriter` read back through `GeoDb` (the `maxminddb`
//! reader, which also verifies the whole file), and bad files refused with their name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::geo::{Anonymity, Cidr, GeoDb, GeoInfo, MmdbValue, MmdbWriter};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn info(country: &str, lat: f64, lon: f64, asn: u32) -> GeoInfo {
    GeoInfo {
        country: Some(country.into()),
        lat: Some(lat),
        lon: Some(lon),
        asn: Some(asn),
        asn_org: Some(format!("AS{asn} Org")),
        anonymity: Anonymity::default(),
    }
}

fn sample() -> MmdbWriter {
    let mut w = MmdbWriter::new("midwatch-test");
    w.insert(
        net("198.51.100.0/24"),
        info("PT", 38.72, -9.14, 64500).to_mmdb(),
    );
    // A more specific network inside it wins for its addresses.
    w.insert(
        net("198.51.100.128/25"),
        info("GB", 51.5, -0.12, 64501).to_mmdb(),
    );
    w.insert(
        net("203.0.113.0/24"),
        GeoInfo {
            anonymity: Anonymity {
                tor: true,
                ..Anonymity::default()
            },
            ..info("NL", 52.37, 4.9, 14061)
        }
        .to_mmdb(),
    );
    w.insert(
        net("2001:db8::/32"),
        info("DE", 52.52, 13.4, 3320).to_mmdb(),
    );
    w.insert(net("10.9.9.9"), info("US", 40.7, -74.0, 701).to_mmdb());
    w
}

fn open(w: &MmdbWriter) -> GeoDb {
    GeoDb::from_bytes("sample.mmdb", w.to_bytes().unwrap()).unwrap()
}

#[test]
fn round_trip_ipv4_ipv6_and_most_specific() {
    let db = open(&sample());
    let pt = db.lookup(ip("198.51.100.7")).unwrap().unwrap();
    assert_eq!(pt, info("PT", 38.72, -9.14, 64500));
    let gb = db.lookup(ip("198.51.100.200")).unwrap().unwrap();
    assert_eq!(gb.country.as_deref(), Some("GB"));
    assert_eq!(gb.asn, Some(64501));
    let de = db.lookup(ip("2001:db8:1::5")).unwrap().unwrap();
    assert_eq!(de.country.as_deref(), Some("DE"));
    let host = db.lookup(ip("10.9.9.9")).unwrap().unwrap();
    assert_eq!(host.asn, Some(701));
    assert!(db.lookup(ip("10.9.9.8")).unwrap().is_none());
    let tor = db.lookup(ip("203.0.113.9")).unwrap().unwrap();
    assert!(tor.anonymity.tor && tor.anonymity.anonymous);
    assert_eq!(tor.anonymity.kinds(), ["tor", "anonymous"]);
    assert!(!pt.anonymity.any());
}

#[test]
fn ipv4_mapped_addresses_find_ipv4_records() {
    let db = open(&sample());
    let mapped = db.lookup(ip("::ffff:198.51.100.7")).unwrap().unwrap();
    assert_eq!(mapped.country.as_deref(), Some("PT"));
    assert_eq!(
        db.lookup_str("::ffff:203.0.113.1").unwrap().asn,
        Some(14061)
    );
    // Another reader that does not canonicalize finds them through the tree's alias.
    let bytes = sample().to_bytes().unwrap();
    let raw = maxminddb::Reader::from_source(bytes).unwrap();
    let hit = raw.lookup(ip("::ffff:198.51.100.200")).unwrap();
    assert!(hit.has_data());
    // And a network given in IPv4-mapped form is stored as IPv4.
    let mut w = MmdbWriter::new("t");
    w.insert(
        net("::ffff:192.0.2.0/120"),
        info("FR", 48.8, 2.3, 3215).to_mmdb(),
    );
    let db = open(&w);
    assert_eq!(
        db.lookup_str("192.0.2.77").unwrap().country.as_deref(),
        Some("FR")
    );
}

#[test]
fn no_match_addresses_give_none() {
    let db = open(&sample());
    for a in [
        "192.0.2.1",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "2001:db9::1",
        "::",
    ] {
        assert!(db.lookup(ip(a)).unwrap().is_none(), "{a}");
    }
    assert!(db.lookup_str("not-an-ip").is_none());
    assert_eq!(db.lookup_errors(), 0);
}

#[test]
fn ipv4_only_databases_and_whole_space_networks() {
    let mut w = MmdbWriter::new("v4").ipv4_only();
    w.insert(net("0.0.0.0/0"), info("ZZ", 0.0, 0.0, 1).to_mmdb());
    w.insert(net("192.0.2.0/24"), info("PT", 38.7, -9.1, 2).to_mmdb());
    let db = open(&w);
    assert_eq!(db.lookup_str("8.8.8.8").unwrap().asn, Some(1));
    assert_eq!(db.lookup_str("192.0.2.1").unwrap().asn, Some(2));
    assert!(db.lookup(ip("2001:db8::1")).unwrap().is_none());
    let mut bad = MmdbWriter::new("v4").ipv4_only();
    bad.insert(net("2001:db8::/32"), MmdbValue::from("x"));
    let err = bad.to_bytes().unwrap_err().to_string();
    assert!(err.contains("IPv6 network 2001:db8::/32"), "{err}");
}

#[test]
fn every_value_type_survives() {
    let value = MmdbValue::map([
        ("s", MmdbValue::from("héllo")),
        ("long", MmdbValue::String("x".repeat(70_000))),
        ("d", MmdbValue::Double(-12.5)),
        ("b", MmdbValue::Bytes(vec![0, 1, 2])),
        ("u16", MmdbValue::U16(65535)),
        ("u32", MmdbValue::U32(0)),
        ("i32", MmdbValue::I32(-7)),
        ("i32p", MmdbValue::I32(300)),
        ("u64", MmdbValue::U64(u64::MAX)),
        ("u128", MmdbValue::U128(u128::MAX - 5)),
        ("t", MmdbValue::Bool(true)),
        ("f", MmdbValue::Bool(false)),
        ("fl", MmdbValue::Float(1.5)),
        (
            "arr",
            MmdbValue::Array((0..300).map(MmdbValue::U32).collect()),
        ),
    ]);
    let mut w = MmdbWriter::new("types");
    w.insert(net("192.0.2.0/24"), value);
    let bytes = w.to_bytes().unwrap();
    let reader = maxminddb::Reader::from_source(bytes).unwrap();
    reader.verify().unwrap();
    /// Bytes read as bytes (a `Vec<u8>` would ask for an array).
    struct Buf(Vec<u8>);
    impl<'de> serde::Deserialize<'de> for Buf {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Buf, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Buf;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Buf, E> {
                    Ok(Buf(v.to_vec()))
                }
            }
            d.deserialize_bytes(V)
        }
    }
    #[derive(serde::Deserialize)]
    struct All {
        s: String,
        long: String,
        d: f64,
        b: Buf,
        u16: u16,
        u32: u32,
        i32: i32,
        i32p: i32,
        u64: u64,
        u128: u128,
        t: bool,
        f: bool,
        fl: f32,
        arr: Vec<u32>,
    }
    let all: All = reader
        .lookup(ip("192.0.2.9"))
        .unwrap()
        .decode()
        .unwrap()
        .unwrap();
    assert_eq!(all.s, "héllo");
    assert_eq!(all.long.len(), 70_000);
    assert_eq!(all.d, -12.5);
    assert_eq!(all.b.0, [0, 1, 2]);
    assert_eq!((all.u16, all.u32, all.i32, all.i32p), (65535, 0, -7, 300));
    assert_eq!((all.u64, all.u128), (u64::MAX, u128::MAX - 5));
    assert!(all.t && !all.f);
    assert_eq!(all.fl, 1.5);
    assert_eq!(all.arr.len(), 300);
    assert_eq!(all.arr[299], 299);
}

#[test]
fn reads_maxmind_layouts_with_traits() {
    // GeoIP2 City style: flags and AS facts under `traits`, country only registered.
    let mut w = MmdbWriter::new("GeoIP2-City");
    w.insert(
        net("192.0.2.0/24"),
        MmdbValue::map([
            (
                "registered_country",
                MmdbValue::map([("iso_code", MmdbValue::from("SE"))]),
            ),
            (
                "location",
                MmdbValue::map([
                    ("latitude", MmdbValue::Double(59.3)),
                    ("longitude", MmdbValue::Double(18.1)),
                    ("accuracy_radius", MmdbValue::U16(100)),
                ]),
            ),
            (
                "traits",
                MmdbValue::map([
                    ("is_anonymous_vpn", MmdbValue::Bool(true)),
                    ("autonomous_system_number", MmdbValue::U32(1257)),
                ]),
            ),
            ("city", MmdbValue::map([("geoname_id", MmdbValue::U32(1))])),
        ]),
    );
    let city = open(&w);
    let hit = city.lookup_str("192.0.2.1").unwrap();
    assert_eq!(hit.country.as_deref(), Some("SE"));
    assert_eq!((hit.lat, hit.lon), (Some(59.3), Some(18.1)));
    assert_eq!(hit.asn, Some(1257));
    assert!(hit.anonymity.vpn);

    // An ASN database layered under it fills what the City file lacks.
    let mut asn = MmdbWriter::new("GeoLite2-ASN");
    asn.insert(
        net("192.0.2.0/23"),
        MmdbValue::map([
            ("autonomous_system_number", MmdbValue::U32(9999)),
            ("autonomous_system_organization", MmdbValue::from("Tele2")),
        ]),
    );
    asn.insert(
        net("198.51.100.0/24"),
        MmdbValue::map([("autonomous_system_number", MmdbValue::U32(64500))]),
    );
    let both = GeoDb::layered([city, open(&asn)]);
    let hit = both.lookup_str("192.0.2.1").unwrap();
    assert_eq!(hit.asn, Some(1257), "the first file wins");
    assert_eq!(hit.asn_org.as_deref(), Some("Tele2"));
    let only_asn = both.lookup_str("198.51.100.1").unwrap();
    assert_eq!(only_asn.asn, Some(64500));
    assert_eq!(only_asn.country, None);
    assert_eq!(both.files(), ["sample.mmdb", "sample.mmdb"]);
}

#[test]
fn a_record_of_the_wrong_shape_is_a_decode_error_naming_the_file() {
    let mut w = MmdbWriter::new("t");
    w.insert(
        net("192.0.2.0/24"),
        MmdbValue::map([("location", MmdbValue::from("somewhere"))]),
    );
    let db = GeoDb::from_bytes("odd.mmdb", w.to_bytes().unwrap()).unwrap();
    let err = db.lookup(ip("192.0.2.1")).unwrap_err().to_string();
    assert!(
        err.starts_with("odd.mmdb: cannot decode the record for 192.0.2.1"),
        "{err}"
    );
    assert!(db.lookup_str("192.0.2.1").is_none());
    assert_eq!(db.lookup_errors(), 1);
}

#[test]
fn files_on_disk_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geo.mmdb");
    sample().write(&path).unwrap();
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.lookup_str("198.51.100.1").unwrap().asn, Some(64500));

    let missing = dir.path().join("missing.mmdb");
    let err = GeoDb::open(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.mmdb"), "{err}");

    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"this is not a database").unwrap();
    let err = GeoDb::open(&junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.mmdb") && err.contains("not a valid MaxMind DB"),
        "{err}"
    );
}

#[test]
fn truncated_and_corrupted_files_are_errors_not_panics() {
    let good = sample().to_bytes().unwrap();
    // Every truncation.
    for len in 0..good.len() {
        let _ = GeoDb::from_bytes("cut.mmdb", good[..len].to_vec());
    }
    // Every single-byte corruption, with a few values.
    for i in 0..good.len() {
        for v in [0x00, 0xff, 0x5f, 0x20] {
            let mut bad = good.clone();
            if bad[i] == v {
                continue;
            }
            bad[i] = v;
            if let Ok(db) = GeoDb::from_bytes("flip.mmdb", bad) {
                // Whatever survives verification must still answer lookups without panicking.
                for a in [
                    "198.51.100.7",
                    "203.0.113.1",
                    "2001:db8::1",
                    "::ffff:198.51.100.1",
                ] {
                    let _ = db.lookup(ip(a));
                }
            }
        }
    }
    let err = GeoDb::from_bytes("cut.mmdb", good[..good.len() / 2].to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cut.mmdb: not a valid MaxMind DB file"),
        "{err}"
    );
}

#[test]
fn output_is_reproducible_and_dedupes_records() {
    let a = sample().to_bytes().unwrap();
    let b = sample().to_bytes().unwrap();
    assert_eq!(a, b);
    let mut w = MmdbWriter::new("dedupe");
    let rec = info("PT", 38.7, -9.1, 3243).to_mmdb();
    for i in 0..200u32 {
        w.insert(
            net(&format!("10.{}.{}.0/24", i / 256, i % 256)),
            rec.clone(),
        );
    }
    let one = {
        let mut w = MmdbWriter::new("dedupe");
        w.insert(net("10.0.0.0/24"), rec.clone());
        w.to_bytes().unwrap().len()
    };
    let bytes = w.to_bytes().unwrap();
    // 200 networks share one record: the file grows by tree nodes only (6 bytes each).
    assert!(bytes.len() < one + 200 * 8 * 6, "{} vs {one}", bytes.len());
    let db = open(&w);
    assert_eq!(db.lookup_str("10.0.199.3").unwrap().asn, Some(3243));
    assert!(db.lookup_str("10.0.200.3").is_none());
    assert_eq!(w.len(), 200);
}

#[test]
fn cidrs_parse_strictly_and_contain_mapped_addresses() {
    let c = net("10.0.0.0/8");
    assert!(c.contains(ip("10.255.0.1")));
    assert!(c.contains(ip("::ffff:10.1.2.3")));
    assert!(!c.contains(ip("11.0.0.1")));
    assert!(!c.contains(ip("2001:db8::1")));
    assert!(net("::/0").contains(ip("2001:db8::1")));
    assert!(net("0.0.0.0/0").contains(ip("1.2.3.4")));
    assert!(net("::ffff:10.0.0.0/104").contains(ip("10.3.3.3")));
    assert_eq!(net("192.0.2.7").prefix(), 32);
    let err = "10.1.2.3/8".parse::<Cidr>().unwrap_err();
    assert!(err.contains("`10.0.0.0/8`"), "{err}");
    assert!(
        "10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("0 to 32")
    );
    assert!("example.com/8".parse::<Cidr>().is_err());
    assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
}
