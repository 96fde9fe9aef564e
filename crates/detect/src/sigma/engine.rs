//! Matching records against many rules, touching only the rules that can match.
//!
//! Rules are grouped into feeds: one per vendor source (the rules whose logsource that
//! source produces) and one for midwatch events. Within a feed two indexes cut the work:
//! - **exact-value dispatch**: a rule whose condition requires some field to equal one of
//!   a few values (`eventType: user.session.start`, `eventName: [ConsoleLogin, …]`,
//!   `class_uid: 3002`) is filed under those values; per record, the engine reads that
//!   field once and takes the rules filed under its value. The field is chosen per rule
//!   among those its condition pins down, preferring the ones most rules of the feed share,
//!   so a feed ends up with a handful of index fields (typically the event-type field);
//! - **literal prefilter** (raw records): a rule whose condition requires one of some
//!   literals to appear in a value (every equality, prefix, suffix, substring or keyword
//!   test carries one) is skipped unless one of them occurs in the record's text, found in
//!   one Aho-Corasick pass (ASCII case-insensitive, escapes decoded). A record in which no
//!   rule's literal occurs is not even parsed.
//!
//! Both only ever skip rules that cannot match, so results are the same with dispatch on or
//! off ([`EngineOptions`]); the tests check that on the corpus and on random rules.

use super::ast::{Cond, Detection, Item, Matcher, Test};
use super::json::{self, JsonRecord, RecordError};
use super::logsource::{self, FieldSpace};
use super::midwatch::MidwatchRecord;
use super::pattern::Part;
use super::record::{FieldPath, Record, fold_into};
use super::rule::{Logsource, Rule, RuleMeta};
use crate::Context;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use foldhash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Shortest literal worth a prefilter entry.
const MIN_LITERAL: usize = 3;

/// Feed name of midwatch events in [`EngineStats`].
pub const MIDWATCH_FEED: &str = "midwatch";

/// One rule that matched.
#[derive(Debug, Clone)]
pub struct Match {
    /// Index of the rule in [`Engine::rules`].
    pub rule: usize,
    /// The rule's metadata.
    pub meta: Arc<RuleMeta>,
}

/// Which shortcuts the engine takes. Results never depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Exact-value dispatch.
    pub index: bool,
    /// Literal prefilter over raw records.
    pub prefilter: bool,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            index: true,
            prefilter: true,
        }
    }
}

/// How the rules of one feed are arranged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStats {
    /// Feed: a source name, or [`MIDWATCH_FEED`].
    pub feed: String,
    /// Rules in the feed.
    pub rules: usize,
    /// Rules reached through exact-value dispatch.
    pub indexed: usize,
    /// The fields dispatched on.
    pub index_fields: Vec<String>,
    /// Rules gated by the literal prefilter.
    pub prefiltered: usize,
    /// Distinct prefilter literals.
    pub literals: usize,
}

/// What the engine did with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Per feed.
    pub feeds: Vec<FeedStats>,
    /// Rules no feed reaches (their logsource is produced by no source).
    pub unfed: usize,
}

/// Compiled rules, ready to match.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    vendor: BTreeMap<&'static str, Feed>,
    midwatch: Feed,
    opts: EngineOptions,
    unfed: usize,
}

#[derive(Debug, Default)]
struct Feed {
    /// Global rule indexes, ascending; positions in this vector are the feed's local ids.
    rules: Vec<u32>,
    fallback: Option<&'static str>,
    index: Vec<IndexField>,
    /// Local ids not reached through the index.
    rest: Vec<u32>,
    prefilter: Option<Prefilter>,
}

#[derive(Debug)]
struct IndexField {
    path: FieldPath,
    by_value: HashMap<Box<str>, Vec<u32>>,
}

#[derive(Debug)]
struct Prefilter {
    ac: AhoCorasick,
    /// Local ids per literal.
    by_literal: Vec<Vec<u32>>,
    /// Whether each local rule is gated (has a literal requirement).
    gated: Vec<bool>,
}

impl Engine {
    /// An engine over `rules` with every shortcut on.
    pub fn new(rules: Vec<Rule>) -> Engine {
        Engine::with_options(rules, EngineOptions::default())
    }

