//! A deliberately naive Sigma interpreter, written from the specification and the engine's
//! documented semantics, independent of the engine's code: no compilation, no dispatch, no
//! prefilters, straightforward string code. Tests compare the engine with it.
//!
//! Also: a builder of documents that satisfy or violate a rule (checked with this
//! interpreter, never with the engine), and a small seeded PRNG.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::sigma::ast;
use serde_json::{Map, Value as J};
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------
// The reference rule.

/// A rule as the reference sees it.
#[derive(Debug, Clone)]
pub struct RRule {
    pub searches: Vec<RSearch>,
    /// Several conditions are linked with OR.
    pub conditions: Vec<RCond>,
}

/// A search identifier: OR of AND-lists of items.
#[derive(Debug, Clone)]
pub struct RSearch {
    pub name: String,
    pub alternatives: Vec<Vec<RItem>>,
}

#[derive(Debug, Clone)]
pub struct RItem {
    /// `None`: keywords.
    pub field: Option<String>,
    pub test: RTest,
}

#[derive(Debug, Clone)]
pub enum RTest {
    Match {
        all: bool,
        or_null: bool,
        negate: bool,
        matchers: Vec<RMatcher>,
    },
    Null,
    Exists(bool),
    FieldRef {
        all: bool,
        negate: bool,
        cased: bool,
        how: ast::RefHow,
        fields: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum GPart {
    Char(char),
    One,
    Many,
}

#[derive(Debug, Clone)]
pub enum RMatcher {
    Glob {
        parts: Vec<GPart>,
        cased: bool,
    },
    Regex {
        re: String,
        i: bool,
        m: bool,
        s: bool,
    },
    Cidr {
        addr: IpAddr,
        prefix: u8,
    },
    Num(ast::NumOp, f64),
    Time(ast::TimePart, ast::NumOp, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RCond {
    And(Vec<RCond>),
    Or(Vec<RCond>),
    Not(Box<RCond>),
    Id(String),
    /// `1 of pattern` (`None`: them).
    OneOf(Option<String>),
    /// `all of pattern` (`None`: them).
    AllOf(Option<String>),
}

impl RRule {
    /// The reference form of a parsed rule (modifiers already applied by the loader).
    pub fn from_ast(d: &ast::Detection) -> RRule {
        let searches = d
            .searches
            .iter()
            .map(|s| RSearch {
                name: s.name.clone(),
                alternatives: s
                    .alternatives
                    .iter()
                    .map(|alt| alt.iter().map(item_from_ast).collect())
                    .collect(),
            })
            .collect();
        RRule {
            searches,
            conditions: vec![cond_from_ast(d, &d.condition)],
        }
    }
}

fn cond_from_ast(d: &ast::Detection, c: &ast::Cond) -> RCond {
    match c {
        ast::Cond::And(cs) => RCond::And(cs.iter().map(|c| cond_from_ast(d, c)).collect()),
        ast::Cond::Or(cs) => RCond::Or(cs.iter().map(|c| cond_from_ast(d, c)).collect()),
        ast::Cond::Not(c) => RCond::Not(Box::new(cond_from_ast(d, c))),
        ast::Cond::Search(i) => RCond::Id(d.searches[*i].name.clone()),
    }
}

fn item_from_ast(item: &ast::Item) -> RItem {
    let test = match &item.test {
        ast::Test::Match {
            all,
            or_null,
            negate,
            matchers,
        } => RTest::Match {
            all: *all,
            or_null: *or_null,
            negate: *negate,
            matchers: matchers.iter().map(matcher_from_ast).collect(),
        },
        ast::Test::Null => RTest::Null,
        ast::Test::Exists(b) => RTest::Exists(*b),
        ast::Test::FieldRef {
            all,
            negate,
            cased,
            how,
            fields,
        } => RTest::FieldRef {
            all: *all,
            negate: *negate,
            cased: *cased,
            how: *how,
            fields: fields.clone(),
        },
    };
    RItem {
        field: item.field.clone(),
        test,
    }
}

fn matcher_from_ast(m: &ast::Matcher) -> RMatcher {
    match m {
        ast::Matcher::Str { pattern, cased } => RMatcher::Glob {
            parts: pattern
                .parts()
                .iter()
                .flat_map(|p| match p {
                    midwatch_detect::sigma::pattern::Part::Text(t) => {
                        t.chars().map(GPart::Char).collect::<Vec<_>>()
                    }
                    midwatch_detect::sigma::pattern::Part::One => vec![GPart::One],
                    midwatch_detect::sigma::pattern::Part::Many => vec![GPart::Many],
                })
                .collect(),
            cased: *cased,
        },
        ast::Matcher::Regex {
            regex,
            insensitive,
            multiline,
            dotall,
        } => RMatcher::Regex {
            re: regex.clone(),
            i: *insensitive,
            m: *multiline,
            s: *dotall,
        },
        ast::Matcher::Cidr(n) => RMatcher::Cidr {
            addr: n.addr,
            prefix: n.prefix,
        },
        ast::Matcher::Num(op, n) => RMatcher::Num(*op, *n),
        ast::Matcher::Time(p, op, n) => RMatcher::Time(*p, *op, *n),
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation.

/// Lowercase for comparison: ASCII letters always; other characters only when their
/// lowercase is one non-ASCII character.
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_lowercase()
            } else {
                let lower: Vec<char> = c.to_lowercase().collect();
                if lower.len() == 1 && !lower[0].is_ascii() {
                    lower[0]
                } else {
                    c
                }
            }
        })
        .collect()
}

/// The values at a dotted path: `None` when the path does not exist. Objects exact key
/// first, then case-insensitive; arrays stand for their elements.
pub fn lookup<'a>(doc: &'a J, path: &str) -> Option<Vec<&'a J>> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut found = false;
    let mut out = Vec::new();
    walk(doc, &segments, &mut found, &mut out);
    found.then_some(out)
}

