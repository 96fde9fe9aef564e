//! `concurrent_session_use`: one session alternating between two devices.

use crate::support::{AMSTERDAM, Ev, Harness, LISBON, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "concurrent_session_use";

fn ev(at: i64, id: &str, device: &str) -> Ev {
    let net = if device == "dev-laptop" {
        LISBON
    } else {
        AMSTERDAM
    };
    Ev::new("navigate", at, id)
        .who("alice@example.com")
        .app("salesforce.com")
        .session("s1")
        .device(device)
        .net(net)
}

#[test]
fn alternating_devices_within_the_window_fire_once() {
    let mut h = Harness::new(NAME, "");
    assert!(
        h.feed_all([ev(0, "a", "dev-laptop"), ev(60, "b", "dev-evil")])
            .is_empty()
    );
    let alerts = h.feed(ev(120, "c", "dev-laptop"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.concurrent_session_use");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["a", "b", "c"]);
    assert!(a.references.contains(&"attack.t1550.004".to_string()));
    // More of the same ping-pong is the same case.
    let more = h.feed_all([
        ev(150, "d", "dev-evil"),
        ev(170, "e", "dev-laptop"),
        ev(200, "f", "dev-evil"),
    ]);
    assert!(more.is_empty(), "{more:?}");
    // A third device joining the ping-pong is another pair.
    let third = h.feed_all([ev(230, "g", "dev-third"), ev(260, "h", "dev-evil")]);
    assert_eq!(third.len(), 1, "{third:?}");
}

#[test]
fn moving_to_another_device_for_good_is_not_concurrent() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        ev(0, "a", "dev-laptop"),
        ev(60, "b", "dev-laptop"),
        ev(120, "c", "dev-new"),
        ev(180, "d", "dev-new"),
        ev(240, "e", "dev-new"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn coming_back_after_the_window_is_not_concurrent() {
    let mut h = Harness::new(NAME, "[concurrent_session_use]\nwindow_s = 300\n");
    let alerts = h.feed_all([
        ev(0, "a", "dev-laptop"),
        ev(60, "b", "dev-other"),
        // Back on the laptop 400 s after its last event: the laptop was idle.
        ev(400, "c", "dev-laptop"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn two_devices_in_their_own_sessions_are_not_concurrent() {
    let mut h = Harness::new(NAME, "");
    let other = |at, id: &str| {
        Ev::new("navigate", at, id)
            .who("alice@example.com")
            .app("salesforce.com")
            .session("s2")
            .device("dev-phone")
            .net(AMSTERDAM)
    };
    let alerts = h.feed_all([
        ev(0, "a", "dev-laptop"),
        other(30, "b"),
        ev(60, "c", "dev-laptop"),
        other(90, "d"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn device_ids_of_different_sources_do_not_alternate() {
    let mut h = Harness::new(NAME, "");
    // Audit records without a session of their own join Alice's by identity and app.
    let idp = |at, id: &str| {
        Ev::new("navigate", at, id)
            .who("alice@example.com")
            .app("salesforce.com")
            .device("okta-dt-hash")
            .net(LISBON)
            .source("okta")
    };
    let alerts = h.feed_all([
        ev(0, "a", "dev-laptop"),
        idp(30, "b"),
        ev(60, "c", "dev-laptop"),
        idp(90, "d"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
    assert_eq!(h.stitcher.len(), 1, "the records joined the session");
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, at| {
        vec![
            Ev::new("navigate", at, &format!("c{i}"))
                .who("alice@example.com")
                .app("salesforce.com")
                .session(&format!("sess-{i}"))
                .device("dev-laptop"),
        ]
    });
}
