//! `shadow_saas_login`: logins to unmanaged or unknown apps, once per person and app.

use crate::support::{Ev, Harness, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "shadow_saas_login";

fn login(at: i64, id: &str, who: &str, app: &str, session: &str) -> Ev {
    Ev::new("login", at, id)
        .who(who)
        .app(app)
        .session(session)
        .auth("password", false)
}

#[test]
fn unmanaged_and_unknown_apps_fire_once_per_identity_and_app() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed(login(0, "n1", "alice@example.com", "www.notion.so", "s1"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.shadow_saas_login");
    assert_eq!(a.severity, Severity::Low);
    assert_eq!(a.evidence, ["n1"]);
    assert!(
        a.summary.contains("in the inventory but not managed"),
        "{}",
        a.summary
    );
    // Every morning's login to the same app is the same case.
    assert!(
        h.feed(login(
            86_000,
            "n2",
            "alice@example.com",
            "www.notion.so",
            "s2"
        ))
        .is_empty()
    );
    // Someone else, or another app, is another.
    assert_eq!(
        h.feed(login(10, "n3", "dave@example.com", "notion.so", "s3"))
            .len(),
        1
    );
    let unknown = h.feed(login(
        20,
        "u1",
        "alice@example.com",
        "app.pdf-tools.io",
        "s4",
    ));
    assert_eq!(unknown.len(), 1);
    assert!(
        unknown[0].summary.contains("not in the inventory"),
        "{}",
        unknown[0].summary
    );
    // Other hosts of the same unknown service count as the same app.
    assert!(
        h.feed(login(
            30,
            "u2",
            "alice@example.com",
            "eu.pdf-tools.io",
            "s5"
        ))
        .is_empty()
    );
}

#[test]
fn managed_apps_failures_and_ignored_domains_are_quiet() {
    let mut h = Harness::new(
        NAME,
        "[shadow_saas_login]\nignore_domains = [\"okta-emea.com\"]\n",
    );
    let alerts = h.feed_all([
        login(0, "a", "alice@example.com", "github.com", "s1").auth("sso", true),
        login(10, "b", "alice@example.com", "notion.so", "s2").outcome("failure"),
        login(20, "c", "alice@example.com", "example.okta-emea.com", "s3"),
        Ev::new("navigate", 30, "d")
            .who("alice@example.com")
            .app("notion.so")
            .session("s4"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![login(
            t,
            &format!("l{i}"),
            &format!("user{i}@example.com"),
            "notion.so",
            &format!("s{i}"),
        )]
    });
}