fn walk<'a>(node: &'a J, segments: &[&str], found: &mut bool, out: &mut Vec<&'a J>) {
    match (segments.split_first(), node) {
        (None, J::Array(items)) => {
            *found = true;
            for i in items {
                flatten(i, out);
            }
        }
        (None, v) => {
            *found = true;
            out.push(v);
        }
        (Some(_), J::Array(items)) => {
            for i in items {
                walk(i, segments, found, out);
            }
        }
        (Some((seg, rest)), J::Object(map)) => {
            let child = map.get(*seg).or_else(|| {
                map.iter()
                    .find(|(k, _)| fold(k) == fold(seg))
                    .map(|(_, v)| v)
            });
            if let Some(child) = child {
                walk(child, rest, found, out);
            }
        }
        (Some(_), _) => {}
    }
}

fn flatten<'a>(v: &'a J, out: &mut Vec<&'a J>) {
    match v {
        J::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        v => out.push(v),
    }
}

fn leaves<'a>(v: &'a J, out: &mut Vec<&'a J>) {
    match v {
        J::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        J::Object(map) => map.values().for_each(|i| leaves(i, out)),
        J::Null => {}
        v => out.push(v),
    }
}

/// A value as text for string tests.
pub fn text(v: &J) -> Option<String> {
    match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Naive wildcard match, by recursion over characters.
pub fn glob(p: &[GPart], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((GPart::Many, rest)) => (0..=t.len()).any(|i| glob(rest, &t[i..])),
        Some((GPart::One, rest)) => !t.is_empty() && glob(rest, &t[1..]),
        Some((GPart::Char(c), rest)) => t.first() == Some(c) && glob(rest, &t[1..]),
    }
}

