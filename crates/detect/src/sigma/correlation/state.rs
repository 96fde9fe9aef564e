//! The state of one (correlation rule, group) pair and how a match changes it.
//!
//! Every group keeps only what its window needs, in compact form:
//! - `event_count`: a sorted ring of timestamps, at most the condition's saturation long;
//! - `value_count`: `(value hash, last seen)` pairs, at most the saturation many;
//! - `temporal`: the newest match of each listed rule;
//! - `temporal_ordered`: the newest [`ORDERED_KEEP`] matches of each listed rule, each with
//!   the start of the best ordered chain that ends in it;
//!
//! plus, for the count types, the event ids of the first [`HEAD`] matches of the window (for
//! `value_count`, of the first that brought a new value).

use std::collections::VecDeque;
use std::mem::size_of;

use super::rule::{Condition, CorrelationType};

/// Most event ids one correlation match carries as evidence: the first ones and the last.
pub const EVIDENCE_MAX: usize = 8;

/// Matches whose ids a count group keeps as evidence (the earliest of its window).
pub const HEAD: usize = 3;

/// Matches per listed rule a `temporal_ordered` group keeps.
pub const ORDERED_KEEP: usize = 4;

/// "No chain reaches this match."
const NO_START: i64 = i64::MIN;

/// The event ids of one observation: one for a base match, the bounded chain of a
/// correlation match fed to a correlation that references it.
#[derive(Debug, Clone, Copy)]
pub enum Ids<'a> {
    /// A base rule match.
    One(&'a str),
    /// A correlation match.
    Many(&'a [String]),
}

impl Ids<'_> {
    /// The ids as owned, boxed strings, bounded to [`EVIDENCE_MAX`].
    fn boxed(self) -> Box<[Box<str>]> {
        match self {
            Ids::One(id) => Box::new([Box::from(id)]),
            Ids::Many(ids) => bounded(ids.iter().map(String::as_str)),
        }
    }
}

/// One match fed to a group.
#[derive(Clone, Copy)]
pub struct Obs<'a> {
    /// Event time, epoch ms.
    pub time: i64,
    /// Evidence ids.
    pub ids: Ids<'a>,
}

/// What a correlation rule asks of its groups.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Aggregation.
    pub kind: CorrelationType,
    /// Window length, ms.
    pub span: i64,
    /// When the aggregate matches.
    pub condition: Condition,
    /// Counts at and above this are equivalent for the condition.
    pub saturation: usize,
    /// Number of listed rules.
    pub steps: usize,
}

/// The evidence of one kept match.
#[derive(Debug, Clone)]
struct Ev {
    time: i64,
    ids: Box<[Box<str>]>,
}

impl Ev {
    fn new(obs: Obs<'_>) -> Ev {
        Ev {
            time: obs.time,
            ids: obs.ids.boxed(),
        }
    }

    fn heap_bytes(&self) -> usize {
        ids_bytes(&self.ids)
    }
}

/// One kept match of a `temporal_ordered` step.
#[derive(Debug, Clone)]
struct Rec {
    /// Position of the rule in the listed order.
    step: u16,
    time: i64,
    /// Start time of the latest-starting ordered chain of the earlier steps ending here.
    start: i64,
    /// Ids of this match.
    own: Box<[Box<str>]>,
    /// Ids of the chain before this match.
    chain: Box<[Box<str>]>,
}

impl Rec {
    fn heap_bytes(&self) -> usize {
        ids_bytes(&self.own) + ids_bytes(&self.chain)
    }
}

/// Aggregation state, one variant per correlation type.
#[derive(Debug, Clone)]
enum State {
    Count {
        times: VecDeque<i64>,
        head: Vec<Ev>,
    },
    Distinct {
        values: Vec<(u64, i64)>,
        head: Vec<Ev>,
    },
    Temporal {
        slots: Box<[Option<Ev>]>,
    },
    Ordered {
        /// Sorted by (step, time).
        recs: Vec<Rec>,
    },
}

/// What one match did to its group.
#[derive(Debug)]
pub enum Outcome {
    /// Older than the group's window: ignored.
    Late,
    /// Counted; the condition did not newly hold.
    Counted,
    /// The condition holds and did not at the previous match: a correlation match.
    Fired {
        /// The aggregate (count, distinct values, listed rules matched).
        value: u64,
        /// Ordered, bounded evidence ids.
        evidence: Vec<String>,
    },
}