    /// An engine over `rules`.
    pub fn with_options(rules: Vec<Rule>, opts: EngineOptions) -> Engine {
        let mut vendor: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
        let mut midwatch = Vec::new();
        let mut unfed = 0;
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match &rule.space {
                FieldSpace::Midwatch => midwatch.push(i),
                FieldSpace::Vendor { sources } if sources.is_empty() => unfed += 1,
                FieldSpace::Vendor { sources } => {
                    for s in sources {
                        vendor.entry(s).or_default().push(i);
                    }
                }
            }
        }
        let vendor = vendor
            .into_iter()
            .map(|(source, ids)| {
                let fallback = logsource::vendor_feed(source).and_then(|f| f.fallback);
                (source, Feed::build(&rules, ids, fallback, true))
            })
            .collect();
        let midwatch = Feed::build(&rules, midwatch, None, false);
        Engine {
            rules,
            vendor,
            midwatch,
            opts,
            unfed,
        }
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How the rules are arranged.
    pub fn stats(&self) -> EngineStats {
        let mut feeds: Vec<FeedStats> = self
            .vendor
            .iter()
            .map(|(name, feed)| feed.stats(name))
            .collect();
        if !self.midwatch.rules.is_empty() {
            feeds.push(self.midwatch.stats(MIDWATCH_FEED));
        }
        EngineStats {
            feeds,
            unfed: self.unfed,
        }
    }

    /// Match one raw record of midwatch source `source` (`okta`, `cloudtrail`, …) against
    /// the vendor rules that source feeds; matches are appended to `out` in rule order. A
    /// record that no rule's literals occur in is not parsed, so a malformed record is an
    /// error only when it had to be read.
    pub fn match_raw(
        &self,
        source: &str,
        bytes: &[u8],
        out: &mut Vec<Match>,
    ) -> Result<(), RecordError> {
        let Some(feed) = self.vendor.get(source) else {
            return Ok(());
        };
        let passed = match (&feed.prefilter, self.opts.prefilter) {
            (Some(pf), true) => {
                let passed = pf.scan(bytes);
                if !passed.iter().any(|p| *p) {
                    return Ok(());
                }
                Some(passed)
            }
            _ => None,
        };
        let record = JsonRecord::parse(bytes)?.with_fallback(feed.fallback);
        self.run(feed, &record, passed.as_deref(), out);
        Ok(())
    }

    /// Match an already parsed record of source `source` (no literal prefilter).
    pub fn match_record(&self, source: &str, record: &dyn Record, out: &mut Vec<Match>) {
        if let Some(feed) = self.vendor.get(source) {
            self.run(feed, record, None, out);
        }
    }

    /// Match one normalized event in its context against the `product: midwatch` rules.
    pub fn match_event(&self, ctx: &Context<'_>, out: &mut Vec<Match>) {
        let record = MidwatchRecord::new(*ctx);
        self.run(&self.midwatch, &record, None, out);
    }

    /// Match any record (an example document, a test document) against every rule with
    /// this logsource, without dispatch.
    pub fn match_doc(&self, record: &dyn Record, logsource: &Logsource, out: &mut Vec<Match>) {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.meta.logsource.same(logsource) && rule.compiled.eval(record) {
                out.push(Match {
                    rule: i,
                    meta: rule.meta.clone(),
                });
            }
        }
    }

    fn run(&self, feed: &Feed, record: &dyn Record, passed: Option<&[bool]>, out: &mut Vec<Match>) {
        let ok =
            |local: u32| passed.is_none_or(|p| p.get(local as usize).copied().unwrap_or(false));
        let candidates: Vec<u32> = if self.opts.index {
            let mut c = Vec::new();
            let mut buf = String::new();
            let mut folded = String::new();
            for field in &feed.index {
                record.lookup(&field.path, &mut |v| {
                    if let Some(t) = v.text(&mut buf) {
                        fold_into(t, &mut folded);
                        if let Some(rules) = field.by_value.get(folded.as_str()) {
                            c.extend(rules.iter().copied().filter(|r| ok(*r)));
                        }
                    }
                    false
                });
            }
            c.extend(feed.rest.iter().copied().filter(|r| ok(*r)));
            c.sort_unstable();
            c.dedup();
            c
        } else {
            (0..feed.rules.len() as u32).filter(|r| ok(*r)).collect()
        };
        for local in candidates {
            let Some(&global) = feed.rules.get(local as usize) else {
                continue;
            };
            let global = global as usize;
            if let Some(rule) = self.rules.get(global)
                && rule.compiled.eval(record)
            {
                out.push(Match {
                    rule: global,
                    meta: rule.meta.clone(),
                });
            }
        }
    }
}