fn matcher_hits(m: &RMatcher, v: &J) -> bool {
    match m {
        RMatcher::Glob { parts, cased } => {
            let Some(t) = text(v) else { return false };
            if *cased {
                glob(parts, &t.chars().collect::<Vec<_>>())
            } else {
                let parts: Vec<GPart> = parts
                    .iter()
                    .map(|p| match p {
                        GPart::Char(c) => GPart::Char(fold(&c.to_string()).chars().next().unwrap()),
                        other => other.clone(),
                    })
                    .collect();
                glob(&parts, &fold(&t).chars().collect::<Vec<_>>())
            }
        }
        RMatcher::Regex { re, i, m, s } => {
            let Some(t) = text(v) else { return false };
            thread_local! {
                static CACHE: std::cell::RefCell<std::collections::HashMap<(String, bool, bool, bool), regex::Regex>> =
                    std::cell::RefCell::new(std::collections::HashMap::new());
            }
            CACHE.with(|cache| {
                let mut cache = cache.borrow_mut();
                let re = cache.entry((re.clone(), *i, *m, *s)).or_insert_with(|| {
                    regex::RegexBuilder::new(re)
                        .case_insensitive(*i)
                        .multi_line(*m)
                        .dot_matches_new_line(*s)
                        .build()
                        .unwrap()
                });
                re.is_match(&t)
            })
        }
        RMatcher::Cidr { addr, prefix } => {
            let Some(ip) = text(v).and_then(|t| t.trim().parse::<IpAddr>().ok()) else {
                return false;
            };
            let bits = |ip: IpAddr| -> (u128, u32) {
                match ip {
                    IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
                    IpAddr::V6(a) => (u128::from(a), 128),
                }
            };
            let (a, la) = bits(*addr);
            let (b, lb) = bits(ip);
            if la != lb {
                return false;
            }
            let p = u32::from(*prefix);
            p == 0 || (a >> (128 - p)) == (b >> (128 - p))
        }
        RMatcher::Num(op, n) => number(v).is_some_and(|x| cmp(*op, x, *n)),
        RMatcher::Time(part, op, n) => date_part(v, *part).is_some_and(|x| cmp(*op, x, *n)),
    }
}

fn cmp(op: ast::NumOp, a: f64, b: f64) -> bool {
    match op {
        ast::NumOp::Eq => a == b,
        ast::NumOp::Lt => a < b,
        ast::NumOp::Lte => a <= b,
        ast::NumOp::Gt => a > b,
        ast::NumOp::Gte => a >= b,
    }
}

/// Date parts of RFC 3339 strings `YYYY-MM-DDTHH:MM:SSZ` (UTC only, which is all the
/// generators write).
fn date_part(v: &J, part: ast::TimePart) -> Option<f64> {
    let t = match v {
        J::String(s) => s.clone(),
        _ => return None,
    };
    let b = t.as_bytes();
    if b.len() != 20 || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<f64>().ok();
    Some(match part {
        ast::TimePart::Year => num(0..4)?,
        ast::TimePart::Month => num(5..7)?,
        ast::TimePart::Day => num(8..10)?,
        ast::TimePart::Hour => num(11..13)?,
        ast::TimePart::Minute => num(14..16)?,
        ast::TimePart::Week => return None,
    })
}

fn has_non_null(doc: &J, field: &str) -> bool {
    lookup(doc, field).is_some_and(|vs| vs.iter().any(|v| !v.is_null()))
}

pub fn item_holds(item: &RItem, doc: &J) -> bool {
    let Some(field) = &item.field else {
        let mut vals = Vec::new();
        leaves(doc, &mut vals);
        return match &item.test {
            RTest::Match { all, matchers, .. } => {
                let hit = |m: &RMatcher| vals.iter().any(|v| matcher_hits(m, v));
                if *all {
                    matchers.iter().all(hit)
                } else {
                    matchers.iter().any(hit)
                }
            }
            _ => false,
        };
    };
    let values = lookup(doc, field);
    let exists = values.is_some();
    let values = values.unwrap_or_default();
    match &item.test {
        RTest::Match {
            all,
            or_null,
            negate,
            matchers,
        } => {
            let hit = |m: &RMatcher| values.iter().any(|v| matcher_hits(m, v));
            let mut base = if *all {
                matchers.iter().all(hit)
            } else {
                matchers.iter().any(hit)
            };
            if *or_null && !has_non_null(doc, field) {
                base = true;
            }
            if *negate { exists && !base } else { base }
        }
        RTest::Null => !has_non_null(doc, field),
        RTest::Exists(want) => exists == *want,
        RTest::FieldRef {
            all,
            negate,
            cased,
            how,
            fields,
        } => {
            let norm = |s: String| if *cased { s } else { fold(&s) };
            let mine: Vec<String> = values.iter().filter_map(|v| text(v)).map(norm).collect();
            let related = |other: &String| {
                let refs: Vec<String> = lookup(doc, other)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| text(v))
                    .map(norm)
                    .collect();
                mine.iter().any(|m| {
                    refs.iter().any(|r| match how {
                        ast::RefHow::Equal => m == r,
                        ast::RefHow::Contains => m.contains(r.as_str()),
                        ast::RefHow::StartsWith => m.starts_with(r.as_str()),
                        ast::RefHow::EndsWith => m.ends_with(r.as_str()),
                    })
                })
            };
            let base = if *all {
                fields.iter().all(related)
            } else {
                fields.iter().any(related)
            };
            if *negate { exists && !base } else { base }
        }
    }
}