/// The state of one (rule, group key).
#[derive(Debug, Clone)]
pub struct Group {
    /// Newest event time counted in this group; the window is `(watermark - span, watermark]`.
    pub watermark: i64,
    /// Index of the correlation rule.
    pub rule: u32,
    /// The condition held at the last match and has fired: silent until it stops holding.
    latched: bool,
    state: State,
}

impl Group {
    /// An empty group of a rule.
    pub fn new(rule: u32, spec: &Spec, time: i64) -> Group {
        let state = match spec.kind {
            CorrelationType::EventCount => State::Count {
                times: VecDeque::new(),
                head: Vec::new(),
            },
            CorrelationType::ValueCount => State::Distinct {
                values: Vec::new(),
                head: Vec::new(),
            },
            CorrelationType::Temporal => State::Temporal {
                slots: vec![None; spec.steps].into_boxed_slice(),
            },
            CorrelationType::TemporalOrdered => State::Ordered { recs: Vec::new() },
        };
        Group {
            watermark: time,
            rule,
            latched: false,
            state,
        }
    }

    /// Counts a match of listed rule `step` (with `value`, the hash of the counted field
    /// values for `value_count`) and says whether the correlation fires.
    ///
    /// The window is the `span` before the newest match of the group. A match older than
    /// that is [`Outcome::Late`] and changes nothing. After firing, the group is latched
    /// and fires again only after the condition stopped holding at some match, or after a
    /// whole window without matches: one match per burst.
    pub fn observe(&mut self, spec: &Spec, step: usize, value: u64, obs: Obs<'_>) -> Outcome {
        if obs.time <= self.watermark.saturating_sub(spec.span) {
            return Outcome::Late;
        }
        self.watermark = self.watermark.max(obs.time);
        let lo = self.watermark.saturating_sub(spec.span);
        self.prune(lo);
        if self.is_empty() {
            self.latched = false;
        }
        let kept = self.insert(spec, step, value, obs);
        let count = self.count(spec);
        if !spec.condition.holds(count) {
            self.latched = false;
            return Outcome::Counted;
        }
        if self.latched {
            return Outcome::Counted;
        }
        self.latched = true;
        Outcome::Fired {
            value: count,
            evidence: self.evidence(obs, kept),
        }
    }

    /// Whether nothing of the group is in its window any more at `now` (the group can go).
    pub fn expired(&self, spec: &Spec, now: i64) -> bool {
        self.watermark <= now.saturating_sub(spec.span)
    }

    /// Drops what is at or before `lo`, the exclusive start of the window.
    fn prune(&mut self, lo: i64) {
        match &mut self.state {
            State::Count { times, head } => {
                while times.front().is_some_and(|&t| t <= lo) {
                    times.pop_front();
                }
                head.retain(|e| e.time > lo);
            }
            State::Distinct { values, head } => {
                values.retain(|&(_, t)| t > lo);
                head.retain(|e| e.time > lo);
            }
            State::Temporal { slots } => {
                for slot in slots.iter_mut() {
                    if slot.as_ref().is_some_and(|e| e.time <= lo) {
                        *slot = None;
                    }
                }
            }
            State::Ordered { recs } => prune_ordered(recs, lo),
        }
    }

    /// Whether the window holds nothing.
    fn is_empty(&self) -> bool {
        match &self.state {
            State::Count { times, .. } => times.is_empty(),
            State::Distinct { values, .. } => values.is_empty(),
            State::Temporal { slots } => slots.iter().all(Option::is_none),
            State::Ordered { recs } => recs.is_empty(),
        }
    }

    /// Adds the match; true when it was kept as evidence.
    fn insert(&mut self, spec: &Spec, step: usize, value: u64, obs: Obs<'_>) -> bool {
        match &mut self.state {
            State::Count { times, head } => {
                insert_time(times, obs.time, spec.saturation);
                insert_head(head, obs)
            }
            State::Distinct { values, head } => {
                insert_value(values, value, obs.time, spec.saturation) && insert_head(head, obs)
            }
            State::Temporal { slots } => match slots.get_mut(step) {
                Some(slot) if slot.as_ref().is_none_or(|e| e.time <= obs.time) => {
                    *slot = Some(Ev::new(obs));
                    true
                }
                _ => false,
            },
            State::Ordered { recs } => insert_ordered(recs, spec.steps, step, obs),
        }
    }

