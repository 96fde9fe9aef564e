//! Sigma string values: text with `*` and `?` wildcards, and how they match.
//!
//! A rule's string is parsed once into a [`Pattern`] (a sequence of literal text and
//! wildcards, escapes resolved as the specification says), transformed by modifiers
//! (`contains` adds wildcards, `base64` encodes, …) and compiled into a [`StrMatcher`] that
//! picks the cheapest test for its shape: equality, prefix, suffix, substring (with a
//! prebuilt `memchr` finder) or a general wildcard match.
//!
//! Escapes (Sigma specification, "Escape Character"): `\*`, `\?` and `\\` stand for the
//! plain characters; a backslash before anything else is itself (so `\\*` is a backslash
//! followed by a wildcard, and `\\\*` a backslash and a plain star); a trailing backslash is
//! a plain backslash.

use super::record::fold;
use memchr::memmem;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    /// Literal text (never empty).
    Text(String),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, possibly empty.
    Many,
}

/// A Sigma string: literal text and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    /// Parse a rule string with Sigma's wildcard and escape rules.
    pub fn parse(s: &str) -> Pattern {
        let mut p = Pattern::default();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        p.push_char(n);
                    }
                    _ => p.push_char('\\'),
                },
                '*' => p.push(Part::Many),
                '?' => p.push(Part::One),
                c => p.push_char(c),
            }
        }
        p
    }

    /// A pattern that is exactly `s`, no wildcards.
    pub fn literal(s: &str) -> Pattern {
        let mut p = Pattern::default();
        p.push_text(s);
        p
    }

    /// The pieces.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Append a piece, merging adjacent text and collapsing repeated `*`.
    pub fn push(&mut self, part: Part) {
        match (self.parts.last_mut(), part) {
            (_, Part::Text(t)) if t.is_empty() => {}
            (Some(Part::Text(prev)), Part::Text(t)) => prev.push_str(&t),
            (Some(Part::Many), Part::Many) => {}
            (_, part) => self.parts.push(part),
        }
    }

    fn push_char(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(Part::Text(prev)) => prev.push(c),
            _ => self.parts.push(Part::Text(c.to_string())),
        }
    }

    /// Append literal text.
    pub fn push_text(&mut self, s: &str) {
        self.push(Part::Text(s.to_string()));
    }

    /// Append another pattern.
    pub fn extend(&mut self, other: &Pattern) {
        for part in &other.parts {
            self.push(part.clone());
        }
    }

    /// Whether the pattern has wildcards.
    pub fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// The text of a pattern without wildcards.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::One | Part::Many => return None,
            }
        }
        Some(out)
    }

    /// `contains`: wildcards on both ends (unless already there).
    pub fn contains(mut self) -> Pattern {
        if self.parts.first() != Some(&Part::Many) {
            self.parts.insert(0, Part::Many);
        }
        self.push(Part::Many);
        self
    }

    /// `startswith`: a trailing wildcard.
    pub fn startswith(mut self) -> Pattern {
        self.push(Part::Many);
        self
    }

    /// `endswith`: a leading wildcard.
    pub fn endswith(mut self) -> Pattern {
        if self.parts.first() != Some(&Part::Many) {
            self.parts.insert(0, Part::Many);
        }
        self
    }

    /// The pattern written back in Sigma syntax (wildcards as `*`/`?`, special characters
    /// escaped).
    pub fn to_sigma(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    for c in t.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                Part::One => out.push('?'),
                Part::Many => out.push('*'),
            }
        }
        out
    }

    /// The longest run of literal text (for prefilters).
    pub fn longest_text(&self) -> Option<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .max_by_key(|t| t.len())
    }
}

/// A compiled string test.
#[derive(Debug, Clone)]
pub struct StrMatcher {
    cased: bool,
    kind: StrKind,
}