impl Feed {
    fn build(rules: &[Rule], ids: Vec<u32>, fallback: Option<&'static str>, raw: bool) -> Feed {
        let details: Vec<&Detection> = ids
            .iter()
            .filter_map(|i| rules.get(*i as usize))
            .map(|r| &*r.detection)
            .collect();
        let (index, rest) = build_index(&details);
        let prefilter = if raw {
            Prefilter::build(&details)
        } else {
            None
        };
        Feed {
            rules: ids,
            fallback,
            index,
            rest,
            prefilter,
        }
    }

    fn stats(&self, name: &str) -> FeedStats {
        let (prefiltered, literals) = match &self.prefilter {
            Some(p) => (p.gated.iter().filter(|g| **g).count(), p.by_literal.len()),
            None => (0, 0),
        };
        FeedStats {
            feed: name.to_string(),
            rules: self.rules.len(),
            indexed: self.rules.len() - self.rest.len(),
            index_fields: self
                .index
                .iter()
                .map(|f| f.path.as_str().to_string())
                .collect(),
            prefiltered,
            literals,
        }
    }
}

impl Prefilter {
    fn build(details: &[&Detection]) -> Option<Prefilter> {
        let mut literals: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut gated = vec![false; details.len()];
        for (local, d) in details.iter().enumerate() {
            if let Some(lits) = cond_literals(d, &d.condition) {
                if let Some(g) = gated.get_mut(local) {
                    *g = true;
                }
                for l in lits {
                    literals.entry(l).or_default().push(local as u32);
                }
            }
        }
        if literals.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(literals.keys())
            .or_else(|_| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(literals.keys())
            })
            .ok()?;
        Some(Prefilter {
            ac,
            by_literal: literals.into_values().collect(),
            gated,
        })
    }

    /// Which local rules may match `bytes`.
    fn scan(&self, bytes: &[u8]) -> Vec<bool> {
        let mut passed: Vec<bool> = self.gated.iter().map(|g| !g).collect();
        let mut seen = vec![false; self.by_literal.len()];
        let text = json::decoded_text(bytes);
        for m in self.ac.find_overlapping_iter(&*text) {
            let id = m.pattern().as_usize();
            if let Some(s) = seen.get_mut(id) {
                if *s {
                    continue;
                }
                *s = true;
            }
            for r in self.by_literal.get(id).into_iter().flatten() {
                if let Some(p) = passed.get_mut(*r as usize) {
                    *p = true;
                }
            }
        }
        passed
    }
}

/// A field that must equal one of some (folded) values for a rule to match.
type ExactOption = (String, BTreeSet<String>);

/// Assign each rule to at most one index field; returns the index and the local ids of the
/// rules left out.
fn build_index(details: &[&Detection]) -> (Vec<IndexField>, Vec<u32>) {
    let options: Vec<Vec<ExactOption>> = details
        .iter()
        .map(|d| cond_options(d, &d.condition))
        .collect();
    let mut popularity: BTreeMap<&str, usize> = BTreeMap::new();
    for opts in &options {
        let fields: BTreeSet<&str> = opts.iter().map(|(f, _)| f.as_str()).collect();
        for f in fields {
            *popularity.entry(f).or_default() += 1;
        }
    }
    let mut index: BTreeMap<String, HashMap<Box<str>, Vec<u32>>> = BTreeMap::new();
    let mut rest = Vec::new();
    for (local, opts) in options.iter().enumerate() {
        let best = opts.iter().max_by(|a, b| {
            let pa = popularity.get(a.0.as_str()).copied().unwrap_or(0);
            let pb = popularity.get(b.0.as_str()).copied().unwrap_or(0);
            pa.cmp(&pb)
                .then(b.1.len().cmp(&a.1.len()))
                .then(b.0.cmp(&a.0))
        });
        match best {
            Some((field, values)) => {
                let by_value = index.entry(field.clone()).or_default();
                for v in values {
                    by_value
                        .entry(v.as_str().into())
                        .or_default()
                        .push(local as u32);
                }
            }
            None => rest.push(local as u32),
        }
    }
    let index = index
        .into_iter()
        .map(|(path, by_value)| IndexField {
            path: FieldPath::new(&path),
            by_value,
        })
        .collect();
    (index, rest)
}

