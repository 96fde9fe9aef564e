//! Test harness: sensor-format events built field by field, normalized by the sensor
//! source, enriched with a small inventory, stitched into sessions and shown to one
//! detector, as the pipeline does.

use midwatch_detect::builtin::{self, Detector};
use midwatch_detect::geo::{Anonymity, Cidr, GeoDb, GeoInfo, MmdbWriter};
use midwatch_detect::{Alert, Context};
use midwatch_model::inventory::InventoryDoc;
use midwatch_model::{Event, Inventory};
use midwatch_sessions::{Config as StitchConfig, Stitcher};
use midwatch_sources::sensor::Sensor;
use midwatch_sources::{Limits, normalize_bytes};
use serde_json::{Value, json};
use std::sync::Arc;

/// 2026-01-05T08:00:00Z; event times are seconds after it.
pub const T0: i64 = 1_767_600_000_000;

/// Lisbon home network (MEO).
pub const LISBON: (&str, u32, &str, f64, f64) = ("85.243.10.20", 3243, "PT", 38.72, -9.14);
/// Amsterdam hosting (DigitalOcean).
pub const AMSTERDAM: (&str, u32, &str, f64, f64) = ("167.99.1.2", 14061, "NL", 52.37, 4.90);
/// London home network (BT).
pub const LONDON: (&str, u32, &str, f64, f64) = ("86.151.3.4", 2856, "GB", 51.51, -0.13);
/// Sydney (Telstra).
pub const SYDNEY: (&str, u32, &str, f64, f64) = ("101.160.5.6", 1221, "AU", -33.87, 151.21);
/// Tokyo (KDDI).
pub const TOKYO: (&str, u32, &str, f64, f64) = ("106.72.7.8", 2516, "JP", 35.68, 139.65);

/// One sensor event under construction.
#[derive(Debug, Clone)]
pub struct Ev(serde_json::Map<String, Value>, Option<&'static str>);

impl Ev {
    /// An event of sensor `type` at `at_s` seconds after [`T0`], with id `id`.
    pub fn new(kind: &str, at_s: i64, id: &str) -> Ev {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(id));
        m.insert("ts".into(), json!(T0 + at_s * 1000));
        m.insert("type".into(), json!(kind));
        Ev(m, None)
    }

    fn set(mut self, key: &str, v: Value) -> Ev {
        self.0.insert(key.into(), v);
        self
    }

    fn merge(mut self, key: &str, k: &str, v: Value) -> Ev {
        let obj = self.0.entry(key).or_insert_with(|| json!({}));
        if let Some(o) = obj.as_object_mut() {
            o.insert(k.into(), v);
        }
        self
    }

    /// Acting identity (sensor `identity.id`), a person.
    pub fn who(self, id: &str) -> Ev {
        self.set("identity", json!({"id": id}))
    }

    /// Acting identity of a kind (`ai_agent`, `service_account`, …).
    pub fn who_kind(self, id: &str, kind: &str) -> Ev {
        self.set("identity", json!({"id": id, "kind": kind}))
    }

    /// The app's domain.
    pub fn app(self, domain: &str) -> Ev {
        self.set("app", json!({"domain": domain}))
    }

    /// The session id.
    pub fn session(self, id: &str) -> Ev {
        self.merge("session", "id", json!(id))
    }

    /// The session's token fingerprint, from a short seed.
    pub fn token(self, seed: &str) -> Ev {
        let hex = midwatch_model::hash::sha256_hex(seed.as_bytes());
        self.merge("session", "token_sha256", json!(hex))
    }

    /// When the session's credential was issued and expires, seconds after [`T0`].
    pub fn issued(self, created_s: i64, expires_s: i64) -> Ev {
        self.merge("session", "created", json!(T0 + created_s * 1000))
            .merge("session", "expires", json!(T0 + expires_s * 1000))
    }

    /// Device id.
    pub fn device(self, id: &str) -> Ev {
        self.merge("device", "id", json!(id))
    }

    /// Device user agent.
    pub fn ua(self, ua: &str) -> Ev {
        self.merge("device", "user_agent", json!(ua))
    }

    /// Full network facts.
    pub fn net(self, n: (&str, u32, &str, f64, f64)) -> Ev {
        let (ip, asn, country, lat, lon) = n;
        self.set(
            "network",
            json!({"ip": ip, "asn": asn, "country": country, "lat": lat, "lon": lon}),
        )
    }

    /// Only the address.
    pub fn ip(self, ip: &str) -> Ev {
        self.set("network", json!({"ip": ip}))
    }

    /// Authentication method and MFA.
    pub fn auth(self, method: &str, mfa: bool) -> Ev {
        self.set("auth", json!({"method": method, "mfa": mfa}))
    }

    /// Outcome (`success`, `failure`, `denied`).
    pub fn outcome(self, o: &str) -> Ev {
        self.set("outcome", json!(o))
    }

    /// Page URL.
    pub fn url(self, u: &str) -> Ev {
        self.set("url", json!(u))
    }

    /// Resource type.
    pub fn resource(self, kind: &str) -> Ev {
        self.set("resource", json!({"type": kind, "id": "r-1"}))
    }

    /// Present the event as read by another source (as an audit record joined to the
    /// session would be).
    pub fn source(mut self, name: &'static str) -> Ev {
        self.1 = Some(name);
        self
    }

    /// The event after the sensor source.
    pub fn event(&self) -> Event {
        let line = Value::Object(self.0.clone()).to_string();
        let mut out = normalize_bytes(&Sensor, line.as_bytes(), &Limits::default());
        assert!(out.rejects.is_empty(), "{line}: {:?}", out.rejects);
        let mut e = out.events.remove(0);
        if let Some(source) = self.1 {
            e.metadata.log_name = Some(source.to_string().into());
        }
        e
    }
}

