//! `anonymizing_network`: sessions started from Tor, anonymizing VPNs, proxies and hosting.

use crate::support::{AMSTERDAM, Ev, Harness, LISBON, assert_bounded_with, geo};
use midwatch_model::Severity;

const NAME: &str = "anonymizing_network";

fn start(at: i64, id: &str, ip: &str) -> Ev {
    Ev::new("login", at, id)
        .who("alice@example.com")
        .app("github.com")
        .session(id)
        .ip(ip)
        .auth("sso", true)
}

#[test]
fn configured_ranges_and_networks_fire_once_per_session() {
    let toml = "[anonymizing_network]\nanonymizing_cidrs = [\"185.220.100.0/22\"]\nanonymizing_asns = [14061]\n";
    let mut h = Harness::new(NAME, toml);
    let alerts = h.feed(start(0, "t1", "185.220.101.7"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.anonymizing_network");
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.evidence, ["t1"]);
    assert!(a.summary.contains("185.220.100.0/22"), "{}", a.summary);
    // The session's next events are not session starts.
    let next = Ev::new("navigate", 10, "t1b")
        .who("alice@example.com")
        .app("github.com")
        .session("t1")
        .ip("185.220.101.7");
    assert!(h.feed(next).is_empty());
    let by_asn = Ev::new("login", 20, "t2")
        .who("alice@example.com")
        .app("github.com")
        .session("t2")
        .net(AMSTERDAM);
    assert!(h.feed(by_asn).pop().unwrap().summary.contains("AS14061"));
}

#[test]
fn geo_flags_tor_vpn_and_hosting_for_people() {
    let mut h = Harness::with_geo(NAME, "", geo());
    let tor = h.feed(start(0, "tor", "185.220.100.9"));
    assert_eq!(tor.len(), 1);
    assert!(tor[0].references.contains(&"attack.t1090.003".to_string()));
    assert!(tor[0].summary.contains("flagged tor"), "{}", tor[0].summary);
    assert_eq!(h.feed(start(10, "vpn", "198.18.3.4")).len(), 1);
    let hosting = h.feed(start(20, "host", AMSTERDAM.0));
    assert_eq!(hosting.len(), 1);
    assert!(
        hosting[0].summary.contains("hosting"),
        "{}",
        hosting[0].summary
    );
    assert!(h.feed(start(30, "home", LISBON.0)).is_empty());
}

#[test]
fn workloads_in_hosting_networks_known_egress_and_failures_are_quiet() {
    let toml = "[anonymizing_network]\nallow_cidrs = [\"198.18.0.0/16\"]\n";
    let mut h = Harness::with_geo(NAME, toml, geo());
    let alerts = h.feed_all([
        // A service account's job runs in the cloud.
        Ev::new("token_use", 0, "svc")
            .who_kind("svc-backup", "service_account")
            .app("drive.google.com")
            .token("b")
            .ip(AMSTERDAM.0),
        // The corporate VPN, though the geo database calls it anonymizing.
        start(10, "corp", "198.18.9.9"),
        // A failed login through Tor is an attempt, not a session.
        start(20, "fail", "185.220.100.9").outcome("failure"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
    // A workload on Tor is still reported.
    let tor = Ev::new("token_use", 30, "svc-tor")
        .who_kind("svc-backup", "service_account")
        .app("drive.google.com")
        .token("c")
        .ip("185.220.100.10");
    assert_eq!(h.feed(tor).len(), 1);
    // Geo flags can be turned off.
    let mut off = Harness::with_geo(
        NAME,
        "[anonymizing_network]\nuse_geo_flags = false\n",
        geo(),
    );
    assert!(off.feed(start(0, "tor", "185.220.100.9")).is_empty());
}

#[test]
fn state_is_bounded() {
    assert_bounded_with(NAME, "anonymizing_asns = [14061]\n", |i, t| {
        vec![
            Ev::new("login", t, &format!("a{i}"))
                .who("alice@example.com")
                .app("github.com")
                .session(&format!("s{i}"))
                .net(AMSTERDAM),
        ]
    });
}
