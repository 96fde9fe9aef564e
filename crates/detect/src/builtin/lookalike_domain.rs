//! `lookalike_domain`: credentials entered on a host that imitates a known login domain.
//!
//! The known login domains are the inventory apps' domains plus `login_domains` (the
//! identity provider's, for instance). A login or MFA step (any Authentication event, any
//! outcome: the credentials were typed either way) on a host that is not one of them, nor
//! under one, nor on the same registrable domain, but that
//! - embeds a known domain (`okta.com.evil.io`, `github.com-login.io`),
//! - uses a known brand as a subdomain or hyphenated word (`github.evil.io`,
//!   `okta-sso.com`, `git-hub.com`),
//! - spells the brand with look-alike characters, in Unicode or punycode (`gіthub.com`,
//!   `xn--gthub-n2e.com`, `g1thub.com`, `rnicrosoft.com`) or under another suffix
//!   (`github.co`), or
//! - is within `lookalike_max_distance` edits of the brand (fewer for short names:
//!   none up to 3 letters, one up to 7),
//!
//! is a phishing page collecting credentials (ATT&CK T1566.002, T1583.001). One alert per
//! identity per host; `allow_domains` are never reported.

use super::Detector;
use super::common::{Draft, Keyed, alert, identity_id};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::{ClassUid, Severity};
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "lookalike_domain";

/// Cases are forgotten a month after they were last seen.
const TTL_MS: i64 = 30 * 24 * 3_600_000;

/// `[lookalike_domain]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Most edits between a brand name and a look-alike (capped lower for short names).
    pub lookalike_max_distance: usize,
    /// Login domains beyond the inventory apps' (the identity provider's).
    pub login_domains: Vec<String>,
    /// Domains never reported, with their subdomains.
    pub allow_domains: Vec<String>,
    /// Most identity and host pairs remembered.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::High,
            lookalike_max_distance: 2,
            login_domains: Vec::new(),
            allow_domains: Vec::new(),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.lookalike_max_distance > 5 {
            return Err(Invalid::new("lookalike_max_distance", "must be 0 to 5"));
        }
        for d in self.login_domains.iter().chain(&self.allow_domains) {
            let key = if self.login_domains.contains(d) {
                "login_domains"
            } else {
                "allow_domains"
            };
            if d.trim().is_empty() || d.contains(['/', ':', ' ', '@']) {
                return Err(Invalid::new(
                    key,
                    format!("`{d}` is not a bare domain name"),
                ));
            }
        }
        check_max_tracked(self.max_tracked)
    }
}

/// Second-level labels under which country domains register names (`co.uk`, `com.au`).
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go",
];

/// The registrable domain of a host: its last two labels, or three under a country
/// domain's second level (`example.co.uk`).
pub(crate) fn registrable(host: &str) -> &str {
    let labels: Vec<&str> = host.rsplitn(4, '.').collect();
    let take = match labels.as_slice() {
        [tld, second, _, ..] if tld.len() == 2 && SECOND_LEVEL.contains(second) => 3,
        _ => 2,
    };
    let mut cut = host.len();
    let mut seen = 0;
    for (i, b) in host.bytes().enumerate().rev() {
        if b == b'.' {
            seen += 1;
            if seen == take {
                cut = i + 1;
                break;
            }
        }
    }
    if seen < take {
        return host;
    }
    host.get(cut..).unwrap_or(host)
}

/// A host name normalized for comparison: lower case, no trailing dot.
fn norm(host: &str) -> String {
    host.trim().trim_end_matches('.').to_lowercase()
}

/// `host` is `domain` or under it.
fn under(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Decode one punycode label (RFC 3492) without its `xn--` prefix; `None` if malformed.
fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let (basic, extended) = match input.rfind('-') {
        Some(i) => (input.get(..i)?, input.get(i + 1..)?),
        None => ("", input),
    };
    let mut out: Vec<char> = basic.chars().collect();
    if !basic.is_ascii() {
        return None;
    }
    let adapt = |delta: u32, points: u32, first: bool| {
        let mut delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + SKEW)
    };
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut digits = extended.bytes().peekable();
    while digits.peek().is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let d = match digits.next()? {
                c @ b'a'..=b'z' => u32::from(c - b'a'),
                c @ b'A'..=b'Z' => u32::from(c - b'A'),
                c @ b'0'..=b'9' => u32::from(c - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if d < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = u32::try_from(out.len()).ok()? + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let pos = usize::try_from(i).ok()?;
        if pos > out.len() || out.len() >= 256 {
            return None;
        }
        out.insert(pos, char::from_u32(n)?);
        i += 1;
    }
    Some(out.into_iter().collect())
}

/// The label as Unicode (punycode decoded).
fn unicode_label(label: &str) -> String {
    match label.strip_prefix("xn--").and_then(punycode_decode) {
        Some(decoded) => decoded.to_lowercase(),
        None => label.to_string(),
    }
}