/// The test organisation: people in every lifecycle, an agent and a service account with
/// approved scopes, managed and unmanaged apps.
pub fn inventory() -> Inventory {
    let doc: InventoryDoc = serde_json::from_value(json!({
        "identities": [
            {"id": "alice@example.com", "mfa_enrolled": true, "aliases": ["alice"]},
            {"id": "dave@example.com", "mfa_enrolled": true},
            {"id": "bob@example.com", "lifecycle": "offboarded", "offboarded_at": T0 - 86_400_000},
            {"id": "carol@example.com", "lifecycle": "suspended"},
            {"id": "release-agent", "kind": "ai_agent", "owner": "alice@example.com",
             "approved_scope": {"apps": ["github"], "actions": ["token_use", "api_call"],
                                "max_session_lifetime_s": 3600}},
            {"id": "svc-backup", "kind": "service_account", "owner": "alice@example.com",
             "approved_scope": {"apps": ["drive.google.com"], "max_session_lifetime_s": 7200}},
            {"id": "svc-old", "kind": "service_account", "owner": "alice@example.com",
             "lifecycle": "offboarded"},
            {"id": "svc-free", "kind": "service_account", "owner": "alice@example.com"}
        ],
        "apps": [
            {"id": "github", "domain": "github.com", "managed": true, "sensitivity": 3},
            {"id": "salesforce", "domain": "salesforce.com", "managed": true, "sensitivity": 2},
            {"id": "slack", "domain": "slack.com", "managed": true, "sensitivity": 1},
            {"id": "google-drive", "domain": "drive.google.com", "managed": true, "sensitivity": 2},
            {"id": "okta", "domain": "example.okta.com", "managed": true, "sensitivity": 3},
            {"id": "notion", "domain": "notion.so", "managed": false, "sensitivity": 1},
            {"id": "dropbox", "domain": "dropbox.com", "managed": false, "sensitivity": 2}
        ]
    }))
    .unwrap();
    Inventory::from_doc(doc).unwrap()
}

/// A geo database: the five places above by /16, plus a Tor exit range, an anonymizing
/// VPN range and a hosting range without coordinates.
pub fn geo() -> Arc<GeoDb> {
    let mut w = MmdbWriter::new("test-geo");
    for (ip, asn, country, lat, lon) in [LISBON, AMSTERDAM, LONDON, SYDNEY, TOKYO] {
        let octets: Vec<&str> = ip.split('.').collect();
        let net: Cidr = format!("{}.{}.0.0/16", octets[0], octets[1])
            .parse()
            .unwrap();
        let info = GeoInfo {
            country: Some(country.into()),
            lat: Some(lat),
            lon: Some(lon),
            asn: Some(asn),
            asn_org: None,
            anonymity: Anonymity {
                hosting: asn == 14061,
                ..Anonymity::default()
            },
        };
        w.insert(net, info.to_mmdb());
    }
    let flagged = |anonymity: Anonymity, asn: u32| {
        GeoInfo {
            asn: Some(asn),
            anonymity,
            ..GeoInfo::default()
        }
        .to_mmdb()
    };
    w.insert(
        "185.220.100.0/22".parse().unwrap(),
        flagged(
            Anonymity {
                tor: true,
                ..Anonymity::default()
            },
            60729,
        ),
    );
    w.insert(
        "198.18.0.0/15".parse().unwrap(),
        flagged(
            Anonymity {
                vpn: true,
                ..Anonymity::default()
            },
            9009,
        ),
    );
    Arc::new(GeoDb::from_bytes("test-geo.mmdb", w.to_bytes().unwrap()).unwrap())
}

