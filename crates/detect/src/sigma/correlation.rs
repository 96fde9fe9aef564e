//! Sigma correlation rules: loading them and evaluating them over a stream of base-rule
//! matches in event time.
//!
//! A correlation rule (Sigma correlation specification 2.1) aggregates the matches of other
//! rules — single-event Sigma rules or other correlations — per group of field values over a
//! sliding window. [`parse`] / [`parse_str`] load rules; a [`Correlator`] evaluates a set of
//! them: it is fed [`BaseMatch`]es and answers [`CorrelationMatch`]es.
//!
//! ```
//! use std::path::Path;
//! use midwatch_detect::sigma::correlation::{parse_str, BaseMatch, Correlator};
//!
//! let yaml = "
//! title: MFA fatigue
//! level: high
//! correlation:
//!   type: event_count
//!   rules: [mfa_push_denied]
//!   group-by: [user]
//!   timespan: 10m
//!   condition: {gte: 3}
//! ";
//! let rules = parse_str(yaml, Path::new("mfa.yml"))
//!     .into_iter()
//!     .collect::<Result<Vec<_>, _>>()?;
//! let mut correlator = Correlator::new(rules)?;
//! let fields = |name: &str| (name == "user").then(|| "alice".to_string());
//! let mut out = Vec::new();
//! for (i, t) in [0, 60_000, 120_000].into_iter().enumerate() {
//!     let event_id = format!("evt-{i}");
//!     let m = BaseMatch {
//!         rule_id: "mfa_push_denied",
//!         rule_name: None,
//!         time_ms: t,
//!         event_id: &event_id,
//!         field: &fields,
//!     };
//!     correlator.observe(&m, &mut out);
//! }
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].event_ids, ["evt-0", "evt-1", "evt-2"]);
//! assert_eq!(out[0].group, [("user".to_string(), "alice".to_string())]);
//! # Ok::<(), midwatch_detect::sigma::LoadError>(())
//! ```
//!
//! # Supported
//! - Types `event_count`, `value_count` (`condition.field`, one field or several whose value
//!   combinations are counted), `temporal` and `temporal_ordered`. The extended types
//!   `value_sum`, `value_avg` and `value_percentile` are recognised and refused (`C0006`).
//! - `rules` by id or by name, of base rules or of other correlations (chaining: a
//!   correlation's match is fed as a match to the correlations that list it).
//! - `group-by` with `aliases` (the field each listed rule names the alias by; a rule the
//!   alias does not mention is read under the alias name itself). A missing `group-by` means
//!   one group for the whole stream. A match without a `group-by` field (or without the
//!   counted field of `value_count`) is not counted, as a query grouping by that field would
//!   drop it ([`CorrelationStats::unkeyed`]). A chained correlation match has as fields
//!   exactly the `group-by` fields of its rule.
//! - `timespan` as `<n>s`, `<n>m`, `<n>h`, `<n>d`.
//! - `condition` with `gt`, `gte`, `lt`, `lte`, `eq`, `neq`, all of which must hold.
//!   Temporal types without a condition need every listed rule. Values are integers up to
//!   [`MAX_THRESHOLD`].
//! - `generate` (top level, or inside `correlation`), default `false`: the listed rules do
//!   not raise alerts of their own ([`Correlator::standalone`], [`CorrelationMatch::alert`]).
//! - Meta data: `id`, `name`, `title`, `level`, `tags`, `references`, `description`,
//!   `falsepositives`, `taxonomy`. Other top-level keys (status, author, date…) are allowed
//!   and ignored; unknown keys inside `correlation` are errors, since a misspelt key would
//!   silently change the rule.
//!
//! # Windows, late matches and re-arming
//! Each group has its own window: the `timespan` that ends at the newest match counted in
//! the group, `(newest - timespan, newest]` (so, for matches arriving in event-time order,
//! the `timespan` before the current match; a match exactly `timespan` older is out). The
//! condition is checked after each match the group counts.
//! - A match that arrives out of order but falls inside its group's window is counted exactly
//!   as if it had arrived in order. A match older than the window is ignored
//!   ([`CorrelationStats::late`]); it never fails.
//! - **One match per burst.** When the condition starts to hold, the correlation fires once
//!   and the group is latched: further matches that keep the condition true are silent. The
//!   group re-arms when a match finds the condition false (say the count fell under the
//!   threshold as old matches slid out), or when a whole window passed without matches. An
//!   attack that keeps a group above its threshold for hours gives one match; one that pauses
//!   and starts again gives another. Upper bounds (`lt`, `lte`) are checked as matches
//!   arrive, like every condition, so they are useful in ranges with a lower bound.
//! - `temporal`: the newest match of each listed rule in the window counts; the aggregate is
//!   the number of listed rules matched. `temporal_ordered`: the aggregate is the length of
//!   the longest prefix of the listed rules matched in that order in event time (equal times
//!   count as ordered). Each listed rule keeps its newest [`ORDERED_KEEP`] matches with the
//!   best chain ending in each; for matches in time order the result is exact, a late match
//!   can miss a chain whose earlier part was one of more than that many matches.
//!
//! # Bounded state
//! Groups are keyed by a 64-bit hash of (rule, group values) with a per-correlator random
//! seed, so a group costs no strings; two groups of different values collide with
//! probability about 2⁻⁶⁴ per pair. Counts keep at most one timestamp per unit of the
//! largest threshold, distinct values one hash per unit, evidence at most [`HEAD`] matches
//! per count group and [`EVIDENCE_MAX`] ids per match. Groups whose window has passed are
//! dropped by [`Correlator::sweep`] (call it as event time advances). When the key cap
//! ([`DEFAULT_MAX_KEYS`], [`Correlator::with_max_keys`]) is reached, an eighth of the cap is
//! evicted, the groups whose windows end first ([`CorrelationStats::evictions`]). Time is
//! event time throughout and each group's window follows its own newest match: a match with
//! a far-future timestamp moves its own group's window (later matches of that group look
//! late), never another group's. Bounding event-time skew is the pipeline's job.
//!
//! # Error codes
//! | code  | meaning |
//! |-------|---------|
//! | C0001 | the text is not valid YAML, or nests deeper than [`MAX_NESTING`] levels ([`parse_str`]) |
//! | C0002 | the document or a section that must be a mapping is not one |
//! | C0003 | a required key is missing (`title`, `correlation`, `type`, `rules`, `timespan`, `condition` for count types) |
//! | C0004 | a value has the wrong type (string, list of strings, boolean) |
//! | C0005 | unknown correlation type |
//! | C0006 | correlation type not supported (`value_sum`, `value_avg`, `value_percentile`) |
//! | C0007 | bad `timespan` |
//! | C0008 | bad `condition`: unknown comparison, value not an integer from 0 to [`MAX_THRESHOLD`], no comparison, or one that can never hold |
//! | C0009 | `condition.field` missing for `value_count`, empty, or given for another type |
//! | C0010 | bad `rules`: empty, an empty reference, or a rule listed twice |
//! | C0011 | bad `aliases`: an alias mapping no rule, or naming a rule not in `rules` |
//! | C0012 | unknown key in the `correlation` section |
//! | C0013 | unknown `level` |
//! | C0014 | bad `group-by`: an empty field or a field listed twice |
//! | C0015 | `generate` given at the top and in `correlation` with different values |
//! | C0016 | `title` empty or longer than 256 characters |
//! | C0020 | two correlations of a set share an id or a name ([`Correlator::new`]) |
//! | C0021 | correlations reference each other in a cycle ([`Correlator::new`]) |

mod engine;
mod parse;
mod rule;
mod state;

pub use engine::{BaseMatch, CorrelationMatch, CorrelationStats, Correlator, DEFAULT_MAX_KEYS};
pub use parse::{MAX_NESTING, MAX_THRESHOLD, parse, parse_str, parse_timespan};
pub use rule::{
    CompareOp, Condition, CorrelationMeta, CorrelationRule, CorrelationType, FieldAlias, RuleRef,
};
pub use state::{EVIDENCE_MAX, HEAD, ORDERED_KEEP};