/// What a character is easily taken for, in ASCII.
fn confusable(c: char) -> Option<&'static str> {
    Some(match c {
        'а' | 'α' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ɑ' => "a",
        'Ь' | 'ь' | 'β' => "b",
        'с' | 'ç' | 'ϲ' => "c",
        'ԁ' | 'ɗ' => "d",
        'е' | 'ё' | 'è' | 'é' | 'ê' | 'ë' | 'ε' => "e",
        'ɡ' | 'ց' => "g",
        'һ' | 'հ' => "h",
        'і' | 'ї' | 'ι' | 'ı' | 'ì' | 'í' | 'î' | 'ï' | 'ӏ' | 'l' | '1' | '|' | 'ǀ' => {
            "l"
        }
        'ј' | 'ϳ' => "j",
        'κ' | 'к' => "k",
        'м' => "m",
        'п' | 'ո' | 'ñ' => "n",
        'о' | 'ο' | 'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | '0' | 'օ' => "o",
        'р' | 'ρ' => "p",
        'ԛ' => "q",
        'ѕ' | '5' | '$' => "s",
        'т' | 'τ' => "t",
        'υ' | 'ù' | 'ú' | 'û' | 'ü' | 'ս' => "u",
        'ν' | 'ѵ' => "v",
        'ԝ' | 'ω' | 'ш' => "w",
        'х' | 'χ' => "x",
        'у' | 'ý' | 'ÿ' | 'γ' => "y",
        'ᴢ' | 'ż' | 'ź' | 'ž' => "z",
        'i' => "l",
        _ => return None,
    })
}

/// The ASCII skeleton of a label: confusable characters mapped to what they look like,
/// `rn` read as `m` and `vv` as `w`.
fn skeleton(label: &str) -> String {
    let mut s = String::with_capacity(label.len());
    for c in label.chars() {
        match confusable(c) {
            Some(r) => s.push_str(r),
            None => s.push(c),
        }
    }
    s.replace("rn", "m").replace("vv", "w")
}

/// Optimal string alignment distance (edits and adjacent swaps), capped: stops early and
/// returns `cap + 1` once the distance must exceed `cap`.
fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(i * w + j).copied().unwrap_or(usize::MAX / 2);
    for (i, ca) in a.iter().enumerate() {
        let mut row_min = usize::MAX;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i, j + 1) + 1)
                .min(get(&d, i + 1, j) + 1)
                .min(get(&d, i, j) + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) {
                v = v.min(get(&d, i - 1, j - 1) + 1);
            }
            if let Some(x) = d.get_mut(at(i + 1, j + 1)) {
                *x = v;
            }
            row_min = row_min.min(v);
        }
        if row_min > cap {
            return cap + 1;
        }
    }
    get(&d, a.len(), b.len())
}

/// Edits allowed against a brand of `len` letters.
fn allowed_edits(len: usize, max: usize) -> usize {
    let by_len = match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    by_len.min(max)
}

/// A known login domain, prepared for comparison.
#[derive(Debug, Clone)]
struct Known {
    domain: String,
    registrable: String,
    /// The registrable domain's first label: the brand (`github`).
    brand: String,
    brand_skeleton: String,
}

impl Known {
    fn new(domain: &str) -> Known {
        let domain = norm(domain);
        let registrable = registrable(&domain).to_string();
        let brand = registrable.split('.').next().unwrap_or("").to_string();
        let brand_skeleton = skeleton(&brand);
        Known {
            domain,
            registrable,
            brand,
            brand_skeleton,
        }
    }

    /// Whether `host` belongs to this login domain's owner.
    fn owns(&self, host: &str) -> bool {
        under(host, &self.domain) || registrable(host) == self.registrable
    }
}

/// Whether `host` holds `domain` between label or word boundaries (`okta.com.evil.io`,
/// `github.com-login.io`, `secure-github.com.io`).
fn embeds(host: &str, domain: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| c == '.' || c == '-');
    host.match_indices(domain).any(|(i, m)| {
        let before = host.get(..i).and_then(|h| h.chars().next_back());
        let after = host.get(i + m.len()..).and_then(|h| h.chars().next());
        boundary(before) && boundary(after)
    })
}