/// One detector fed like the pipeline feeds it.
pub struct Harness {
    pub inventory: Inventory,
    pub stitcher: Stitcher,
    pub detector: Box<dyn Detector>,
    pub alerts: Vec<Alert>,
}

impl Harness {
    /// Detector `name` configured by `toml` (a `detectors.toml`), without geo.
    pub fn new(name: &str, toml: &str) -> Harness {
        Harness::build(name, toml, None)
    }

    /// Detector `name` configured by `toml`, with a geo database.
    pub fn with_geo(name: &str, toml: &str, geo: Arc<GeoDb>) -> Harness {
        Harness::build(name, toml, Some(geo))
    }

    fn build(name: &str, toml: &str, geo: Option<Arc<GeoDb>>) -> Harness {
        let cfg = builtin::load_config(toml, "detectors.toml").unwrap();
        let detector = builtin::build(&cfg, geo)
            .into_iter()
            .find(|d| d.name() == name)
            .unwrap_or_else(|| panic!("no detector {name}"));
        Harness {
            inventory: inventory(),
            stitcher: Stitcher::new(StitchConfig::default()),
            detector,
            alerts: Vec::new(),
        }
    }

    /// Feed one event; the alerts it raised.
    pub fn feed(&mut self, ev: Ev) -> Vec<Alert> {
        let mut event = ev.event();
        self.inventory.enrich(&mut event);
        let placement = self.stitcher.ingest(&mut event);
        let session = placement
            .session_id
            .as_deref()
            .and_then(|id| self.stitcher.get(id));
        let identity = event
            .midwatch
            .identity
            .as_ref()
            .and_then(|i| self.inventory.identity(&i.uid));
        let app = event
            .midwatch
            .app
            .as_ref()
            .and_then(|a| self.inventory.app(&a.uid));
        let ctx = Context {
            event: &event,
            session,
            identity,
            app,
            inventory: &self.inventory,
        };
        let mut out = Vec::new();
        self.detector.observe(&ctx, &mut out);
        self.alerts.extend(out.iter().cloned());
        out
    }

    /// Feed several events; every alert they raised.
    pub fn feed_all(&mut self, evs: impl IntoIterator<Item = Ev>) -> Vec<Alert> {
        evs.into_iter().flat_map(|e| self.feed(e)).collect()
    }

    /// The detector's state size.
    pub fn state_bytes(&self) -> usize {
        self.detector.state_bytes()
    }
}

/// The state stays bounded: `make(i)` gives the events of the `i`-th distinct key (a
/// session or an identity), all at about the same time. With `max_tracked = 50`, state
/// after 2,000 keys is no bigger than after 100; a day later, the old keys are gone.
pub fn assert_bounded(name: &str, make: impl Fn(usize, i64) -> Vec<Ev>) {
    assert_bounded_with(name, "", make);
}

/// [`assert_bounded`] with more settings for the detector's table.
pub fn assert_bounded_with(name: &str, settings: &str, make: impl Fn(usize, i64) -> Vec<Ev>) {
    let mut h = Harness::new(name, &format!("[{name}]\nmax_tracked = 50\n{settings}"));
    for i in 0..100 {
        h.feed_all(make(i, i64::try_from(i).unwrap()));
    }
    let at_cap = h.state_bytes();
    assert!(at_cap > 0, "{name} keeps no state");
    for i in 100..2_000 {
        h.feed_all(make(i, i64::try_from(i).unwrap()));
    }
    let after = h.state_bytes();
    assert!(
        after <= at_cap * 3 / 2,
        "{name}: {after} bytes after 2000 keys vs {at_cap} at the cap"
    );
    // A month later, one new key: everything older has expired.
    let late = 31 * 86_400;
    h.feed_all(make(5_000, late));
    h.feed_all(make(5_001, late + 1));
    let fresh = h.state_bytes();
    assert!(
        fresh < at_cap / 5,
        "{name}: {fresh} bytes after expiry vs {at_cap} at the cap"
    );
}