fn search_holds(s: &RSearch, doc: &J) -> bool {
    s.alternatives
        .iter()
        .any(|alt| alt.iter().all(|i| item_holds(i, doc)))
}

/// Whether an identifier matches a `1 of`/`all of` pattern (`*` = any characters).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<GPart> = pattern
        .chars()
        .map(|c| {
            if c == '*' {
                GPart::Many
            } else {
                GPart::Char(c)
            }
        })
        .collect();
    glob(&p, &name.chars().collect::<Vec<_>>())
}

fn selected<'r>(rule: &'r RRule, pattern: &Option<String>) -> Vec<&'r RSearch> {
    rule.searches
        .iter()
        .filter(|s| match pattern {
            None => !s.name.starts_with('_'),
            Some(p) => pattern_matches(p, &s.name),
        })
        .collect()
}

pub fn cond_holds(rule: &RRule, c: &RCond, doc: &J) -> bool {
    match c {
        RCond::And(cs) => cs.iter().all(|c| cond_holds(rule, c, doc)),
        RCond::Or(cs) => cs.iter().any(|c| cond_holds(rule, c, doc)),
        RCond::Not(c) => !cond_holds(rule, c, doc),
        RCond::Id(name) => {
            let s = rule.searches.iter().find(|s| &s.name == name).unwrap();
            search_holds(s, doc)
        }
        RCond::OneOf(p) => selected(rule, p).iter().any(|s| search_holds(s, doc)),
        RCond::AllOf(p) => selected(rule, p).iter().all(|s| search_holds(s, doc)),
    }
}

/// Whether `rule` matches `doc`.
pub fn matches(rule: &RRule, doc: &J) -> bool {
    rule.conditions.iter().any(|c| cond_holds(rule, c, doc))
}

// ---------------------------------------------------------------------------------------
// Building documents that satisfy or violate a rule.

/// One requirement on a document: an item that must hold or must not.
#[derive(Debug, Clone)]
struct Req<'r> {
    item: &'r RItem,
    want: bool,
}

/// Up to this many alternative requirement sets are tried.
const MAX_SETS: usize = 64;

fn cross<'r>(a: Vec<Vec<Req<'r>>>, b: Vec<Vec<Req<'r>>>) -> Vec<Vec<Req<'r>>> {
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            if out.len() >= MAX_SETS {
                return out;
            }
            let mut v = x.clone();
            v.extend(y.iter().cloned());
            out.push(v);
        }
    }
    out
}

fn union<'r>(parts: Vec<Vec<Vec<Req<'r>>>>) -> Vec<Vec<Req<'r>>> {
    // Interleave so that every branch gets tried early.
    let mut out = Vec::new();
    let longest = parts.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for p in &parts {
            if let Some(x) = p.get(i) {
                out.push(x.clone());
            }
        }
    }
    out.truncate(MAX_SETS);
    out
}

fn search_sets<'r>(s: &'r RSearch, want: bool) -> Vec<Vec<Req<'r>>> {
    if want {
        union(
            s.alternatives
                .iter()
                .map(|alt| vec![alt.iter().map(|item| Req { item, want: true }).collect()])
                .collect(),
        )
    } else {
        // Every alternative false: one failing item from each.
        let mut acc: Vec<Vec<Req<'r>>> = vec![Vec::new()];
        for alt in &s.alternatives {
            let options: Vec<Vec<Req<'r>>> = alt
                .iter()
                .map(|item| vec![Req { item, want: false }])
                .collect();
            acc = cross(acc, options);
        }
        acc
    }
}

