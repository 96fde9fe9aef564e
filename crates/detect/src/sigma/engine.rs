//! Matching records against many rules, touching only the rules that can match.
//!
//! Rules are grouped into feeds: one per vendor source (the rules whose logsource that
//! source produces) and one for midwatch events. Within a feed three shortcuts cut the work:
//! - **exact-value dispatch**: a rule whose condition requires some field to equal one of
//!   a few values (`eventType: user.session.start`, `eventName: [ConsoleLogin, …]`,
//!   `class_uid: 3002`) is filed under those values; per record, the engine reads that
//!   field once and takes the rules filed under its value. The field is chosen per rule
//!   among those its condition pins down, preferring the ones most rules of the feed share,
//!   so a feed ends up with a handful of index fields (typically the event-type field);
//! - **substring dispatch**: a rule the exact index does not reach, whose condition requires
//!   one of some literals inside the values of one field (`userAgent|contains: curl`), is
//!   filed under that field; per record, the field's values are scanned once (Aho-Corasick)
//!   for the literals of all such rules;
//! - **literal prefilter** (raw records; the rules neither index reaches, when there are
//!   enough of them): a rule whose condition requires one of some literals to appear in a
//!   value (every equality, prefix, suffix, substring or keyword test carries one) is
//!   skipped unless one of them occurs in the record's text, found in one Aho-Corasick pass
//!   (ASCII case-insensitive, escapes decoded). A record in which no rule's literal occurs is
//!   not even parsed.
//!
//! All three only ever skip rules that cannot match, so results are the same with dispatch on or
//! off ([`EngineOptions`]); the tests check that on the corpus and on random rules.

use super::ast::{Cond, Detection, Item, Matcher, Test};
use super::compiled::Scratch;
use super::json::{self, JsonRecord, NodeBuf, RecordError};
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

/// Fewest gated rules outside the index worth an Aho-Corasick pass over each record: below
/// this, evaluating the rules costs less than scanning.
const MIN_PREFILTER_RULES: usize = 8;

/// Buffers reused across the records one thread matches, so matching a record allocates
/// nothing once they have grown.
#[derive(Debug, Default)]
struct Buffers {
    nodes: NodeBuf,
    passed: Vec<bool>,
    seen: Vec<bool>,
    candidates: Vec<u32>,
    text: String,
    folded: String,
    scratch: Scratch,
}

thread_local! {
    static BUFFERS: std::cell::Cell<Buffers> = std::cell::Cell::new(Buffers::default());
}

/// Run `f` with this thread's buffers.
fn with_buffers<R>(f: impl FnOnce(&mut Buffers) -> R) -> R {
    let mut b = BUFFERS.take();
    let r = f(&mut b);
    BUFFERS.set(b);
    r
}

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
    /// Rules reached through substring dispatch.
    pub substring_indexed: usize,
    /// The fields substring dispatch scans.
    pub substring_fields: Vec<String>,
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
    substr: Vec<SubstrField>,
    /// Local ids reached through neither index.
    rest: Vec<u32>,
    prefilter: Option<Prefilter>,
}

#[derive(Debug)]
struct IndexField {
    path: FieldPath,
    by_value: HashMap<Box<str>, Vec<u32>>,
}