    /// The aggregate over the window.
    fn count(&self, spec: &Spec) -> u64 {
        let steps = spec.steps;
        let n = match &self.state {
            State::Count { times, .. } => times.len(),
            State::Distinct { values, .. } => values.len(),
            State::Temporal { slots } => slots.iter().flatten().count(),
            State::Ordered { recs } => ordered_prefix(recs, steps),
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The evidence of a firing: ids in time order, bounded.
    fn evidence(&self, obs: Obs<'_>, kept: bool) -> Vec<String> {
        let trigger = obs.ids.boxed();
        let mut items: Vec<(i64, &[Box<str>])> = Vec::new();
        match &self.state {
            State::Count { head, .. } | State::Distinct { head, .. } => {
                items.extend(head.iter().map(|e| (e.time, &e.ids[..])));
                if !kept {
                    items.push((obs.time, &trigger[..]));
                }
            }
            State::Temporal { slots } => {
                items.extend(slots.iter().flatten().map(|e| (e.time, &e.ids[..])));
            }
            State::Ordered { recs } => {
                if let Some(rec) = best_chain_end(recs) {
                    items.push((rec.time, &rec.chain[..]));
                    items.push((rec.time, &rec.own[..]));
                }
            }
        }
        items.sort_by_key(|&(t, _)| t);
        bounded(items.iter().flat_map(|(_, ids)| ids.iter().map(|id| &**id)))
            .iter()
            .map(|id| id.to_string())
            .collect()
    }

    /// Bytes this group holds on the heap (its inline size is counted with the map slot).
    pub fn heap_bytes(&self) -> usize {
        match &self.state {
            State::Count { times, head } => {
                times.capacity() * size_of::<i64>() + head_bytes(head.capacity(), head)
            }
            State::Distinct { values, head } => {
                values.capacity() * size_of::<(u64, i64)>() + head_bytes(head.capacity(), head)
            }
            State::Temporal { slots } => {
                std::mem::size_of_val(&**slots)
                    + slots.iter().flatten().map(Ev::heap_bytes).sum::<usize>()
            }
            State::Ordered { recs } => {
                recs.capacity() * size_of::<Rec>() + recs.iter().map(Rec::heap_bytes).sum::<usize>()
            }
        }
    }
}

/// Inserts a timestamp in order, keeping at most `cap` (the newest).
fn insert_time(times: &mut VecDeque<i64>, time: i64, cap: usize) {
    let at = times.partition_point(|&t| t <= time);
    if times.len() >= cap && at == 0 {
        return; // older than every kept timestamp of a saturated ring
    }
    reserve_small(times.len(), times.capacity(), |n| times.reserve_exact(n));
    times.insert(at, time);
    while times.len() > cap {
        times.pop_front();
    }
}

/// Counts a distinct value seen at `time`, keeping at most `cap` values (the most recently
/// seen: they stay in the window longest). True when the value was not in the window.
fn insert_value(values: &mut Vec<(u64, i64)>, value: u64, time: i64, cap: usize) -> bool {
    if let Some(entry) = values.iter_mut().find(|(v, _)| *v == value) {
        entry.1 = entry.1.max(time);
        return false;
    }
    if values.len() < cap {
        reserve_small(values.len(), values.capacity(), |n| values.reserve_exact(n));
        values.push((value, time));
        return true;
    }
    let oldest = values.iter_mut().min_by_key(|(_, t)| *t);
    match oldest.filter(|(_, t)| *t < time) {
        Some(entry) => {
            *entry = (value, time);
            true
        }
        None => false,
    }
}

/// Keeps the match as evidence if it is among the [`HEAD`] earliest of the window.
fn insert_head(head: &mut Vec<Ev>, obs: Obs<'_>) -> bool {
    let at = head.partition_point(|e| e.time <= obs.time);
    if at >= HEAD {
        return false;
    }
    reserve_small(head.len(), head.capacity(), |n| head.reserve_exact(n));
    head.insert(at, Ev::new(obs));
    head.truncate(HEAD);
    true
}

/// Grows a small collection by doubling from one, so that groups with one or two entries
/// do not pay for the default minimum capacity.
fn reserve_small(len: usize, capacity: usize, reserve_exact: impl FnOnce(usize)) {
    if len == capacity {
        reserve_exact(len.max(1));
    }
}

/// Drops ordered matches at or before `lo` and chains that started there.
fn prune_ordered(recs: &mut Vec<Rec>, lo: i64) {
    recs.retain(|r| r.time > lo);
    for rec in recs.iter_mut() {
        if rec.step == 0 {
            rec.start = rec.time; // the first listed rule starts its own chain
        } else if rec.start != NO_START && rec.start <= lo {
            rec.start = NO_START;
            rec.chain = Box::new([]);
        }
    }
}

/// The index range of the matches of one step in `recs`.
fn step_range(recs: &[Rec], step: u16) -> (usize, usize) {
    (
        recs.partition_point(|r| r.step < step),
        recs.partition_point(|r| r.step <= step),
    )
}

/// Inserts a match of step `step` in time order, keeping the newest [`ORDERED_KEEP`] of
/// that step, then recomputes the chains. True when the match was kept.
fn insert_ordered(recs: &mut Vec<Rec>, steps: usize, step: usize, obs: Obs<'_>) -> bool {
    let Ok(step) = u16::try_from(step) else {
        return false;
    };
    let (from, to) = step_range(recs, step);
    let at = from
        + recs
            .get(from..to)
            .map_or(0, |r| r.partition_point(|r| r.time <= obs.time));
    if to - from >= ORDERED_KEEP && at == from {
        return false; // older than every kept match of a full step
    }
    reserve_small(recs.len(), recs.capacity(), |n| recs.reserve_exact(n));
    recs.insert(
        at,
        Rec {
            step,
            time: obs.time,
            start: if step == 0 { obs.time } else { NO_START },
            own: obs.ids.boxed(),
            chain: Box::new([]),
        },
    );
    if to + 1 - from > ORDERED_KEEP {
        recs.remove(from);
    }
    link_chains(recs, steps);
    true
}

/// For every kept match of step `s > 0`, the latest-starting chain through step `s - 1`
/// that ends at or before it. A start once found is kept even if the match it came from
/// was dropped since (it was real), so matches arriving in time order are chained exactly.
fn link_chains(recs: &mut [Rec], steps: usize) {
    for s in 1..u16::try_from(steps).unwrap_or(u16::MAX) {
        let (prev_from, prev_to) = step_range(recs, s - 1);
        let (from, to) = step_range(recs, s);
        for i in from..to {
            let Some(time) = recs.get(i).map(|r| r.time) else {
                continue;
            };
            let best = (prev_from..prev_to)
                .filter_map(|j| recs.get(j))
                .filter(|p| p.start != NO_START && p.time <= time)
                .max_by_key(|p| p.start);
            let Some(improved) = best.filter(|p| recs.get(i).is_some_and(|r| p.start > r.start))
            else {
                continue;
            };
            let start = improved.start;
            let chain = bounded(
                improved
                    .chain
                    .iter()
                    .chain(improved.own.iter())
                    .map(|id| &**id),
            );
            if let Some(rec) = recs.get_mut(i) {
                rec.start = start;
                rec.chain = chain;
            }
        }
    }
}

/// Length of the longest ordered prefix of the listed rules matched in the window.
fn ordered_prefix(recs: &[Rec], steps: usize) -> usize {
    (0..steps)
        .take_while(|&s| {
            recs.iter()
                .any(|r| usize::from(r.step) == s && r.start != NO_START)
        })
        .count()
}

/// The match ending the longest ordered chain (the latest-starting one at that step).
fn best_chain_end(recs: &[Rec]) -> Option<&Rec> {
    let last_step = recs
        .iter()
        .filter(|r| r.start != NO_START)
        .map(|r| r.step)
        .max()?;
    recs.iter()
        .filter(|r| r.step == last_step && r.start != NO_START)
        .max_by_key(|r| (r.start, std::cmp::Reverse(r.time)))
}

/// Ids bounded to [`EVIDENCE_MAX`]: the first ones and the last.
fn bounded<'a>(ids: impl Iterator<Item = &'a str>) -> Box<[Box<str>]> {
    let all: Vec<&str> = ids.collect();
    if all.len() <= EVIDENCE_MAX {
        return all.into_iter().map(Box::from).collect();
    }
    let last = all.last().copied();
    all.iter()
        .take(EVIDENCE_MAX - 1)
        .copied()
        .chain(last)
        .map(Box::from)
        .collect()
}

/// Heap bytes of a boxed id list.
fn ids_bytes(ids: &[Box<str>]) -> usize {
    std::mem::size_of_val(ids) + ids.iter().map(|id| id.len()).sum::<usize>()
}

/// Heap bytes of an evidence head.
fn head_bytes(capacity: usize, head: &[Ev]) -> usize {
    capacity * size_of::<Ev>() + head.iter().map(Ev::heap_bytes).sum::<usize>()
}