fn cond_sets<'r>(rule: &'r RRule, c: &RCond, want: bool) -> Vec<Vec<Req<'r>>> {
    let id_sets = |name: &str, want: bool| {
        let s = rule.searches.iter().find(|s| s.name == name).unwrap();
        search_sets(s, want)
    };
    match (c, want) {
        (RCond::Not(inner), w) => cond_sets(rule, inner, !w),
        (RCond::Id(name), w) => id_sets(name, w),
        (RCond::And(cs), true) | (RCond::Or(cs), false) => {
            let mut acc = vec![Vec::new()];
            for c in cs {
                acc = cross(acc, cond_sets(rule, c, want));
            }
            acc
        }
        (RCond::And(cs), false) | (RCond::Or(cs), true) => {
            union(cs.iter().map(|c| cond_sets(rule, c, want)).collect())
        }
        (RCond::OneOf(p), w) | (RCond::AllOf(p), w) => {
            let names: Vec<RCond> = selected(rule, p)
                .iter()
                .map(|s| RCond::Id(s.name.clone()))
                .collect();
            let as_cond = if matches!(c, RCond::OneOf(_)) {
                RCond::Or(names)
            } else {
                RCond::And(names)
            };
            cond_sets(rule, &as_cond, w)
        }
    }
}

/// Candidate values that make a matcher hit.
fn witnesses(m: &RMatcher) -> Vec<J> {
    match m {
        RMatcher::Glob { parts, cased } => {
            let text: String = parts
                .iter()
                .map(|p| match p {
                    GPart::Char(c) => c.to_string(),
                    GPart::One => "x".to_string(),
                    GPart::Many => String::new(),
                })
                .collect();
            let mut out = Vec::new();
            if !cased {
                // Exercise case-insensitivity where it is safe to.
                out.push(J::String(text.to_ascii_uppercase()));
            }
            out.push(J::String(text.clone()));
            if let Ok(n) = text.parse::<i64>() {
                out.push(J::from(n));
            }
            out
        }
        RMatcher::Regex { re, .. } => regex_witness(re).into_iter().map(J::String).collect(),
        RMatcher::Cidr { addr, .. } => vec![J::String(addr.to_string())],
        RMatcher::Num(op, n) => {
            let x = match op {
                ast::NumOp::Eq | ast::NumOp::Gte | ast::NumOp::Lte => *n,
                ast::NumOp::Gt => n + 1.0,
                ast::NumOp::Lt => n - 1.0,
            };
            vec![
                serde_json::Number::from_f64(x)
                    .map(J::Number)
                    .unwrap_or(J::Null),
            ]
        }
        RMatcher::Time(part, op, n) => {
            let x = match op {
                ast::NumOp::Eq | ast::NumOp::Gte | ast::NumOp::Lte => *n,
                ast::NumOp::Gt => n + 1.0,
                ast::NumOp::Lt => n - 1.0,
            } as i64;
            let (mut y, mut mo, mut d, mut h, mut mi) = (2024, 5, 6, 3, 4);
            match part {
                ast::TimePart::Year => y = x,
                ast::TimePart::Month => mo = x,
                ast::TimePart::Day => d = x,
                ast::TimePart::Hour => h = x,
                ast::TimePart::Minute => mi = x,
                ast::TimePart::Week => return Vec::new(),
            }
            vec![J::String(format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:05Z"
            ))]
        }
    }
}

/// A string the regex matches, for simple regexes: literals, classes, repetitions (at
/// their minimum, at least once for `+`), the first branch of alternations, anchors.
fn regex_witness(re: &str) -> Option<String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn emit(h: &Hir, out: &mut String) -> Option<()> {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => Some(()),
            HirKind::Literal(l) => {
                out.push_str(std::str::from_utf8(&l.0).ok()?);
                Some(())
            }
            HirKind::Class(Class::Unicode(c)) => {
                let r = c.ranges().first()?;
                let pick = if r.start() <= 'x' && 'x' <= r.end() {
                    'x'
                } else {
                    r.start()
                };
                out.push(pick);
                Some(())
            }
            HirKind::Class(Class::Bytes(c)) => {
                out.push(char::from(c.ranges().first()?.start()));
                Some(())
            }
            HirKind::Repetition(r) => {
                for _ in 0..r.min.max(1) {
                    emit(&r.sub, out)?;
                }
                Some(())
            }
            HirKind::Capture(c) => emit(&c.sub, out),
            HirKind::Concat(hs) => hs.iter().try_for_each(|h| emit(h, out)),
            HirKind::Alternation(hs) => emit(hs.first()?, out),
        }
    }
    let hir = regex_syntax::parse(re).ok()?;
    let mut out = String::new();
    emit(&hir, &mut out)?;
    Some(out)
}

/// Values that make a matcher miss.
fn misses() -> Vec<J> {
    vec![
        J::String("mw-no-match-value".into()),
        J::from(-987_654_321),
        J::String(String::new()),
    ]
}