#[derive(Debug, Clone)]
enum StrKind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(Box<memmem::Finder<'static>>),
    PrefixSuffix(String, String),
    Glob(Vec<GlobTok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobTok {
    Char(char),
    One,
    Many,
}

impl StrMatcher {
    /// Compile `pattern`; `cased` makes the comparison case-sensitive.
    pub fn new(pattern: &Pattern, cased: bool) -> StrMatcher {
        let norm = |s: &str| {
            if cased {
                s.to_string()
            } else {
                fold(s).into_owned()
            }
        };
        let kind = match pattern.parts() {
            [] => StrKind::Exact(String::new()),
            [Part::Text(t)] => StrKind::Exact(norm(t)),
            [Part::Many] => StrKind::Prefix(String::new()),
            [Part::Text(t), Part::Many] => StrKind::Prefix(norm(t)),
            [Part::Many, Part::Text(t)] => StrKind::Suffix(norm(t)),
            [Part::Many, Part::Text(t), Part::Many] => StrKind::Contains(Box::new(
                memmem::Finder::new(norm(t).as_bytes()).into_owned(),
            )),
            [Part::Text(a), Part::Many, Part::Text(b)] => StrKind::PrefixSuffix(norm(a), norm(b)),
            parts => StrKind::Glob(
                parts
                    .iter()
                    .flat_map(|p| match p {
                        Part::Text(t) => norm(t).chars().map(GlobTok::Char).collect::<Vec<_>>(),
                        Part::One => vec![GlobTok::One],
                        Part::Many => vec![GlobTok::Many],
                    })
                    .collect(),
            ),
        };
        StrMatcher { cased, kind }
    }

    /// Whether the test compares case-sensitively.
    pub fn cased(&self) -> bool {
        self.cased
    }

    /// The exact text this matcher accepts (folded unless cased), if it is an equality test.
    pub fn exact(&self) -> Option<&str> {
        match &self.kind {
            StrKind::Exact(s) => Some(s),
            _ => None,
        }
    }

    /// Test `text`; `folded` is `text` folded, as callers fold once for many matchers.
    pub fn matches(&self, text: &str, folded: &str) -> bool {
        let s = if self.cased { text } else { folded };
        match &self.kind {
            StrKind::Exact(e) => s == e,
            StrKind::Prefix(p) => s.starts_with(p.as_str()),
            StrKind::Suffix(p) => s.ends_with(p.as_str()),
            StrKind::Contains(f) => f.find(s.as_bytes()).is_some(),
            StrKind::PrefixSuffix(a, b) => {
                s.len() >= a.len() + b.len() && s.starts_with(a.as_str()) && s.ends_with(b.as_str())
            }
            StrKind::Glob(toks) => glob(toks, s),
        }
    }
}

/// Wildcard match over characters: `*` any run, `?` one character. Greedy with
/// backtracking to the last `*` only, so linear in practice and never exponential.
fn glob(pat: &[GlobTok], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(GlobTok::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(GlobTok::One) => {
                p += 1;
                t += 1;
            }
            Some(GlobTok::Char(c)) if text.get(t) == Some(c) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|t| *t == GlobTok::Many))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests"
    )]
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        let m = StrMatcher::new(&Pattern::parse(pattern), false);
        m.matches(text, &fold(text))
    }

    #[test]
    fn escapes_follow_the_specification() {
        let text = |p: &str| Pattern::parse(p).parts().to_vec();
        assert_eq!(text(r"a\*b"), [Part::Text("a*b".into())]);
        assert_eq!(text(r"a\?"), [Part::Text("a?".into())]);
        assert_eq!(text(r"C:\Windows"), [Part::Text(r"C:\Windows".into())]);
        assert_eq!(text(r"a\\b"), [Part::Text(r"a\b".into())]);
        assert_eq!(text(r"a\\*"), [Part::Text(r"a\".into()), Part::Many]);
        assert_eq!(text(r"a\\\*"), [Part::Text(r"a\*".into())]);
        assert_eq!(text(r"\\\\"), [Part::Text(r"\\".into())]);
        assert_eq!(text(r"\\\"), [Part::Text(r"\\".into())]);
        assert_eq!(
            text("a**b?"),
            [
                Part::Text("a".into()),
                Part::Many,
                Part::Text("b".into()),
                Part::One
            ]
        );
        for s in [r"a\*b", "x*y?z", r"back\\slash", "plain"] {
            let p = Pattern::parse(s);
            assert_eq!(Pattern::parse(&p.to_sigma()), p, "{s}");
        }
    }

    #[test]
    fn shapes_match_like_wildcards() {
        assert!(is_match("abc", "ABC"));
        assert!(!is_match("abc", "abcd"));
        assert!(is_match("ab*", "ABcd"));
        assert!(is_match("*cd", "abCD"));
        assert!(is_match("*bc*", "abcd"));
        assert!(is_match("a*d", "abcd"));
        assert!(!is_match("ab*bc", "abc"));
        assert!(is_match("a?c", "abc"));
        assert!(!is_match("a?c", "ac"));
        assert!(is_match("*a?c*x", "zzabcabdx"));
        assert!(is_match("é*", "Égal"));
        assert!(is_match("?", "é"));
        assert!(is_match("", ""));
        assert!(is_match("*", ""));
        assert!(!is_match("?*", ""));
        assert!(is_match(
            "*a*a*a*a*a*b",
            &"a".repeat(60).replace("aa", "ab")
        ));
        let cased = StrMatcher::new(&Pattern::parse("Ab*"), true);
        assert!(cased.matches("Abc", "abc"));
        assert!(!cased.matches("abc", "abc"));
    }
}
