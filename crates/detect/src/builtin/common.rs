//! What the built-in detectors share: bounded per-key state, reading facts off the
//! [`Context`], network facts with geo fallback, and building [`Alert`]s.

use crate::geo::{Anonymity, GeoDb};
use crate::{Alert, Context};
use midwatch_model::session::Baseline;
use midwatch_model::{ClassUid, Event, IdentityKind, Severity, StatusId};

/// Keys come from untrusted input, so maps use a randomly seeded hasher.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Heap bytes a state value holds beyond its own size, for `state_bytes()`.
pub(crate) trait HeapSize {
    /// Approximate heap bytes owned.
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>()
            + self.iter().map(HeapSize::heap_bytes).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_bytes)
    }
}

/// Per-entry bookkeeping a hash map costs beyond key and value (control bytes, slack).
const ENTRY_OVERHEAD: usize = 16;

struct Slot<V> {
    last: i64,
    value: V,
}

/// State per key (session, identity, …), bounded two ways: entries untouched for `ttl_ms`
/// of event time are dropped, and when `cap` entries are held the least recently touched
/// eighth is evicted to make room.
pub(crate) struct Keyed<V> {
    map: HashMap<Box<str>, Slot<V>>,
    cap: usize,
    ttl_ms: i64,
    watermark: i64,
    last_sweep: i64,
}

impl<V> std::fmt::Debug for Keyed<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("len", &self.map.len())
            .field("cap", &self.cap)
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

impl<V: Default + HeapSize> Keyed<V> {
    /// At most `cap` keys (at least 1), each forgotten `ttl_ms` after it was last touched.
    pub(crate) fn new(cap: usize, ttl_ms: i64) -> Keyed<V> {
        Keyed {
            map: HashMap::default(),
            cap: cap.max(1),
            ttl_ms: ttl_ms.max(1),
            watermark: i64::MIN,
            last_sweep: i64::MIN,
        }
    }

    /// The value of `key`, created empty if new, marked as touched at event time `now`.
    pub(crate) fn entry(&mut self, key: &str, now: i64) -> &mut V {
        self.advance(now);
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.evict_oldest();
        }
        let slot = self.map.entry(Box::from(key)).or_insert_with(|| Slot {
            last: now,
            value: V::default(),
        });
        slot.last = slot.last.max(now);
        &mut slot.value
    }

    /// Touch `key` at `now`; true when it was not held before (a new case).
    pub(crate) fn first_time(&mut self, key: &str, now: i64) -> bool {
        let new = !self.map.contains_key(key);
        self.entry(key, now);
        new
    }

    /// The value of `key`, if held.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    /// Number of keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Approximate bytes held.
    pub(crate) fn bytes(&self) -> usize {
        let per = std::mem::size_of::<Box<str>>() + std::mem::size_of::<Slot<V>>() + ENTRY_OVERHEAD;
        self.map
            .iter()
            .map(|(k, s)| per + k.len() + s.value.heap_bytes())
            .sum()
    }

    /// Move event time forward; drop expired keys now and then (every quarter TTL).
    fn advance(&mut self, now: i64) {
        if now > self.watermark {
            self.watermark = now;
        }
        let every = (self.ttl_ms / 4).max(1);
        if self.last_sweep == i64::MIN {
            self.last_sweep = self.watermark;
        } else if self.watermark.saturating_sub(self.last_sweep) >= every {
            self.last_sweep = self.watermark;
            let horizon = self.watermark.saturating_sub(self.ttl_ms);
            self.map.retain(|_, s| s.last >= horizon);
        }
    }

    /// Drop the least recently touched eighth of the keys (at least one).
    fn evict_oldest(&mut self) {
        let n = (self.map.len() / 8).max(1);
        let mut times: Vec<i64> = self.map.values().map(|s| s.last).collect();
        let Some(idx) = n.checked_sub(1) else {
            return;
        };
        if idx >= times.len() {
            self.map.clear();
            return;
        }
        let (_, cutoff, _) = times.select_nth_unstable(idx);
        let cutoff = *cutoff;
        self.map.retain(|_, s| s.last > cutoff);
    }
}

