//! The correlator: routes base-rule matches to the correlations that reference them, keeps
//! per-group state under a global key cap, and feeds correlation matches on to the
//! correlations that reference those (chaining).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::Arc;

use super::rule::{CorrelationMeta, CorrelationRule, CorrelationType};
use super::state::{Group, Ids, Obs, Outcome, Spec};
use crate::sigma::LoadError;

/// Groups held at most by default (about 64 MiB at the measured bytes per group).
pub const DEFAULT_MAX_KEYS: usize = 1 << 18;

/// One match of a base (single-event) rule, as the correlator is fed it.
pub struct BaseMatch<'a> {
    /// Sigma `id` of the base rule.
    pub rule_id: &'a str,
    /// Sigma `name` of the base rule, if it has one.
    pub rule_name: Option<&'a str>,
    /// Event time, epoch ms.
    pub time_ms: i64,
    /// Id of the event that matched (evidence).
    pub event_id: &'a str,
    /// Value of a field of the matched record (`None` when absent).
    pub field: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for BaseMatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseMatch")
            .field("rule_id", &self.rule_id)
            .field("rule_name", &self.rule_name)
            .field("time_ms", &self.time_ms)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// One match of a correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatch {
    /// The rule that matched.
    pub rule: Arc<CorrelationMeta>,
    /// Event time of the newest match in the window, epoch ms.
    pub time_ms: i64,
    /// `group-by` fields (as written in the rule, aliases included) and their values.
    pub group: Vec<(String, String)>,
    /// Evidence: event ids in event-time order, bounded (the first few and the last).
    pub event_ids: Vec<String>,
    /// The aggregate that met the condition: the count of matches (`event_count`), of
    /// distinct values (`value_count`), or of listed rules matched (`temporal`; for
    /// `temporal_ordered`, of the ordered prefix matched). Counts are kept up to one more
    /// than the condition's largest bound, so a larger count reads as that.
    pub value: u64,
    /// Whether this match should become an alert of its own: false when every
    /// correlation referencing this rule has `generate: false`.
    pub alert: bool,
}

/// Size of the correlator's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    /// Bytes of group state: map slots plus what groups hold on the heap (allocator
    /// overhead not included).
    pub bytes: usize,
    /// Groups held: (correlation rule, group key) pairs.
    pub keys: usize,
    /// Groups dropped to stay under the key cap (those whose windows end first; with
    /// regular [`Correlator::sweep`]s, these are groups whose window was still open).
    pub evictions: u64,
    /// Groups dropped by [`Correlator::sweep`] because their window had passed.
    pub expired: u64,
    /// Matches ignored because they were older than their group's window.
    pub late: u64,
    /// Matches ignored because a `group-by` or counted field was absent.
    pub unkeyed: u64,
}

/// A correlation rule and one listed position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    rule: u32,
    step: u16,
}

/// A correlation rule ready to run.
#[derive(Debug)]
struct Compiled {
    meta: Arc<CorrelationMeta>,
    spec: Spec,
    /// `group-by` names, for the output.
    group_by: Vec<String>,
    /// Per listed rule: the field to read for each `group-by` entry (aliases resolved).
    group_fields: Vec<Vec<String>>,
    /// Per listed rule: the fields whose values `value_count` counts.
    value_fields: Vec<Vec<String>>,
    /// Whether matches of this rule are alerts of their own.
    alert: bool,
}

/// Evaluates a set of correlation rules over a stream of base-rule matches.
#[derive(Debug)]
pub struct Correlator {
    rules: Vec<Compiled>,
    /// Base-rule reference (id or name) → the correlations listing it.
    base: HashMap<String, Vec<Target>>,
    /// Per correlation: the correlations listing it.
    chained: Vec<Vec<Target>>,
    /// Base references in first-listed order, without repeats.
    referenced: Vec<String>,
    /// Base reference → whether some correlation listing it has `generate: true`.
    base_generate: HashMap<String, bool>,
    groups: HashMap<u64, Group, foldhash::fast::FixedState>,
    keys_hasher: foldhash::quality::RandomState,
    max_keys: usize,
    stats: CorrelationStats,
}

