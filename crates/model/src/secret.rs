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
        // One token after the scheme (base64 or token characters), not a sentence.
        let token = t.get(prefix.len()..).unwrap_or_default();
        if lower_prefix(prefix)
            && token.len() >= 12
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
        {
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
    embedded(t)
}

/// A credential inside a longer text (a header line, a log message, a command line): a
/// token with an unmistakable prefix starting at a word boundary, or a bearer / SSWS token
/// long enough and with digits in it. Prefixes that also begin ordinary words or paths
/// (`basic`, `sk-`) count only for a whole value.
fn embedded(t: &str) -> Option<&'static str> {
    let bytes = t.as_bytes();
    let token_len = |from: usize, extra: &[u8]| {
        bytes
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || extra.contains(b))
            .count()
    };
    for (i, b) in bytes.iter().enumerate() {
        if !matches!(b, b'e' | b'b' | b'B' | b'S' | b's' | b'g' | b'x' | b'y') {
            continue;
        }
        if i > 0 && bytes.get(i - 1).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let rest = bytes.get(i..).unwrap_or_default();
        let starts = |p: &[u8]| {
            rest.get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
        };
        for (prefix, what) in [
            (&b"bearer "[..], "bearer token"),
            (b"ssws ", "Okta API token"),
        ] {
            if starts(prefix) {
                let n = token_len(i + prefix.len(), b"-._~+/=");
                let token = bytes
                    .get(i + prefix.len()..i + prefix.len() + n)
                    .unwrap_or_default();
                if n >= 20 && token.iter().any(u8::is_ascii_digit) {
                    return Some(what);
                }
            }
        }
        for (prefix, what) in [
            (&b"ghp_"[..], "GitHub token"),
            (b"gho_", "GitHub token"),
            (b"ghu_", "GitHub token"),
            (b"ghs_", "GitHub token"),
            (b"ghr_", "GitHub token"),
            (b"github_pat_", "GitHub token"),
            (b"xoxb-", "Slack token"),
            (b"xoxp-", "Slack token"),
            (b"xoxa-", "Slack token"),
            (b"xoxs-", "Slack token"),
            (b"ya29.", "Google OAuth token"),
        ] {
            if rest.starts_with(prefix) && token_len(i + prefix.len(), b"_-.") >= 16 {
                return Some(what);
            }
        }
        if rest.starts_with(b"eyJ") {
            let n = token_len(i, b"-_=.");
            if std::str::from_utf8(rest.get(..n).unwrap_or_default()).is_ok_and(is_jwt) {
                return Some("JSON Web Token");
            }
        }
    }
    None
}

/// A quick test over raw bytes: whether any credential prefix [`looks_like_secret`] knows
/// occurs at all, so a record can skip the field-by-field check when none does. A `\u`
/// escape could spell a prefix the raw bytes do not show: it sends the record to the
/// field-by-field check too.
pub fn may_hold_secret(bytes: &[u8]) -> bool {
    if bytes.windows(2).any(|w| w == b"\\u") {
        return true;
    }
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
            "basic configuration of the workspace",
            "the bearer of this message is welcome",
            "https://files.example.com/task-force/sk-planning-notes-2026-q3",
            "grep ghp_ in the audit trail",
            "a keyJWT value",
        ] {
            assert_eq!(looks_like_secret(s), None, "{s}");
        }
        // Inside longer text: header lines, messages, command lines.
        for (s, what) in [
            (
                "Authorization: Bearer 4f9c2e71a8b34d0c9e6f1a2b3c4d5e6f",
                "bearer token",
            ),
            (
                "curl -H 'Authorization: SSWS 00Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8' https://x.example",
                "Okta API token",
            ),
            (
                "git clone https://ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123@github.example/r.git",
                "GitHub token",
            ),
            (
                "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U; path=/",
                "JSON Web Token",
            ),
            (
                "slack says xoxb-123456789012-abcdefghijklmnop ok",
                "Slack token",
            ),
        ] {
            assert_eq!(looks_like_secret(s), Some(what), "{s}");
        }
        // A prefix spelled with an escape in the raw record still sends it to the check.
        assert!(may_hold_secret(
            br#"{"x":"\u0065yJhbGciOiJIUzI1NiJ9.eyJzdWIi"}"#
        ));
        assert!(!may_hold_secret(
            br#"{"id":"x","type":"login","url":"https://a.example/"}"#
        ));
    }
}