/// The identity an event is about: the inventory identity, else the enriched uid, the
/// session's identity, or the actor's own uid.
pub(crate) fn identity_id<'a>(ctx: &'a Context<'a>) -> Option<&'a str> {
    ctx.identity
        .map(|i| i.id.as_str())
        .or_else(|| ctx.event.midwatch.identity.as_ref().map(|i| i.uid.as_str()))
        .or_else(|| ctx.session.and_then(|s| s.identity.as_deref()))
        .or_else(|| ctx.event.actor_uid())
}

/// The identity's kind, from the inventory, the enrichment, the session or the actor.
pub(crate) fn identity_kind(ctx: &Context<'_>) -> Option<IdentityKind> {
    ctx.identity
        .map(|i| i.kind)
        .or_else(|| ctx.event.midwatch.identity.as_ref().map(|i| i.kind))
        .or_else(|| ctx.session.and_then(|s| s.identity_kind))
        .or_else(|| ctx.event.actor.user.as_ref().and_then(|u| u.kind()))
}

/// The midwatch session the event is in.
pub(crate) fn session_id<'a>(ctx: &'a Context<'a>) -> Option<&'a str> {
    ctx.session
        .map(|s| s.id.as_str())
        .or(ctx.event.midwatch.session_uid.as_deref())
}

/// The app's inventory id, else its host name.
pub(crate) fn app_key<'a>(ctx: &'a Context<'a>) -> Option<&'a str> {
    ctx.app
        .map(|a| a.id.as_str())
        .or_else(|| ctx.event.midwatch.app.as_ref().map(|a| a.uid.as_str()))
        .or_else(|| ctx.event.app_domain())
}

/// The app's display name for summaries.
pub(crate) fn app_name<'a>(ctx: &'a Context<'a>) -> &'a str {
    ctx.app
        .and_then(|a| a.name.as_deref())
        .or_else(|| {
            ctx.event
                .dst_endpoint
                .as_ref()
                .and_then(|d| d.svc_name.as_deref())
        })
        .or_else(|| app_key(ctx))
        .unwrap_or("an unknown app")
}

/// A logon (Authentication, activity 1).
pub(crate) fn is_login(e: &Event) -> bool {
    e.class_uid == ClassUid::Authentication && e.activity_id == 1
}

/// Not a failure (success or unknown outcome).
pub(crate) fn succeeded(e: &Event) -> bool {
    e.status_id != StatusId::Failure
}

/// A device fingerprint: the device id, else the user agent.
pub(crate) fn device_of(e: &Event) -> Option<&str> {
    e.device_id().or_else(|| e.user_agent())
}

/// Network facts of an address: from the event where it has them, else the geo database.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Net {
    pub ip: Option<String>,
    pub asn: Option<u32>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub anonymity: Anonymity,
}

impl Net {
    /// The event's source network, filled from `geo` where the event is silent.
    pub(crate) fn of_event(e: &Event, geo: Option<&GeoDb>) -> Net {
        let src = e.src_endpoint.as_deref();
        let loc = src.and_then(|s| s.location.as_ref());
        let mut net = Net {
            ip: e.src_ip().map(str::to_string),
            asn: e.src_asn(),
            country: e.src_country().map(str::to_string),
            lat: loc.and_then(|l| l.lat).filter(|v| v.is_finite()),
            lon: loc.and_then(|l| l.long).filter(|v| v.is_finite()),
            anonymity: Anonymity::default(),
        };
        if net.lat.is_none() || net.lon.is_none() {
            net.lat = None;
            net.lon = None;
        }
        net.fill_from(geo);
        net
    }

    /// A session baseline's network, filled from `geo`.
    pub(crate) fn of_baseline(b: &Baseline, geo: Option<&GeoDb>) -> Net {
        let mut net = Net {
            ip: b.ip.clone(),
            asn: b.asn,
            country: b.country.clone(),
            ..Net::default()
        };
        net.fill_from(geo);
        net
    }

