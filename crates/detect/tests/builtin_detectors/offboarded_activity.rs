//! `offboarded_activity`: offboarded and suspended identities acting.

use crate::support::{Ev, Harness, LISBON, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "offboarded_activity";

fn bob(kind: &str, at: i64, id: &str, session: &str) -> Ev {
    Ev::new(kind, at, id)
        .who("bob@example.com")
        .app("notion.so")
        .session(session)
        .net(LISBON)
}

#[test]
fn a_leaver_signing_in_fires_once_per_session() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed(bob("login", 0, "b1", "s1").auth("password", false));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.offboarded_activity");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["b1"]);
    assert_eq!(a.identity.as_deref(), Some("bob@example.com"));
    assert!(
        a.summary.contains("offboarded 1 days earlier"),
        "{}",
        a.summary
    );
    assert!(!a.references.contains(&"owasp_nhi.nhi1".to_string()));
    assert!(
        h.feed_all([
            bob("search", 30, "b2", "s1"),
            bob("download", 60, "b3", "s1")
        ])
        .is_empty()
    );
    assert_eq!(h.feed(bob("login", 3_600, "b4", "s2")).len(), 1);
}

#[test]
fn suspended_people_and_offboarded_workloads_fire() {
    let mut h = Harness::new(NAME, "");
    let carol = Ev::new("navigate", 0, "c1")
        .who("carol@example.com")
        .app("slack.com")
        .session("c");
    let alerts = h.feed(carol);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].summary.contains("(suspended)"),
        "{}",
        alerts[0].summary
    );
    let svc = Ev::new("api_call", 10, "o1")
        .who_kind("svc-old", "service_account")
        .app("api.github.com")
        .token("old");
    let alerts = h.feed(svc);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].references.contains(&"owasp_nhi.nhi1".to_string()));
}

#[test]
fn before_offboarding_failures_and_active_people_are_quiet() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        // Two days before the offboarding date: still employed.
        bob("navigate", -2 * 86_400, "early", "s0"),
        // The account is disabled and the login fails: the control works.
        bob("login", 0, "denied", "s1").outcome("failure"),
        Ev::new("login", 0, "alice")
            .who("alice@example.com")
            .app("github.com")
            .session("a"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![bob("navigate", t, &format!("o{i}"), &format!("s{i}"))]
    });
}