/// Set `path` in `doc` (nested objects), replacing what is there.
pub fn set(doc: &mut J, path: &str, v: J) {
    let mut node = doc;
    let segs: Vec<&str> = path.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        if !node.is_object() {
            *node = J::Object(Map::new());
        }
        let map = node.as_object_mut().unwrap();
        if i + 1 == segs.len() {
            map.insert((*seg).to_string(), v);
            return;
        }
        node = map
            .entry((*seg).to_string())
            .or_insert(J::Object(Map::new()));
    }
}

/// Remove `path` from `doc`.
pub fn remove(doc: &mut J, path: &str) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut node = doc;
    for seg in &segs[..segs.len() - 1] {
        match node.get_mut(*seg) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(*segs.last().unwrap());
    }
}

/// Every leaf path of `doc` (objects walked, arrays and scalars are leaves).
pub fn leaf_paths(doc: &J) -> Vec<String> {
    fn go(v: &J, prefix: &str, out: &mut Vec<String>) {
        match v {
            J::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    go(v, &p, out);
                }
            }
            _ if !prefix.is_empty() => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(doc, "", &mut out);
    out
}

/// Try to realise one requirement set as a document.
fn realise(rule: &RRule, reqs: &[Req<'_>], want: bool) -> Option<J> {
    let mut doc = J::Object(Map::new());
    let mut keyword = 0;
    // Fields several requirements talk about are settled together.
    let mut fields: Vec<&str> = Vec::new();
    for r in reqs {
        if let Some(f) = &r.item.field
            && !fields.contains(&f.as_str())
        {
            fields.push(f);
        }
    }
    for field in &fields {
        let on_field: Vec<&Req<'_>> = reqs
            .iter()
            .filter(|r| r.item.field.as_deref() == Some(*field))
            .collect();
        let mut candidates: Vec<Option<J>> = vec![None];
        for r in &on_field {
            candidates.extend(item_candidates(r.item, r.want).into_iter().map(Some));
        }
        // Several positive requirements on one field: one value passing them all (prefix,
        // middle and suffix witnesses joined), or every witness as an array.
        let firsts: Vec<(J, u8)> = on_field
            .iter()
            .filter(|r| r.want)
            .filter_map(|r| {
                let first = item_candidates(r.item, true).into_iter().next()?;
                Some((first, shape_rank(r.item)))
            })
            .collect();
        if firsts.len() > 1 {
            let mut ordered = firsts.clone();
            ordered.sort_by_key(|(_, rank)| *rank);
            let joined: Option<String> = ordered.iter().map(|(v, _)| text(v)).collect();
            if let Some(j) = joined {
                candidates.push(Some(J::String(j)));
            }
            candidates.push(Some(J::Array(firsts.into_iter().map(|(v, _)| v).collect())));
        }
        let ok = candidates.into_iter().find(|c| {
            let mut d = doc.clone();
            match c {
                Some(v) => set(&mut d, field, v.clone()),
                None => remove(&mut d, field),
            }
            on_field
                .iter()
                .filter(|r| r.item.test_is_local())
                .all(|r| item_holds(r.item, &d) == r.want)
        })?;
        if let Some(v) = ok {
            set(&mut doc, field, v);
        }
    }
    // Field references: make the referenced fields agree (or not).
    for r in reqs {
        if let RTest::FieldRef {
            fields: refs,
            how,
            negate,
            ..
        } = &r.item.test
        {
            let field = r.item.field.as_deref()?;
            let want_rel = r.want != *negate;
            let base = "ref-value";
            let mine = match (how, want_rel) {
                (_, false) => "other-value".to_string(),
                (ast::RefHow::Equal, true) => base.to_string(),
                (ast::RefHow::Contains, true) => format!("a{base}b"),
                (ast::RefHow::StartsWith, true) => format!("{base}b"),
                (ast::RefHow::EndsWith, true) => format!("a{base}"),
            };
            set(&mut doc, field, J::String(mine));
            for f in refs {
                set(&mut doc, f, J::String(base.to_string()));
            }
        }
    }
    // Keywords: one extra value per positive keyword requirement.
    for r in reqs {
        if r.item.field.is_none()
            && r.want
            && let RTest::Match { matchers, all, .. } = &r.item.test
        {
            let take: Vec<&RMatcher> = if *all {
                matchers.iter().collect()
            } else {
                matchers.iter().take(1).collect()
            };
            for m in take {
                let w = witnesses(m).into_iter().next()?;
                set(&mut doc, &format!("kw{keyword}"), w);
                keyword += 1;
            }
        }
    }
    (matches(rule, &doc) == want).then_some(doc)
}

/// Where a value's witness goes when several are joined: prefixes first, suffixes last.
fn shape_rank(item: &RItem) -> u8 {
    let RTest::Match { matchers, .. } = &item.test else {
        return 1;
    };
    match matchers.first() {
        Some(RMatcher::Glob { parts, .. }) => {
            match (
                parts.first() == Some(&GPart::Many),
                parts.last() == Some(&GPart::Many),
            ) {
                (false, true) => 0,
                (true, false) => 2,
                _ => 1,
            }
        }
        _ => 1,
    }
}

impl RItem {
    /// Whether the test looks at its own field only (not at other fields or all values).
    fn test_is_local(&self) -> bool {
        self.field.is_some() && !matches!(self.test, RTest::FieldRef { .. })
    }
}

/// Values to try for a field so that `item` holds (or not).
fn item_candidates(item: &RItem, want: bool) -> Vec<J> {
    match &item.test {
        RTest::Match {
            negate,
            matchers,
            all,
            ..
        } => {
            let hit = want != *negate;
            if hit {
                let mut out: Vec<J> = matchers.iter().flat_map(witnesses).collect();
                if *all {
                    // One value cannot always pass every matcher: offer the list of witnesses.
                    let each: Vec<J> = matchers
                        .iter()
                        .filter_map(|m| witnesses(m).into_iter().next())
                        .collect();
                    out.insert(0, J::Array(each));
                }
                out
            } else {
                misses()
            }
        }
        RTest::Null => {
            if want {
                vec![J::Null]
            } else {
                vec![J::String("present".into())]
            }
        }
        RTest::Exists(b) => {
            if want == *b {
                vec![J::String("present".into())]
            } else {
                Vec::new()
            }
        }
        RTest::FieldRef { .. } => Vec::new(),
    }
}

/// A document the rule matches (`want`) or does not, if the builder finds one.
pub fn build(rule: &RRule, want: bool) -> Option<J> {
    let c = if rule.conditions.len() == 1 {
        rule.conditions[0].clone()
    } else {
        RCond::Or(rule.conditions.clone())
    };
    for reqs in cond_sets(rule, &c, want) {
        if let Some(doc) = realise(rule, &reqs, want) {
            return Some(doc);
        }
    }
    None
}

/// A document the rule does not match that differs from `positive` in one field (removed
/// or given a non-matching value), if there is one.
pub fn minimal_negative(rule: &RRule, positive: &J) -> Option<J> {
    for path in leaf_paths(positive) {
        let mut removed = positive.clone();
        remove(&mut removed, &path);
        if !matches(rule, &removed) {
            return Some(removed);
        }
        for miss in misses() {
            let mut changed = positive.clone();
            set(&mut changed, &path, miss);
            if !matches(rule, &changed) {
                return Some(changed);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// A small seeded PRNG (SplitMix64).

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------
// Reading raw rule items the naive way, straight from the specification.

/// A rule value as written in YAML.
#[derive(Debug, Clone, PartialEq)]
pub enum RawVal {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

impl RawVal {
    /// The value as YAML text.
    pub fn yaml(&self) -> String {
        match self {
            RawVal::Str(s) => format!("'{}'", s.replace('\'', "''")),
            RawVal::Int(i) => i.to_string(),
            RawVal::Bool(b) => b.to_string(),
            RawVal::Null => "null".to_string(),
        }
    }
}

/// A field item as written: `field|mod|mod: values`.
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Empty for keywords.
    pub field: String,
    pub modifiers: Vec<String>,
    pub values: Vec<RawVal>,
}

/// Sigma's escapes: `\*`, `\?`, `\\` are plain characters; other backslashes are plain;
/// unescaped `*` and `?` are wildcards.
pub fn parse_wildcards(s: &str) -> Vec<GPart> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() && matches!(chars[i + 1], '*' | '?' | '\\') {
            out.push(GPart::Char(chars[i + 1]));
            i += 2;
            continue;
        }
        out.push(match c {
            '*' => GPart::Many,
            '?' => GPart::One,
            c => GPart::Char(c),
        });
        i += 1;
    }
    out
}

fn naive_base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The reference item for a raw item, for the modifier combinations the differential
/// generator writes.
pub fn naive_item(raw: &RawItem) -> RItem {
    let has = |m: &str| raw.modifiers.iter().any(|x| x == m);
    let field = (!raw.field.is_empty()).then(|| raw.field.clone());
    let values: Vec<&RawVal> = raw.values.iter().filter(|v| **v != RawVal::Null).collect();
    let or_null = values.len() != raw.values.len();
    let text = |v: &RawVal| match v {
        RawVal::Str(s) => s.clone(),
        RawVal::Int(i) => i.to_string(),
        RawVal::Bool(b) => b.to_string(),
        RawVal::Null => String::new(),
    };
    if has("exists") {
        return RItem {
            field,
            test: RTest::Exists(raw.values[0] == RawVal::Bool(true)),
        };
    }
    if has("fieldref") {
        let how = if has("contains") {
            ast::RefHow::Contains
        } else if has("startswith") {
            ast::RefHow::StartsWith
        } else if has("endswith") {
            ast::RefHow::EndsWith
        } else {
            ast::RefHow::Equal
        };
        return RItem {
            field,
            test: RTest::FieldRef {
                all: has("all"),
                negate: has("neq"),
                cased: has("cased"),
                how,
                fields: values.iter().map(|v| text(v)).collect(),
            },
        };
    }
    if values.is_empty() {
        return RItem {
            field,
            test: RTest::Null,
        };
    }
    let num_op = [
        ("lt", ast::NumOp::Lt),
        ("lte", ast::NumOp::Lte),
        ("gt", ast::NumOp::Gt),
        ("gte", ast::NumOp::Gte),
    ]
    .into_iter()
    .find(|(m, _)| has(m))
    .map(|(_, op)| op);
    let matchers = values
        .iter()
        .map(|v| {
            if let Some(op) = num_op {
                return RMatcher::Num(op, text(v).parse().unwrap());
            }
            if has("re") {
                return RMatcher::Regex {
                    re: text(v),
                    i: has("i"),
                    m: has("m"),
                    s: has("s"),
                };
            }
            if has("cidr") {
                let t = text(v);
                let (a, p) = t.split_once('/').unwrap();
                let addr: IpAddr = a.parse().unwrap();
                let prefix: u8 = p.parse().unwrap();
                // The network address: host bits cleared.
                let addr = match addr {
                    IpAddr::V4(x) => {
                        let bits = u32::from(x);
                        let mask = if prefix == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(prefix))
                        };
                        IpAddr::V4((bits & mask).into())
                    }
                    IpAddr::V6(x) => {
                        let bits = u128::from(x);
                        let mask = if prefix == 0 {
                            0
                        } else {
                            u128::MAX << (128 - u32::from(prefix))
                        };
                        IpAddr::V6((bits & mask).into())
                    }
                };
                return RMatcher::Cidr { addr, prefix };
            }
            let mut parts = match v {
                RawVal::Str(s) => parse_wildcards(s),
                other => text(other).chars().map(GPart::Char).collect(),
            };
            if has("base64") {
                let plain: String = parts
                    .iter()
                    .map(|p| match p {
                        GPart::Char(c) => *c,
                        _ => panic!("base64 of a wildcard"),
                    })
                    .collect();
                parts = naive_base64(plain.as_bytes())
                    .chars()
                    .map(GPart::Char)
                    .collect();
            }
            let keyword = field.is_none();
            if has("contains") || (keyword && !has("startswith") && !has("endswith")) {
                if parts.first() != Some(&GPart::Many) {
                    parts.insert(0, GPart::Many);
                }
                if parts.last() != Some(&GPart::Many) {
                    parts.push(GPart::Many);
                }
            } else if has("startswith") {
                parts.push(GPart::Many);
            } else if has("endswith") {
                parts.insert(0, GPart::Many);
            }
            RMatcher::Glob {
                parts,
                cased: has("cased"),
            }
        })
        .collect();
    RItem {
        field,
        test: RTest::Match {
            all: has("all"),
            or_null,
            negate: has("neq"),
            matchers,
        },
    }
}
