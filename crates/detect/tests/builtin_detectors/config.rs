//! `detectors.toml`: defaults, settings, and errors that name the file, line and key.

use midwatch_detect::builtin::{self, BuiltinConfig, ConfigError, NAMES, load_config};
use midwatch_model::Severity;

fn err(text: &str) -> ConfigError {
    load_config(text, "rules/detectors.toml").unwrap_err()
}

#[test]
fn no_file_means_every_detector_on_with_defaults() {
    let cfg = load_config("", "detectors.toml").unwrap();
    assert_eq!(cfg, BuiltinConfig::default());
    let all = builtin::build(&cfg, None);
    let names: Vec<&str> = all.iter().map(|d| d.name()).collect();
    assert_eq!(names, NAMES);
    assert_eq!(cfg.impossible_travel.max_kmh, 900.0);
    assert_eq!(cfg.session_replay.severity, Severity::High);
    assert_eq!(cfg.shadow_saas_login.severity, Severity::Low);
    assert!(all.iter().all(|d| d.state_bytes() == 0));
}

#[test]
fn settings_are_read_and_detectors_turned_off() {
    let cfg = load_config(
        r#"
# The corporate VPN moves people on paper only.
[impossible_travel]
severity = "high"
max_kmh = 1000
min_km = 50.5
allow_cidrs = ["165.225.0.0/16", "2001:db8::/32", "10.9.9.9"]
allow_asns = [62044]

[ghost_login]
enabled = false

[lookalike_domain]
lookalike_max_distance = 1
login_domains = ["login.microsoftonline.com"]

[sensitive_without_strong_auth]
strong_auth_max_age_s = 900
data_actions = ["export"]

[anonymizing_network]
anonymizing_cidrs = ["185.220.100.0/22"]
anonymizing_asns = [9009]
"#,
        "detectors.toml",
    )
    .unwrap();
    let t = &cfg.impossible_travel;
    assert_eq!(
        (t.severity, t.max_kmh, t.min_km),
        (Severity::High, 1000.0, 50.5)
    );
    assert_eq!(t.allow_cidrs.len(), 3);
    assert_eq!(t.allow_cidrs[2].prefix(), 32);
    assert_eq!(t.allow_asns, [62044]);
    assert!(!cfg.ghost_login.enabled);
    assert_eq!(cfg.lookalike_domain.lookalike_max_distance, 1);
    assert_eq!(cfg.sensitive_without_strong_auth.strong_auth_max_age_s, 900);
    assert_eq!(cfg.sensitive_without_strong_auth.data_actions, ["export"]);
    assert_eq!(cfg.anonymizing_network.anonymizing_asns, [9009]);
    let names: Vec<&str> = builtin::build(&cfg, None)
        .iter()
        .map(|d| d.name())
        .collect();
    assert_eq!(names.len(), NAMES.len() - 1);
    assert!(!names.contains(&"ghost_login"));
}

#[test]
fn unknown_detector_names_the_line_and_lists_the_known_ones() {
    let e = err("[impossible_travel]\nmax_kmh = 800\n\n[impossible_travle]\nmax_kmh = 1\n");
    assert_eq!(e.file, "rules/detectors.toml");
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.key.as_deref(), Some("impossible_travle"), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("rules/detectors.toml, line 4: `impossible_travle`: unknown detector"),
        "{text}"
    );
    assert!(text.contains("session_replay"), "{text}");
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let e = err("[ghost_login]\nseverity = \"low\"\n\n[impossible_travel]\nmax_kmhh = 3\n");
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.key.as_deref(), Some("impossible_travel.max_kmhh"), "{e}");
    assert!(e.message.contains("unknown field `max_kmhh`"), "{e}");
}

#[test]
fn wrong_types_and_bad_values_name_the_key_and_line() {
    let e = err("[impossible_travel]\nmax_kmh = \"fast\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("impossible_travel.max_kmh")),
        "{e}"
    );

    let e = err("[session_replay]\nseverity = \"urgent\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("session_replay.severity")),
        "{e}"
    );
    assert!(e.message.contains("urgent"), "{e}");

    let e = err("[anonymizing_network]\nallow_cidrs = [\"10.0.0.0/8\", \"10.1.2.3/8\"]\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.key
            .as_deref()
            .unwrap()
            .starts_with("anonymizing_network.allow_cidrs"),
        "{e}"
    );
    assert!(e.message.contains("`10.0.0.0/8`"), "{e}");

    let e = err("[impossible_travel]\nmin_km = 1\nmax_kmh = 0\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("impossible_travel.max_kmh")),
        "{e}"
    );
    assert!(e.message.contains("positive"), "{e}");

    let e = err("[concurrent_session_use]\nwindow_s = 0\n");
    assert_eq!(
        e.key.as_deref(),
        Some("concurrent_session_use.window_s"),
        "{e}"
    );

    let e = err("[agent_scope]\nmax_tracked = 0\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("agent_scope.max_tracked")),
        "{e}"
    );

    let e = err("impossible_travel = { max_kmh = -5 }\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(1), Some("impossible_travel.max_kmh")),
        "{e}"
    );

    let e = err("[lookalike_domain]\nlogin_domains = [\"https://evil.io/\"]\n");
    assert_eq!(
        e.key.as_deref(),
        Some("lookalike_domain.login_domains"),
        "{e}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let e = err("[ghost_login]\nenabled = \n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.to_string().starts_with("rules/detectors.toml, line 2: "),
        "{e}"
    );
    let e = err("[ghost_login\n");
    assert_eq!(e.line, Some(1), "{e}");
}
