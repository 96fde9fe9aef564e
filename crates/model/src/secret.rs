//! Recognising values that are credentials, so they are refused at ingest and never reach
//! the evidence log, whatever field they hide in.

/// What kind of secret `s` looks like, if it looks like one: bearer and vendor API tokens,
/// JSON Web Tokens, private keys. Identifiers such as AWS access key ids are not secrets.
pub fn looks_like_secret(s: &str) -> Option<&'static str> {
    let t = s.trim();
    if t.len() < 16 {
        return None;
    }
    if t.contains("-----BEGIN") && t.contains("PRIVATE KEY") {
        return Some("private key");
    }
    let lower_prefix = |p: &str| {
        t.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    };
    for (prefix, what) in [
        ("bearer ", "bearer token"),
        ("ssws ", "Okta API token"),
        ("basic ", "basic credentials"),
    ] {
        if lower_prefix(prefix) && t.len() >= prefix.len() + 12 {
            return Some(what);
        }
    }
    for (prefix, what) in [
        ("ghp_", "GitHub token"),
        ("gho_", "GitHub token"),
        ("ghu_", "GitHub token"),
        ("ghs_", "GitHub token"),
        ("ghr_", "GitHub token"),
        ("github_pat_", "GitHub token"),
        ("xoxb-", "Slack token"),
        ("xoxp-", "Slack token"),
        ("xoxa-", "Slack token"),
        ("xoxs-", "Slack token"),
        ("ya29.", "Google OAuth token"),
        ("sk-", "API secret key"),
    ] {
        if let Some(rest) = t.strip_prefix(prefix)
            && rest.len() >= 16
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Some(what);
        }
    }
    if is_jwt(t) {
        return Some("JSON Web Token");
    }
    None
}

/// A quick test over raw bytes: whether any credential prefix [`looks_like_secret`] knows
/// occurs at all, so a record can skip the field-by-field check when none does.
pub fn may_hold_secret(bytes: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"eyJ",
        b"bearer ",
        b"basic ",
        b"ssws ",
        b"ghp_",
        b"gho_",
        b"ghu_",
        b"ghs_",
        b"ghr_",
        b"github_pat_",
        b"xox",
        b"ya29.",
        b"sk-",
        b"-----BEGIN",
    ];
    bytes.iter().enumerate().any(|(i, b)| {
        matches!(
            b,
            b'e' | b'b' | b'B' | b'S' | b's' | b'g' | b'x' | b'y' | b'-'
        ) && PREFIXES.iter().any(|p| {
            bytes
                .get(i..i + p.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(p))
        })
    })
}

/// Three base64url segments, the first a JSON object header.
fn is_jwt(t: &str) -> bool {
    let mut parts = t.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    h.starts_with("eyJ")
        && h.len() >= 10
        && p.len() >= 10
        && b64(h)
        && b64(p)
        && (sig.is_empty() || b64(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised_and_identifiers_are_not() {
        for s in [
            "Bearer abcdefghijklmnopqrstuvwxyz",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            "xoxb-123456789012-abcdefghijklmnop",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
            "SSWS 00abcdefghijklmnopqrstuvwxyz",
        ] {
            assert!(looks_like_secret(s).is_some(), "{s}");
            assert!(
                may_hold_secret(format!("{{\"x\":\"{s}\"}}").as_bytes()),
                "{s}"
            );
        }
        for s in [
            "AKIAIOSFODNN7EXAMPLE",
            "alice@example.com",
            "https://app.example.com/files/report.pdf",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            "sk-short",
            "102nmKZ1pC5RJy3qa7yq5UGrA",
            "eyJ",
        ] {
            assert_eq!(looks_like_secret(s), None, "{s}");
        }
        assert!(!may_hold_secret(
            br#"{"id":"x","type":"login","url":"https://a.example/"}"#
        ));
    }
}
