//! `session_replay`: the stolen-cookie case and its benign look-alikes.

use crate::support::{AMSTERDAM, Ev, Harness, LISBON, LONDON, assert_bounded, geo};
use midwatch_model::Severity;

const NAME: &str = "session_replay";

fn h() -> Harness {
    Harness::new(NAME, "")
}

/// Alice's GitHub session `s1` from her laptop at home.
fn alice(kind: &str, at: i64, id: &str) -> Ev {
    Ev::new(kind, at, id)
        .who("alice@example.com")
        .app("github.com")
        .session("s1")
        .device("dev-laptop")
        .ua("Mozilla/5.0 (Macintosh)")
        .net(LISBON)
}

#[test]
fn same_session_from_a_new_device_and_network_is_replay() {
    let mut h = h();
    assert!(
        h.feed_all([
            alice("login", 0, "e-login").auth("sso", true),
            alice("navigate", 60, "e-nav"),
        ])
        .is_empty()
    );
    let thief = |at, id: &str| {
        Ev::new("download", at, id)
            .who("alice@example.com")
            .app("github.com")
            .session("s1")
            .device("dev-evil")
            .ua("Mozilla/5.0 (X11; Linux)")
            .net(AMSTERDAM)
    };
    let alerts = h.feed(thief(1_200, "e-evil-1"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.session_replay");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["e-login", "e-evil-1"]);
    assert_eq!(a.identity.as_deref(), Some("alice@example.com"));
    assert!(
        a.session_id
            .as_deref()
            .is_some_and(|s| s.starts_with("ses_"))
    );
    assert!(a.references.contains(&"attack.t1539".to_string()));
    assert!(a.references.contains(&"attack.t1550.004".to_string()));
    assert!(
        a.summary.contains("dev-evil") && a.summary.contains("AS14061"),
        "{}",
        a.summary
    );
    // The same thief again, and the victim carrying on: one case, one alert.
    assert!(
        h.feed_all([
            thief(1_260, "e-evil-2"),
            alice("navigate", 1_300, "e-nav-2"),
            thief(1_320, "e-evil-3"),
        ])
        .is_empty()
    );
    // A second foreign device is a second case.
    let second = Ev::new("navigate", 1_400, "e-evil-4")
        .who("alice@example.com")
        .app("github.com")
        .session("s1")
        .device("dev-evil-2")
        .net(LONDON);
    assert_eq!(h.feed(second).len(), 1);
}

#[test]
fn a_laptop_changing_networks_is_not_replay() {
    let mut h = h();
    let alerts = h.feed_all([
        alice("login", 0, "a1").auth("sso", true),
        alice("navigate", 60, "a2"),
        // Same laptop, now on the office VPN in another country.
        alice("navigate", 600, "a3").net(AMSTERDAM),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn a_new_device_on_the_same_network_is_not_replay() {
    let mut h = h();
    let alerts = h.feed_all([
        alice("login", 0, "b1").auth("sso", true),
        // Another machine behind the same home router (same AS and country).
        alice("navigate", 60, "b2").device("dev-desktop").net((
            "85.243.10.21",
            3243,
            "PT",
            38.72,
            -9.14,
        )),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn two_devices_in_two_sessions_are_not_replay() {
    let mut h = h();
    let alerts = h.feed_all([
        alice("login", 0, "c1").auth("sso", true),
        Ev::new("login", 30, "c2")
            .who("alice@example.com")
            .app("github.com")
            .session("s2")
            .device("dev-phone")
            .net(LONDON)
            .auth("sso", true),
        alice("navigate", 60, "c3"),
        Ev::new("navigate", 90, "c4")
            .who("alice@example.com")
            .app("github.com")
            .session("s2")
            .device("dev-phone")
            .net(LONDON),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn device_ids_of_another_source_are_not_compared() {
    let mut h = h();
    let idp = |at, id: &str| {
        // No session of its own: it joins Alice's session by identity and app.
        Ev::new("mfa_challenge", at, id)
            .who("alice@example.com")
            .app("github.com")
            .device("okta-dt-hash-77")
            .net(AMSTERDAM)
            .source("okta")
    };
    let alerts = h.feed_all([
        alice("login", 0, "a1").auth("sso", true),
        idp(30, "o1"),
        alice("navigate", 60, "a2"),
        idp(90, "o2"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
    assert_eq!(h.stitcher.len(), 1, "the records joined the session");
}

#[test]
fn token_sessions_replayed_by_user_agent_and_network() {
    let mut h = h();
    let bot = |at, id: &str| {
        Ev::new("api_call", at, id)
            .who_kind("release-agent", "ai_agent")
            .app("api.github.com")
            .token("tok-1")
            .ua("example-agents/1.4")
            .net(("52.44.1.2", 16509, "US", 39.0, -77.5))
    };
    assert!(h.feed_all([bot(0, "t1"), bot(30, "t2")]).is_empty());
    let alerts = h.feed(bot(60, "t3").ua("curl/8.5").net(AMSTERDAM));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["t1", "t3"]);
}

#[test]
fn networks_known_only_by_address_are_completed_from_geo() {
    let mut h = Harness::with_geo(NAME, "", geo());
    let ev = |at, id: &str, dev: &str, ip: &str| {
        Ev::new("navigate", at, id)
            .who("alice@example.com")
            .app("github.com")
            .session("s9")
            .device(dev)
            .ip(ip)
    };
    // Another device at another address of the same provider: same network per geo.
    assert!(
        h.feed_all([
            ev(0, "g1", "dev-a", "85.243.1.1"),
            ev(10, "g2", "dev-b", "85.243.200.9")
        ])
        .is_empty()
    );
    // Another device in another provider's range.
    let alerts = h.feed(ev(20, "g3", "dev-c", "167.99.7.7"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].summary.contains("AS14061, NL"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, at| {
        vec![
            Ev::new("navigate", at, &format!("r{i}"))
                .who("alice@example.com")
                .app("github.com")
                .session(&format!("sess-{i}"))
                .device("dev-laptop")
                .net(LISBON),
        ]
    });
}
