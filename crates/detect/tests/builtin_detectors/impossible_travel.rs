//! `impossible_travel`: speed between consecutive positions of one identity, with the
//! allowances that keep VPNs, short hops and missing geo quiet.

use crate::support::{AMSTERDAM, Ev, Harness, LISBON, LONDON, SYDNEY, TOKYO, assert_bounded, geo};
use midwatch_model::Severity;

const NAME: &str = "impossible_travel";

fn at(t: i64, id: &str, net: (&str, u32, &str, f64, f64)) -> Ev {
    Ev::new("navigate", t, id)
        .who("alice@example.com")
        .app("slack.com")
        .session(id)
        .net(net)
}

/// The corporate VPN egress, located in New York.
const VPN: (&str, u32, &str, f64, f64) = ("165.225.10.1", 62044, "US", 40.71, -74.0);

#[test]
fn lisbon_then_sydney_within_an_hour_fires_once_per_pair() {
    let mut h = Harness::new(NAME, "");
    assert!(h.feed(at(0, "lis", LISBON)).is_empty());
    let alerts = h.feed(at(3_600, "syd", SYDNEY));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.impossible_travel");
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.evidence, ["lis", "syd"]);
    assert_eq!(a.identity.as_deref(), Some("alice@example.com"));
    assert!(
        a.summary.contains("km/h") && a.summary.contains("AU"),
        "{}",
        a.summary
    );
    // Back and forth between the same two places: the same case.
    assert!(
        h.feed_all([at(3_700, "lis2", LISBON), at(3_800, "syd2", SYDNEY)])
            .is_empty()
    );
    // A third place is a new case.
    assert_eq!(h.feed(at(3_900, "tyo", TOKYO)).len(), 1);
}

#[test]
fn plausible_trips_short_hops_and_failures_are_quiet() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        at(0, "a", LISBON),
        // Lisbon to London in four hours: a flight.
        at(4 * 3_600, "b", LONDON),
        // 40 km away a minute later: geolocation noise.
        at(
            4 * 3_600 + 60,
            "c",
            ("86.151.9.9", 2856, "GB", 51.80, -0.30),
        ),
        // A failed login from Sydney is someone trying, not Alice travelling.
        at(4 * 3_600 + 120, "d", SYDNEY).outcome("failure"),
        at(4 * 3_600 + 180, "e", LONDON),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn vpn_egress_ranges_and_their_autonomous_system_are_allowed() {
    let toml = "[impossible_travel]\nallow_cidrs = [\"165.225.0.0/16\"]\n";
    let mut h = Harness::new(NAME, toml);
    let alerts = h.feed_all([
        at(0, "a", LISBON),
        // On the VPN, which geolocates to New York.
        at(300, "b", VPN),
        // Another egress address of the same provider, outside the listed range.
        at(400, "c", ("147.161.2.3", 62044, "US", 40.71, -74.0)),
        at(600, "d", LISBON),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
    // Without the allowance the same day is impossible.
    let mut plain = Harness::new(NAME, "");
    assert_eq!(
        plain
            .feed_all([at(0, "a", LISBON), at(300, "b", VPN)])
            .len(),
        1
    );
    // Configured autonomous systems are allowed outright.
    let mut by_asn = Harness::new(NAME, "[impossible_travel]\nallow_asns = [62044]\n");
    assert!(
        by_asn
            .feed_all([at(0, "a", LISBON), at(300, "b", VPN)])
            .is_empty()
    );
}

#[test]
fn missing_geo_is_skipped_without_losing_the_last_position() {
    let mut h = Harness::new(NAME, "");
    let no_geo = Ev::new("navigate", 100, "x")
        .who("alice@example.com")
        .app("slack.com")
        .session("x")
        .ip("203.0.113.9");
    assert!(h.feed_all([at(0, "a", LISBON), no_geo]).is_empty());
    let alerts = h.feed(at(200, "b", TOKYO));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["a", "b"]);
}

#[test]
fn positions_come_from_the_geo_database_when_events_carry_none() {
    let mut h = Harness::with_geo(NAME, "", geo());
    let ip_only = |t, id: &str, ip: &str| {
        Ev::new("navigate", t, id)
            .who("dave@example.com")
            .app("slack.com")
            .session(id)
            .ip(ip)
    };
    let alerts = h.feed_all([ip_only(0, "a", LISBON.0), ip_only(600, "b", AMSTERDAM.0)]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].summary.contains("NL"), "{}", alerts[0].summary);
}

#[test]
fn identities_are_tracked_apart() {
    let mut h = Harness::new(NAME, "");
    let dave = Ev::new("navigate", 60, "d")
        .who("dave@example.com")
        .app("slack.com")
        .session("d")
        .net(SYDNEY);
    assert!(h.feed_all([at(0, "a", LISBON), dave]).is_empty());
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![
            Ev::new("navigate", t, &format!("t{i}"))
                .who(&format!("user{i}@example.com"))
                .app("slack.com")
                .session(&format!("s{i}"))
                .net(LISBON),
        ]
    });
}