    fn fill_from(&mut self, geo: Option<&GeoDb>) {
        let (Some(geo), Some(ip)) = (geo, self.ip.as_deref()) else {
            return;
        };
        let Some(info) = geo.lookup_str(ip) else {
            return;
        };
        self.asn = self.asn.or(info.asn);
        if self.country.is_none() {
            self.country = info.country;
        }
        if self.lat.is_none() {
            self.lat = info.lat;
            self.lon = info.lon;
        }
        self.anonymity = info.anonymity;
    }

    /// The geo position, when both coordinates are known.
    pub(crate) fn position(&self) -> Option<(f64, f64)> {
        Some((self.lat?, self.lon?))
    }

    /// Whether `other` is a different network: a different AS or country where both are
    /// known; with neither known on both sides, a different address.
    pub(crate) fn differs(&self, other: &Net) -> bool {
        let asn = match (self.asn, other.asn) {
            (Some(a), Some(b)) => Some(a != b),
            _ => None,
        };
        let country = match (&self.country, &other.country) {
            (Some(a), Some(b)) => Some(!a.eq_ignore_ascii_case(b)),
            _ => None,
        };
        match (asn, country) {
            (None, None) => matches!((&self.ip, &other.ip), (Some(a), Some(b)) if a != b),
            (a, c) => a.unwrap_or(false) || c.unwrap_or(false),
        }
    }

    /// A short description: `198.51.100.7 (AS64500, PT)`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(asn) = self.asn {
            parts.push(format!("AS{asn}"));
        }
        if let Some(c) = &self.country {
            parts.push(c.clone());
        }
        let ip = self.ip.as_deref().unwrap_or("unknown address");
        if parts.is_empty() {
            ip.to_string()
        } else {
            format!("{ip} ({})", parts.join(", "))
        }
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub(crate) fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// What an alert says, before the context fills in time, session and identity.
#[derive(Debug)]
pub(crate) struct Draft<'a> {
    pub detector: &'static str,
    pub title: &'a str,
    pub severity: Severity,
    pub evidence: Vec<String>,
    pub references: Vec<&'static str>,
    pub summary: String,
}

/// Build the alert for `draft` at the context's event.
pub(crate) fn alert(ctx: &Context<'_>, draft: Draft<'_>) -> Alert {
    let mut evidence: Vec<String> = Vec::with_capacity(draft.evidence.len());
    for id in draft.evidence {
        if !evidence.contains(&id) {
            evidence.push(id);
        }
    }
    Alert {
        rule: format!("midwatch.builtin.{}", draft.detector),
        title: draft.title.to_string(),
        severity: draft.severity,
        time: ctx.event.time,
        session_id: session_id(ctx).map(str::to_string),
        identity: identity_id(ctx).map(str::to_string),
        evidence,
        references: draft.references.into_iter().map(str::to_string).collect(),
        summary: draft.summary,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn keyed_state_is_bounded_by_count_and_age() {
        let mut k: Keyed<Vec<String>> = Keyed::new(16, 1_000);
        for i in 0..100 {
            k.entry(&format!("k{i}"), i).push("x".into());
        }
        assert!(k.len() <= 16, "{}", k.len());
        assert!(k.get("k99").is_some(), "the newest survives");
        assert!(k.get("k0").is_none(), "the oldest went first");
        // Far later, everything untouched for a TTL is gone.
        k.entry("late", 10_000);
        k.entry("later", 10_400);
        assert_eq!(k.len(), 2);
        assert!(k.bytes() > 0);
    }

    #[test]
    fn distances() {
        let lisbon = (38.7223, -9.1393);
        let london = (51.5072, -0.1276);
        let d = distance_km(lisbon, london);
        assert!((1_550.0..1_620.0).contains(&d), "{d}");
        assert!(distance_km(lisbon, lisbon) < 1e-9);
        let antipode = distance_km((0.0, 0.0), (0.0, 180.0));
        assert!((20_000.0..20_040.0).contains(&antipode), "{antipode}");
    }
}