impl Correlator {
    /// Builds a correlator. Correlations may list other correlations of the set by id or
    /// name; every other reference is a base rule.
    ///
    /// # Errors
    /// `C0020` when two correlations share an id or a name, `C0021` when correlations
    /// reference each other in a cycle; both point at the rule in its file.
    pub fn new(rules: Vec<CorrelationRule>) -> Result<Correlator, LoadError> {
        let index = index_by_handle(&rules)?;
        check_cycles(&rules, &index)?;
        let mut base: HashMap<String, Vec<Target>> = HashMap::new();
        let mut chained: Vec<Vec<Target>> = vec![Vec::new(); rules.len()];
        let mut referenced: Vec<String> = Vec::new();
        let mut base_generate: HashMap<String, bool> = HashMap::new();
        let mut correlation_generate = vec![None::<bool>; rules.len()];
        for (r, rule) in rules.iter().enumerate() {
            for (s, reference) in rule.rules.iter().enumerate() {
                let target = Target {
                    rule: u32::try_from(r).unwrap_or(u32::MAX),
                    step: u16::try_from(s).unwrap_or(u16::MAX),
                };
                let name = reference.reference.as_str();
                if let Some(&c) = index.get(name) {
                    if let Some(list) = chained.get_mut(c) {
                        list.push(target);
                    }
                    if let Some(g) = correlation_generate.get_mut(c) {
                        *g = Some(g.unwrap_or(false) || rule.generate);
                    }
                    continue;
                }
                base.entry(name.to_string()).or_default().push(target);
                if !referenced.iter().any(|known| known == name) {
                    referenced.push(name.to_string());
                }
                *base_generate.entry(name.to_string()).or_default() |= rule.generate;
            }
        }
        let compiled = rules
            .into_iter()
            .zip(correlation_generate)
            .map(|(rule, generate)| compile(rule, generate.unwrap_or(true)))
            .collect();
        Ok(Correlator {
            rules: compiled,
            base,
            chained,
            referenced,
            base_generate,
            groups: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            keys_hasher: foldhash::quality::RandomState::default(),
            max_keys: DEFAULT_MAX_KEYS,
            stats: CorrelationStats::default(),
        })
    }

    /// A correlator with no rules: every base match passes through untouched.
    pub fn empty() -> Correlator {
        Correlator {
            rules: Vec::new(),
            base: HashMap::new(),
            chained: Vec::new(),
            referenced: Vec::new(),
            base_generate: HashMap::new(),
            groups: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            keys_hasher: foldhash::quality::RandomState::default(),
            max_keys: DEFAULT_MAX_KEYS,
            stats: CorrelationStats::default(),
        }
    }

    /// Whether some correlation lists the base rule with this id or name.
    pub fn wants(&self, rule_id: &str, rule_name: Option<&str>) -> bool {
        self.base.contains_key(rule_id) || rule_name.is_some_and(|n| self.base.contains_key(n))
    }

    /// The same correlator holding at most `max_keys` groups (at least one); beyond that
    /// the groups whose windows end first (ended ones, then the least recently seen) are
    /// evicted.
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Correlator {
        self.max_keys = max_keys.max(1);
        self
    }

    /// The base-rule references (ids or names) this set of correlations needs fed.
    pub fn referenced(&self) -> impl Iterator<Item = &str> {
        self.referenced.iter().map(String::as_str)
    }

