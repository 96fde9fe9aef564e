//! `lookalike_domain`: credentials typed on hosts imitating known login domains.

use crate::support::{Ev, Harness, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "lookalike_domain";

fn login_on(host: &str, id: &str) -> Ev {
    Ev::new("login", 0, id)
        .who("alice@example.com")
        .app(host)
        .session(id)
        .auth("password", false)
}

fn verdict(h: &mut Harness, host: &str) -> Option<String> {
    let mut alerts = h.feed(login_on(host, &format!("e-{host}")));
    assert!(alerts.len() <= 1);
    alerts.pop().map(|a| a.summary)
}

#[test]
fn imitations_of_known_login_domains_fire() {
    let mut h = Harness::new(
        NAME,
        "[lookalike_domain]\nlogin_domains = [\"login.microsoftonline.com\"]\n",
    );
    for (host, why) in [
        ("okta.com.evil.io", "embeds the real domain okta.com"),
        ("github.com-login.io", "embeds the real domain github.com"),
        ("github-login.com", "adds words to the brand `github`"),
        ("git-hub.com", "`github` with added hyphens"),
        ("xn--gthub-n2e.com", "look-alike characters"),
        ("gіthub.com", "look-alike characters"),
        ("g1thub.com", "look-alike characters"),
        ("githbu.com", "1 edit(s) from the brand `github`"),
        ("salesforce.co", "under another suffix (.co)"),
        ("github.evil.io", "as a subdomain"),
        ("secure-okta.example.net", "as a subdomain"),
        ("slaesforce.com", "1 edit(s)"),
        ("salezforse.com", "2 edit(s)"),
        ("login.microsoftonIine.com", "look-alike characters"),
    ] {
        let summary = verdict(&mut h, host).unwrap_or_else(|| panic!("{host} not flagged"));
        assert!(summary.contains(why), "{host}: {summary}");
    }
    let a = &h.alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.lookalike_domain");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["e-okta.com.evil.io"]);
    assert!(a.references.contains(&"attack.t1566.002".to_string()));
}

#[test]
fn real_domains_and_unrelated_names_are_quiet() {
    let mut h = Harness::new(
        NAME,
        "[lookalike_domain]\nallow_domains = [\"github.io\"]\n",
    );
    for host in [
        "github.com",
        "gist.github.com",
        "api.github.com",
        "example.okta.com",
        "other-tenant.okta.com",
        "accounts.google.com",
        "example.my.salesforce.com",
        "gitlab.com",
        "notion.so",
        "stackoverflow.com",
        "github.io",
        "pages.github.io",
        "example.com",
        "xn--bcher-kva.de",
    ] {
        assert_eq!(verdict(&mut h, host), None, "{host}");
    }
}

#[test]
fn only_authentication_events_count_and_each_host_once_per_identity() {
    let mut h = Harness::new(NAME, "");
    let browse = Ev::new("navigate", 0, "n")
        .who("alice@example.com")
        .app("githbu.com")
        .session("n");
    assert!(h.feed(browse).is_empty());
    // An MFA step on the phishing page counts, failed or not.
    let mfa = Ev::new("mfa_challenge", 1, "m")
        .who("alice@example.com")
        .app("githbu.com")
        .session("m")
        .outcome("failure");
    assert_eq!(h.feed(mfa).len(), 1);
    assert!(h.feed(login_on("githbu.com", "again")).is_empty());
    let dave = Ev::new("login", 2, "d")
        .who("dave@example.com")
        .app("githbu.com")
        .session("d");
    assert_eq!(h.feed(dave).len(), 1);
    // The page URL's host is checked too.
    let via_url = Ev::new("login", 3, "u")
        .who("alice@example.com")
        .app("github.com")
        .session("u")
        .url("https://github.com.session-check.io/login");
    assert_eq!(h.feed(via_url).len(), 1);
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![
            Ev::new("login", t, &format!("l{i}"))
                .who(&format!("user{i}@example.com"))
                .app("githbu.com")
                .session(&format!("s{i}")),
        ]
    });
}