/// Rules that need one of some literals inside the values of one field: the field's values
/// are scanned once for all of them.
#[derive(Debug)]
struct SubstrField {
    path: FieldPath,
    ac: AhoCorasick,
    /// Local ids per literal.
    by_literal: Vec<Vec<u32>>,
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
                (source, Feed::build(&rules, ids, fallback, Some(opts)))
            })
            .collect();
        let midwatch = Feed::build(&rules, midwatch, None, None);
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
        with_buffers(|b| {
            let gated = match (&feed.prefilter, self.opts.prefilter) {
                (Some(pf), true) => {
                    pf.scan(bytes, &mut b.passed, &mut b.seen);
                    if !b.passed.iter().any(|p| *p) {
                        return Ok(());
                    }
                    true
                }
                _ => false,
            };
            let nodes = std::mem::take(&mut b.nodes);
            match JsonRecord::parse_in(bytes, nodes) {
                Ok(record) => {
                    let record = record.with_fallback(feed.fallback);
                    self.run(feed, &record, gated, b, out);
                    b.nodes = record.into_buf();
                    Ok(())
                }
                Err((e, nodes)) => {
                    b.nodes = nodes;
                    Err(e)
                }
            }
        })
    }

    /// Match an already parsed record of source `source` (no literal prefilter).
    pub fn match_record(&self, source: &str, record: &dyn Record, out: &mut Vec<Match>) {
        if let Some(feed) = self.vendor.get(source) {
            with_buffers(|b| self.run(feed, record, false, b, out));
        }
    }

    /// Match one normalized event in its context against the `product: midwatch` rules.
    pub fn match_event(&self, ctx: &Context<'_>, out: &mut Vec<Match>) {
        let record = MidwatchRecord::new(*ctx);
        with_buffers(|b| self.run(&self.midwatch, &record, false, b, out));
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

    /// Evaluate the rules of `feed` that may match `record`; `gated` says whether
    /// `b.passed` holds the prefilter's verdict per local rule.
    fn run(
        &self,
        feed: &Feed,
        record: &dyn Record,
        gated: bool,
        b: &mut Buffers,
        out: &mut Vec<Match>,
    ) {
        let Buffers {
            passed,
            candidates,
            text,
            folded,
            scratch,
            ..
        } = b;
        let passed: &[bool] = passed;
        let ok = |local: u32| !gated || passed.get(local as usize).copied().unwrap_or(false);
        candidates.clear();
        if self.opts.index {
            for field in &feed.index {
                record.lookup(&field.path, &mut |v| {
                    if let Some(t) = v.text(text) {
                        fold_into(t, folded);
                        if let Some(rules) = field.by_value.get(folded.as_str()) {
                            candidates.extend(rules.iter().copied().filter(|r| ok(*r)));
                        }
                    }
                    false
                });
            }
            for field in &feed.substr {
                record.lookup(&field.path, &mut |v| {
                    if let Some(t) = v.text(text) {
                        for m in field.ac.find_overlapping_iter(t) {
                            if let Some(rules) = field.by_literal.get(m.pattern().as_usize()) {
                                candidates.extend(rules.iter().copied().filter(|r| ok(*r)));
                            }
                        }
                    }
                    false
                });
            }
            candidates.extend(feed.rest.iter().copied().filter(|r| ok(*r)));
            candidates.sort_unstable();
            candidates.dedup();
        } else {
            candidates.extend((0..feed.rules.len() as u32).filter(|r| ok(*r)));
        }
        for &local in candidates.iter() {
            let Some(&global) = feed.rules.get(local as usize) else {
                continue;
            };
            let global = global as usize;
            if let Some(rule) = self.rules.get(global)
                && rule.compiled.eval_with(record, scratch)
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
    /// The feed of rules `ids`; `raw` holds the options of raw-record feeds (which may
    /// prefilter).
    fn build(
        rules: &[Rule],
        ids: Vec<u32>,
        fallback: Option<&'static str>,
        raw: Option<EngineOptions>,
    ) -> Feed {
        let details: Vec<&Detection> = ids
            .iter()
            .filter_map(|i| rules.get(*i as usize))
            .map(|r| &*r.detection)
            .collect();
        let (index, rest) = build_index(&details);
        let (substr, rest) = build_substr(&details, rest);
        // With the index on, only the rules it does not reach are worth gating.
        let prefilter = match raw {
            Some(o) if o.prefilter && o.index => Prefilter::build(&details, &rest),
            Some(o) if o.prefilter => {
                let all: Vec<u32> = (0..details.len() as u32).collect();
                Prefilter::build(&details, &all)
            }
            _ => None,
        };
        Feed {
            rules: ids,
            fallback,
            index,
            substr,
            rest,
            prefilter,
        }
    }

    fn stats(&self, name: &str) -> FeedStats {
        let (prefiltered, literals) = match &self.prefilter {
            Some(p) => (p.gated.iter().filter(|g| **g).count(), p.by_literal.len()),
            None => (0, 0),
        };
        let substring_indexed: usize = self
            .substr
            .iter()
            .map(|f| f.by_literal.iter().flatten().collect::<BTreeSet<_>>().len())
            .sum();
        FeedStats {
            feed: name.to_string(),
            rules: self.rules.len(),
            indexed: self.rules.len() - self.rest.len() - substring_indexed,
            index_fields: self
                .index
                .iter()
                .map(|f| f.path.as_str().to_string())
                .collect(),
            substring_indexed,
            substring_fields: self
                .substr
                .iter()
                .map(|f| f.path.as_str().to_string())
                .collect(),
            prefiltered,
            literals,
        }
    }
}

impl Prefilter {
    /// A prefilter gating the rules `locals` of a feed of `details`, if enough of them
    /// carry literals.
    fn build(details: &[&Detection], locals: &[u32]) -> Option<Prefilter> {
        let mut literals: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut gated = vec![false; details.len()];
        for &local in locals {
            let Some(d) = details.get(local as usize) else {
                continue;
            };
            if let Some(lits) = cond_literals(d, &d.condition) {
                if let Some(g) = gated.get_mut(local as usize) {
                    *g = true;
                }
                for l in lits {
                    literals.entry(l).or_default().push(local);
                }
            }
        }
        if gated.iter().filter(|g| **g).count() < MIN_PREFILTER_RULES {
            return None;
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

    /// Which local rules may match `bytes`, into `passed`; `seen` is scratch space.
    fn scan(&self, bytes: &[u8], passed: &mut Vec<bool>, seen: &mut Vec<bool>) {
        passed.clear();
        passed.extend(self.gated.iter().map(|g| !g));
        seen.clear();
        seen.resize(self.by_literal.len(), false);
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
    // A field is worth more the more distinct values the rules pin it to (smaller buckets:
    // `eventName` before `eventSource`, `midwatch.action` before `class_uid`), then the
    // more rules can use it (fewer index fields).
    let mut popularity: BTreeMap<&str, usize> = BTreeMap::new();
    let mut distinct: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for opts in &options {
        let fields: BTreeSet<&str> = opts.iter().map(|(f, _)| f.as_str()).collect();
        for f in fields {
            *popularity.entry(f).or_default() += 1;
        }
        for (f, values) in opts {
            distinct
                .entry(f.as_str())
                .or_default()
                .extend(values.iter().map(String::as_str));
        }
    }
    let score = |f: &str| {
        (
            distinct.get(f).map_or(0, BTreeSet::len),
            popularity.get(f).copied().unwrap_or(0),
        )
    };
    let mut index: BTreeMap<String, HashMap<Box<str>, Vec<u32>>> = BTreeMap::new();
    let mut rest = Vec::new();
    for (local, opts) in options.iter().enumerate() {
        let best = opts.iter().max_by(|a, b| {
            score(&a.0)
                .cmp(&score(&b.0))
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

/// Fewest rules sharing a field worth a substring scan of that field.
const MIN_SUBSTR_RULES: usize = 2;

/// Move the rules of `rest` whose condition needs a literal inside one field's values into
/// substring dispatch; returns it and the rules still left.
fn build_substr(details: &[&Detection], rest: Vec<u32>) -> (Vec<SubstrField>, Vec<u32>) {
    let options: Vec<(u32, Vec<ExactOption>)> = rest
        .iter()
        .map(|&local| {
            let opts = details
                .get(local as usize)
                .map(|d| cond_field_literals(d, &d.condition))
                .unwrap_or_default();
            (local, opts)
        })
        .collect();
    let mut popularity: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, opts) in &options {
        let fields: BTreeSet<&str> = opts.iter().map(|(f, _)| f.as_str()).collect();
        for f in fields {
            *popularity.entry(f).or_default() += 1;
        }
    }
    let popular = |f: &str| popularity.get(f).copied().unwrap_or(0);
    let mut chosen: BTreeMap<String, Vec<(u32, BTreeSet<String>)>> = BTreeMap::new();
    let mut left = Vec::new();
    for (local, opts) in &options {
        let best = opts
            .iter()
            .filter(|(f, _)| popular(f) >= MIN_SUBSTR_RULES)
            .max_by(|a, b| popular(&a.0).cmp(&popular(&b.0)).then(b.0.cmp(&a.0)));
        match best {
            Some((field, lits)) => chosen
                .entry(field.clone())
                .or_default()
                .push((*local, lits.clone())),
            None => left.push(*local),
        }
    }
    let mut fields = Vec::new();
    for (path, rules) in chosen {
        let mut by_literal: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (local, lits) in &rules {
            for l in lits {
                by_literal.entry(l.clone()).or_default().push(*local);
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(by_literal.keys());
        match ac {
            Ok(ac) => fields.push(SubstrField {
                path: FieldPath::new(&path),
                ac,
                by_literal: by_literal.into_values().collect(),
            }),
            Err(_) => left.extend(rules.iter().map(|(l, _)| *l)),
        }
    }
    left.sort_unstable();
    (fields, left)
}

/// Options for substring dispatch: a field, and literals one of which some value of that
/// field must contain for the condition to hold.
fn cond_field_literals(d: &Detection, c: &Cond) -> Vec<ExactOption> {
    match c {
        Cond::Search(i) => d
            .searches
            .get(*i)
            .map(|s| {
                let alts: Vec<Vec<ExactOption>> = s
                    .alternatives
                    .iter()
                    .map(|alt| {
                        alt.iter()
                            .filter_map(|item| {
                                let field = item.field.clone()?;
                                let lits = item_literals(item)?;
                                Some((field, lits.into_iter().collect()))
                            })
                            .collect()
                    })
                    .collect();
                common_fields(alts)
            })
            .unwrap_or_default(),
        Cond::And(cs) => cs.iter().flat_map(|c| cond_field_literals(d, c)).collect(),
        Cond::Or(cs) => common_fields(cs.iter().map(|c| cond_field_literals(d, c)).collect()),
        Cond::Not(_) => Vec::new(),
    }
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