    /// Whether matches of the base rule with this id (and name) should still raise alerts
    /// of their own: true unless it is listed by correlations and all of them have
    /// `generate: false` (the Sigma default).
    pub fn standalone(&self, rule_id: &str, rule_name: Option<&str>) -> bool {
        let listed = [Some(rule_id), rule_name]
            .into_iter()
            .flatten()
            .filter_map(|r| self.base_generate.get(r))
            .collect::<Vec<_>>();
        listed.is_empty() || listed.into_iter().any(|&generate| generate)
    }

    /// Feeds one base-rule match; pushes the correlation matches it completes, including
    /// those of correlations chained on top of them.
    pub fn observe(&mut self, m: &BaseMatch<'_>, out: &mut Vec<CorrelationMatch>) {
        let mut targets: Vec<Target> = Vec::new();
        for reference in [Some(m.rule_id), m.rule_name].into_iter().flatten() {
            for &t in self.base.get(reference).into_iter().flatten() {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        if targets.is_empty() {
            return;
        }
        let obs = Obs {
            time: m.time_ms,
            ids: Ids::One(m.event_id),
        };
        let mut fired: Vec<(u32, usize)> = Vec::new();
        self.feed(&targets, obs, m.field, out, &mut fired);
        self.feed_chained(out, fired);
    }

    /// Drops every group whose window has passed at `now_ms` (event time).
    pub fn sweep(&mut self, now_ms: i64) {
        let before = self.groups.len();
        let rules = &self.rules;
        self.groups.retain(|_, g| {
            rules
                .get(g.rule as usize)
                .is_some_and(|c| !g.expired(&c.spec, now_ms))
        });
        self.stats.expired += (before - self.groups.len()) as u64;
        // Give memory back after a peak of keys.
        if self.groups.capacity() > 4 * self.groups.len().max(1024) {
            self.groups.shrink_to(2 * self.groups.len());
        }
    }

    /// Bytes of state held, number of keys, evictions, expiries and ignored matches.
    pub fn stats(&self) -> CorrelationStats {
        // A hashbrown table has one control byte per bucket (plus a group's worth) and
        // keeps its load at or under 7/8.
        let buckets = if self.groups.capacity() == 0 {
            0
        } else {
            (self.groups.capacity() * 8 / 7).next_power_of_two()
        };
        let slots = buckets * (size_of::<(u64, Group)>() + 1);
        let heap: usize = self.groups.values().map(Group::heap_bytes).sum();
        CorrelationStats {
            bytes: slots + heap,
            keys: self.groups.len(),
            ..self.stats
        }
    }

    /// Meta data of the loaded correlation rules.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<CorrelationMeta>> {
        self.rules.iter().map(|c| &c.meta)
    }

    /// Feeds correlation matches to the correlations listing their rule, until no new
    /// match comes (the reference graph has no cycle, so this ends).
    fn feed_chained(&mut self, out: &mut Vec<CorrelationMatch>, mut fired: Vec<(u32, usize)>) {
        let mut next = 0;
        while let Some(&(rule, at)) = fired.get(next) {
            next += 1;
            let targets = self.chained.get(rule as usize).cloned().unwrap_or_default();
            let Some(m) = out.get(at).cloned() else {
                continue;
            };
            let group = m.group;
            let field = move |name: &str| {
                group
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let obs = Obs {
                time: m.time_ms,
                ids: Ids::Many(&m.event_ids),
            };
            self.feed(&targets, obs, &field, out, &mut fired);
        }
    }

    /// Feeds one match to the listed positions of correlations it matches. Count types
    /// count a match once even when it is listed twice (by id and by name); temporal types
    /// take the later position first so that one match cannot fill two ordered steps.
    fn feed(
        &mut self,
        targets: &[Target],
        obs: Obs<'_>,
        field: &dyn Fn(&str) -> Option<String>,
        out: &mut Vec<CorrelationMatch>,
        fired: &mut Vec<(u32, usize)>,
    ) {
        let mut targets = targets.to_vec();
        targets.sort_by_key(|t| (t.rule, std::cmp::Reverse(t.step)));
        let mut last_count_rule = None;
        for t in targets {
            let Some(c) = self.rules.get(t.rule as usize) else {
                continue;
            };
            let counting = matches!(
                c.spec.kind,
                CorrelationType::EventCount | CorrelationType::ValueCount
            );
            if counting && last_count_rule.replace(t.rule) == Some(t.rule) {
                continue;
            }
            if let Some(m) = self.feed_one(t, obs, field) {
                fired.push((t.rule, out.len()));
                out.push(m);
            }
        }
    }

    /// Feeds one match to one position of one correlation.
    fn feed_one(
        &mut self,
        t: Target,
        obs: Obs<'_>,
        field: &dyn Fn(&str) -> Option<String>,
    ) -> Option<CorrelationMatch> {
        let c = self.rules.get(t.rule as usize)?;
        let step = usize::from(t.step);
        let Some((values, counted)) = read_fields(c, step, field) else {
            self.stats.unkeyed += 1;
            return None;
        };
        let key = self.keys_hasher.hash_one((t.rule, &values));
        let counted = self.keys_hasher.hash_one(&counted);
        if !self.groups.contains_key(&key) && self.groups.len() >= self.max_keys {
            self.make_room();
        }
        let c = self.rules.get(t.rule as usize)?;
        let group = self
            .groups
            .entry(key)
            .or_insert_with(|| Group::new(t.rule, &c.spec, obs.time));
        match group.observe(&c.spec, step, counted, obs) {
            Outcome::Late => {
                self.stats.late += 1;
                None
            }
            Outcome::Counted => None,
            Outcome::Fired { value, evidence } => Some(CorrelationMatch {
                rule: Arc::clone(&c.meta),
                time_ms: group.watermark,
                group: c.group_by.iter().cloned().zip(values).collect(),
                event_ids: evidence,
                value,
                alert: c.alert,
            }),
        }
    }

    /// Frees key slots: evicts the eighth of the cap whose windows end first. The table is then rebuilt
    /// at the cap's size: removals leave tombstones that would otherwise make the table
    /// double while the number of keys stays at the cap.
    ///
    /// Groups are ranked by their own window, not swept by the newest time seen overall,
    /// so that one match with a far-future timestamp cannot expire every other group.
    fn make_room(&mut self) {
        let rules = &self.rules;
        let mut by_end: Vec<(i64, u64)> = self
            .groups
            .iter()
            .map(|(&k, g)| {
                let span = rules.get(g.rule as usize).map_or(0, |c| c.spec.span);
                (g.watermark.saturating_add(span), k)
            })
            .collect();
        let n = (self.max_keys / 8).clamp(1, by_end.len().max(1));
        if by_end.len() >= n {
            by_end.select_nth_unstable(n - 1);
        }
        for (_, key) in by_end.iter().take(n) {
            if self.groups.remove(key).is_some() {
                self.stats.evictions += 1;
            }
        }
        let mut fresh =
            HashMap::with_capacity_and_hasher(self.max_keys, foldhash::fast::FixedState::default());
        fresh.extend(self.groups.drain());
        self.groups = fresh;
    }
}

/// The `group-by` values and the counted values of a match, read with the field names of
/// its listed position; `None` when one is absent.
fn read_fields(
    c: &Compiled,
    step: usize,
    field: &dyn Fn(&str) -> Option<String>,
) -> Option<(Vec<String>, Vec<String>)> {
    let read = |names: &Vec<String>| names.iter().map(|n| field(n)).collect::<Option<Vec<_>>>();
    let values = read(c.group_fields.get(step)?)?;
    let counted = match c.value_fields.get(step) {
        Some(names) if !names.is_empty() => read(names)?,
        _ => Vec::new(),
    };
    Some((values, counted))
}

/// Correlations by id and by name; `C0020` on a handle used twice.
fn index_by_handle(rules: &[CorrelationRule]) -> Result<HashMap<&str, usize>, LoadError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let handles = [rule.meta.id.as_deref(), rule.meta.name.as_deref()];
        for handle in handles.into_iter().flatten() {
            match index.insert(handle, i) {
                Some(other) if other != i => {
                    let first = rules.get(other).map(|r| &r.meta);
                    return Err(LoadError {
                        file: rule.meta.file.clone(),
                        line: rule.meta.line,
                        column: 1,
                        code: "C0020",
                        message: format!(
                            "correlation `{}` uses the id or name `{handle}`, already used by \
                             `{}`{}",
                            rule.meta.title,
                            first.map_or("", |m| m.title.as_str()),
                            first.map_or(String::new(), |m| format!(
                                " ({}:{})",
                                m.file.display(),
                                m.line
                            )),
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(index)
}

/// `C0021` when correlations reference each other in a cycle (a rule listing itself
/// included), pointing at the reference that closes it.
fn check_cycles(rules: &[CorrelationRule], index: &HashMap<&str, usize>) -> Result<(), LoadError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; rules.len()];
    for root in 0..rules.len() {
        if marks.get(root) != Some(&Mark::New) {
            continue;
        }
        // Depth-first, iterative: (rule, next reference to look at).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        if let Some(m) = marks.get_mut(root) {
            *m = Mark::Open;
        }
        while let Some(&mut (r, ref mut next)) = path.last_mut() {
            let Some(reference) = rules.get(r).and_then(|rule| rule.rules.get(*next)) else {
                if let Some(m) = marks.get_mut(r) {
                    *m = Mark::Done;
                }
                path.pop();
                continue;
            };
            *next += 1;
            let Some(&c) = index.get(reference.reference.as_str()) else {
                continue;
            };
            match marks.get(c) {
                Some(Mark::Open) => return Err(cycle_error(rules, &path, c, r, reference)),
                Some(Mark::New) => {
                    if let Some(m) = marks.get_mut(c) {
                        *m = Mark::Open;
                    }
                    path.push((c, 0));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The error for a cycle closed by `reference` of rule `r` back to rule `c`.
fn cycle_error(
    rules: &[CorrelationRule],
    path: &[(usize, usize)],
    c: usize,
    r: usize,
    reference: &super::rule::RuleRef,
) -> LoadError {
    let from = path.iter().position(|&(p, _)| p == c).unwrap_or(0);
    let mut names: Vec<&str> = path
        .iter()
        .skip(from)
        .filter_map(|&(p, _)| rules.get(p).map(|rule| rule.meta.handle()))
        .collect();
    names.extend(rules.get(c).map(|rule| rule.meta.handle()));
    let file = rules
        .get(r)
        .map(|rule| rule.meta.file.clone())
        .unwrap_or_default();
    LoadError {
        file,
        line: reference.line,
        column: reference.column,
        code: "C0021",
        message: format!(
            "correlation rules reference each other in a cycle: {}",
            names.join(" -> ")
        ),
    }
}

/// Resolves the fields each listed position reads and the runtime spec.
fn compile(rule: CorrelationRule, alert: bool) -> Compiled {
    let resolve = |names: &[String]| -> Vec<Vec<String>> {
        rule.rules
            .iter()
            .map(|r| {
                names
                    .iter()
                    .map(|n| rule.resolve_field(&r.reference, n).to_string())
                    .collect()
            })
            .collect()
    };
    let group_fields = resolve(&rule.group_by);
    let value_fields = resolve(&rule.fields);
    let saturation = usize::try_from(rule.condition.saturation()).unwrap_or(usize::MAX);
    Compiled {
        spec: Spec {
            kind: rule.kind,
            span: rule.timespan_ms,
            condition: rule.condition.clone(),
            saturation,
            steps: rule.rules.len(),
        },
        meta: rule.meta,
        group_by: rule.group_by,
        group_fields,
        value_fields,
        alert,
    }
}