/// Options for exact-value dispatch: any one of them is a valid gate.
fn cond_options(d: &Detection, c: &Cond) -> Vec<ExactOption> {
    match c {
        Cond::Search(i) => d
            .searches
            .get(*i)
            .map(|s| {
                let alts: Vec<Vec<ExactOption>> = s
                    .alternatives
                    .iter()
                    .map(|alt| alt.iter().filter_map(item_option).collect())
                    .collect();
                common_fields(alts)
            })
            .unwrap_or_default(),
        Cond::And(cs) => cs.iter().flat_map(|c| cond_options(d, c)).collect(),
        Cond::Or(cs) => common_fields(cs.iter().map(|c| cond_options(d, c)).collect()),
        Cond::Not(_) => Vec::new(),
    }
}

/// For an OR of branches: the fields every branch pins down, with the union of values.
fn common_fields(branches: Vec<Vec<ExactOption>>) -> Vec<ExactOption> {
    let Some(first) = branches.first() else {
        return Vec::new();
    };
    let fields: BTreeSet<&String> = first.iter().map(|(f, _)| f).collect();
    let mut out = Vec::new();
    for field in fields {
        let mut union = BTreeSet::new();
        let mut everywhere = true;
        for branch in &branches {
            let smallest = branch
                .iter()
                .filter(|(f, _)| f == field)
                .min_by_key(|(_, v)| v.len());
            match smallest {
                Some((_, values)) => union.extend(values.iter().cloned()),
                None => {
                    everywhere = false;
                    break;
                }
            }
        }
        if everywhere {
            out.push((field.clone(), union));
        }
    }
    out
}

/// The exact values an item pins its field to, if it does.
fn item_option(item: &Item) -> Option<ExactOption> {
    let field = item.field.as_ref()?;
    let Test::Match {
        all,
        or_null: false,
        negate: false,
        matchers,
    } = &item.test
    else {
        return None;
    };
    let mut exact = |m: &Matcher| match m {
        Matcher::Str { pattern, .. } => pattern.as_plain().map(|p| {
            let mut f = String::new();
            fold_into(&p, &mut f);
            f
        }),
        _ => None,
    };
    let values: Option<BTreeSet<String>> = if *all {
        matchers
            .iter()
            .find_map(&mut exact)
            .map(|v| BTreeSet::from([v]))
    } else {
        matchers.iter().map(exact).collect()
    };
    values.filter(|v| !v.is_empty()).map(|v| (field.clone(), v))
}

/// Literals one of which must occur in the record for the condition to hold.
fn cond_literals(d: &Detection, c: &Cond) -> Option<Vec<String>> {
    match c {
        Cond::Search(i) => {
            let s = d.searches.get(*i)?;
            union_all(
                s.alternatives
                    .iter()
                    .map(|alt| best(alt.iter().map(item_literals).collect())),
            )
        }
        Cond::And(cs) => best(cs.iter().map(|c| cond_literals(d, c)).collect()),
        Cond::Or(cs) => union_all(cs.iter().map(|c| cond_literals(d, c))),
        Cond::Not(_) => None,
    }
}

fn union_all(parts: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut out = BTreeSet::new();
    for p in parts {
        out.extend(p?);
    }
    (!out.is_empty()).then(|| out.into_iter().collect())
}

/// The most selective requirement: longest shortest literal, then fewest literals.
fn best(options: Vec<Option<Vec<String>>>) -> Option<Vec<String>> {
    options.into_iter().flatten().max_by(|a, b| {
        let min = |v: &Vec<String>| v.iter().map(String::len).min().unwrap_or(0);
        min(a).cmp(&min(b)).then(b.len().cmp(&a.len()))
    })
}

fn item_literals(item: &Item) -> Option<Vec<String>> {
    let Test::Match {
        all,
        or_null: false,
        negate: false,
        matchers,
    } = &item.test
    else {
        return None;
    };
    if *all {
        best(
            matchers
                .iter()
                .map(|m| matcher_literal(m).map(|l| vec![l]))
                .collect(),
        )
    } else {
        let lits: Option<BTreeSet<String>> = matchers.iter().map(matcher_literal).collect();
        lits.filter(|l| !l.is_empty())
            .map(|l| l.into_iter().collect())
    }
}

/// The longest ASCII run of a string matcher's literal text, lowercased.
fn matcher_literal(m: &Matcher) -> Option<String> {
    let Matcher::Str { pattern, .. } = m else {
        return None;
    };
    pattern
        .parts()
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t),
            _ => None,
        })
        .flat_map(|t| t.split(|c: char| !c.is_ascii()))
        .max_by_key(|run| run.len())
        .filter(|run| run.len() >= MIN_LITERAL)
        .map(str::to_ascii_lowercase)
}
