//! `sensitive_without_strong_auth`: sensitive actions without recent MFA.

use crate::support::{Ev, Harness, LISBON, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "sensitive_without_strong_auth";

fn alice(kind: &str, at: i64, id: &str, app: &str) -> Ev {
    Ev::new(kind, at, id)
        .who("alice@example.com")
        .app(app)
        .session("s1")
        .device("dev-laptop")
        .net(LISBON)
}

#[test]
fn export_in_a_session_that_never_used_mfa_fires_once() {
    let mut h = Harness::new(NAME, "");
    assert!(
        h.feed_all([
            alice("login", 0, "l", "salesforce.com").auth("sso", false),
            alice("navigate", 30, "n", "salesforce.com"),
        ])
        .is_empty()
    );
    let alerts = h.feed(alice("export", 60, "x", "salesforce.com"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.sensitive_without_strong_auth");
    assert_eq!(a.severity, Severity::Low);
    assert_eq!(a.evidence, ["l", "x"]);
    assert!(
        a.summary.contains("never used MFA") && a.summary.contains("sso"),
        "{}",
        a.summary
    );
    assert!(a.references.contains(&"nist_csf.pr.aa-03".to_string()));
    assert!(
        h.feed_all([
            alice("export", 90, "x2", "salesforce.com"),
            alice("share", 120, "x3", "salesforce.com"),
        ])
        .is_empty()
    );
}

#[test]
fn strong_authentication_covers_sensitive_actions_until_it_is_too_old() {
    let mut h = Harness::new(
        NAME,
        "[sensitive_without_strong_auth]\nstrong_auth_max_age_s = 1200\n",
    );
    assert!(
        h.feed_all([
            alice("login", 0, "l", "salesforce.com").auth("sso", true),
            alice("export", 600, "x1", "salesforce.com"),
            alice("navigate", 1_200, "n", "salesforce.com"),
        ])
        .is_empty()
    );
    let alerts = h.feed(alice("export", 1_500, "x2", "salesforce.com"));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["l", "x2"]);
    assert!(
        alerts[0].summary.contains("25 min earlier (limit 20 min)"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn a_step_up_or_a_passkey_is_strong() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        alice("login", 0, "l", "salesforce.com").auth("sso", false),
        alice("mfa_challenge", 30, "m", "salesforce.com").auth("sso", true),
        alice("export", 60, "x", "salesforce.com"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
    let mut h = Harness::new(NAME, "");
    let passkey = |kind: &str, at, id: &str| {
        Ev::new(kind, at, id)
            .who("dave@example.com")
            .app("dropbox.com")
            .session("p1")
    };
    let alerts = h.feed_all([
        passkey("login", 0, "pl").auth("passkey", false),
        passkey("share", 60, "ps"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn what_counts_as_sensitive() {
    let mut h = Harness::new(NAME, "");
    let no_mfa = |kind: &str, at, id: &str, app: &str, session: &str| {
        Ev::new(kind, at, id)
            .who("dave@example.com")
            .app(app)
            .session(session)
            .auth("sso", false)
    };
    // Downloads in a low-sensitivity app are not sensitive; neither is browsing anywhere.
    assert!(
        h.feed_all([
            no_mfa("download", 0, "d", "slack.com", "a"),
            no_mfa("navigate", 10, "n", "github.com", "b"),
        ])
        .is_empty()
    );
    // A privilege grant is sensitive even in a low-sensitivity app.
    assert_eq!(
        h.feed(no_mfa("privilege_grant", 20, "p", "slack.com", "c"))
            .len(),
        1
    );
    // Anything touching a secret is sensitive.
    let secret = no_mfa("api_call", 30, "s", "slack.com", "d").resource("secret");
    assert!(
        h.feed(secret)
            .pop()
            .unwrap()
            .summary
            .contains("on a secret")
    );
    // Failed attempts are not actions.
    assert!(
        h.feed(no_mfa("export", 40, "f", "salesforce.com", "e").outcome("failure"))
            .is_empty()
    );
}

#[test]
fn non_humans_and_sessionless_events_are_left_alone() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        Ev::new("export", 0, "b")
            .who_kind("svc-backup", "service_account")
            .app("drive.google.com")
            .token("backup"),
        Ev::new("export", 10, "u")
            .who("dave@example.com")
            .app("salesforce.com"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![
            Ev::new("navigate", t, &format!("n{i}"))
                .who("alice@example.com")
                .app("salesforce.com")
                .session(&format!("s{i}")),
        ]
    });
}