/// Why `host` (normalized, not owned by any known domain) imitates `k`, if it does.
fn imitation(host: &str, k: &Known, max_distance: usize) -> Option<String> {
    if k.brand.is_empty() {
        return None;
    }
    if embeds(host, &k.registrable) {
        return Some(format!("embeds the real domain {}", k.registrable));
    }
    let reg = registrable(host);
    let mut labels: Vec<String> = host.split('.').map(unicode_label).collect();
    let reg_labels = reg.split('.').count();
    let name_idx = labels.len().saturating_sub(reg_labels);
    let name = labels.get(name_idx).cloned().unwrap_or_default();
    let suffix: Vec<String> = labels.split_off(name_idx.saturating_add(1));
    let name_skeleton = skeleton(&name);
    // A brand as a subdomain label or a hyphenated word of one (`github.evil.io`).
    for sub in labels.iter().take(name_idx) {
        if skeleton(sub) == k.brand_skeleton
            || sub
                .split('-')
                .any(|part| skeleton(part) == k.brand_skeleton)
        {
            return Some(format!("uses the brand `{}` as a subdomain", k.brand));
        }
    }
    if name == k.brand {
        return Some(format!(
            "is the brand `{}` under another suffix (.{})",
            k.brand,
            suffix.join(".")
        ));
    }
    if name_skeleton == k.brand_skeleton {
        return Some(format!("spells `{}` with look-alike characters", k.brand));
    }
    if name.contains('-') {
        if skeleton(&name.replace('-', "")) == k.brand_skeleton {
            return Some(format!("is `{}` with added hyphens", k.brand));
        }
        if name
            .split('-')
            .any(|part| skeleton(part) == k.brand_skeleton)
        {
            return Some(format!("adds words to the brand `{}`", k.brand));
        }
    }
    let cap = allowed_edits(k.brand.chars().count(), max_distance);
    if cap > 0 {
        let d = edit_distance(&name_skeleton, &k.brand_skeleton, cap);
        if d <= cap {
            return Some(format!("is {d} edit(s) from the brand `{}`", k.brand));
        }
    }
    None
}

/// The detector.
#[derive(Debug)]
pub struct LookalikeDomain {
    cfg: Config,
    extra: Vec<Known>,
    allow: Vec<String>,
    seen: Keyed<()>,
}

impl LookalikeDomain {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> LookalikeDomain {
        let extra = cfg.login_domains.iter().map(|d| Known::new(d)).collect();
        let allow = cfg.allow_domains.iter().map(|d| norm(d)).collect();
        let seen = Keyed::new(cfg.max_tracked, TTL_MS);
        LookalikeDomain {
            cfg,
            extra,
            allow,
            seen,
        }
    }

    /// The known login domain `host` imitates and how, if any.
    fn check(&self, host: &str, ctx: &Context<'_>) -> Option<(String, String)> {
        let host = norm(host);
        if host.is_empty() || self.allow.iter().any(|a| under(&host, a)) {
            return None;
        }
        let known: Vec<Known> = ctx
            .inventory
            .apps()
            .map(|a| Known::new(&a.domain))
            .chain(self.extra.iter().cloned())
            .collect();
        if known.iter().any(|k| k.owns(&host)) {
            return None;
        }
        known.iter().find_map(|k| {
            imitation(&host, k, self.cfg.lookalike_max_distance).map(|why| (k.domain.clone(), why))
        })
    }
}

impl Detector for LookalikeDomain {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        if e.class_uid != ClassUid::Authentication {
            return;
        }
        let url_host = e
            .http_request
            .as_ref()
            .and_then(|h| h.url.as_ref())
            .and_then(|u| u.hostname.as_deref());
        let mut hosts: Vec<&str> = e.app_domain().into_iter().collect();
        if let Some(h) = url_host
            && !hosts.iter().any(|x| x.eq_ignore_ascii_case(h))
        {
            hosts.push(h);
        }
        for host in hosts {
            let Some((domain, why)) = self.check(host, ctx) else {
                continue;
            };
            let who = identity_id(ctx).unwrap_or("");
            let key = format!("{who}\u{0}{}", norm(host));
            if !self.seen.first_time(&key, e.time) {
                continue;
            }
            let summary = format!(
                "{} entered credentials on {host}, which {why} — not the known login domain {domain}.",
                if who.is_empty() { "someone" } else { who },
            );
            out.push(alert(
                ctx,
                Draft {
                    detector: NAME,
                    title: "Credentials entered on a look-alike domain",
                    severity: self.cfg.severity,
                    evidence: vec![e.uid().to_string()],
                    references: vec![
                        "attack.t1566.002",
                        "attack.t1583.001",
                        "nist_csf.de.cm-01",
                        "nist_csf.de.cm-03",
                    ],
                    summary,
                },
            ));
        }
    }

    fn state_bytes(&self) -> usize {
        self.seen.bytes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn punycode_decodes_rfc_samples() {
        assert_eq!(punycode_decode("bcher-kva").unwrap(), "bücher");
        assert_eq!(punycode_decode("mnchen-3ya").unwrap(), "münchen");
        // A Cyrillic `і` in `gіthub`.
        assert_eq!(
            punycode_decode("gthub-n2e").as_deref().map(skeleton),
            Some("glthub".into())
        );
        assert!(punycode_decode("a-b-c-!!").is_none());
        assert!(punycode_decode("99999999999999").is_none());
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("example.my.salesforce.com"), "salesforce.com");
        assert_eq!(registrable("github.com"), "github.com");
        assert_eq!(registrable("login.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("localhost"), "localhost");
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("github", "github", 2), 0);
        assert_eq!(edit_distance("githbu", "github", 2), 1);
        assert_eq!(edit_distance("gitlab", "github", 1), 2);
        assert_eq!(edit_distance("salesforce", "salseforce", 2), 1);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
    }
}
