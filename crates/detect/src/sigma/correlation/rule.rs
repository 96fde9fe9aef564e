//! The loaded form of one correlation rule: what it correlates, how, and its meta data.

use std::path::PathBuf;
use std::sync::Arc;

use midwatch_model::Severity;

/// The kind of aggregation a correlation performs over the matches of its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrelationType {
    /// Number of matches in the window (`event_count`).
    EventCount,
    /// Number of distinct values of `condition.field` in the window (`value_count`).
    ValueCount,
    /// Number of the referenced rules that matched in the window, in any order (`temporal`).
    Temporal,
    /// Number of the referenced rules that matched in the window in the listed order
    /// (`temporal_ordered`): the length of the longest ordered prefix.
    TemporalOrdered,
}

impl CorrelationType {
    /// The Sigma spelling of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// A comparison of a correlation condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `gt`: greater than.
    Gt,
    /// `gte`: greater than or equal.
    Gte,
    /// `lt`: less than.
    Lt,
    /// `lte`: less than or equal.
    Lte,
    /// `eq`: equal.
    Eq,
    /// `neq`: different.
    Neq,
}

impl CompareOp {
    /// The operator for a Sigma condition key, if it is one.
    pub fn from_key(key: &str) -> Option<CompareOp> {
        Some(match key {
            "gt" => CompareOp::Gt,
            "gte" => CompareOp::Gte,
            "lt" => CompareOp::Lt,
            "lte" => CompareOp::Lte,
            "eq" => CompareOp::Eq,
            "neq" => CompareOp::Neq,
            _ => return None,
        })
    }

    /// Whether `value` compares to `bound` as this operator asks.
    pub fn holds(self, value: u64, bound: u64) -> bool {
        match self {
            CompareOp::Gt => value > bound,
            CompareOp::Gte => value >= bound,
            CompareOp::Lt => value < bound,
            CompareOp::Lte => value <= bound,
            CompareOp::Eq => value == bound,
            CompareOp::Neq => value != bound,
        }
    }
}

/// A correlation condition: comparisons that must all hold (a range is `gt` plus `lte`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    bounds: Vec<(CompareOp, u64)>,
}

impl Condition {
    /// A condition from its comparisons, all of which must hold.
    pub fn new(bounds: Vec<(CompareOp, u64)>) -> Condition {
        Condition { bounds }
    }

    /// The comparisons.
    pub fn bounds(&self) -> &[(CompareOp, u64)] {
        &self.bounds
    }

    /// Whether a count satisfies every comparison.
    pub fn holds(&self, count: u64) -> bool {
        self.bounds
            .iter()
            .all(|&(op, bound)| op.holds(count, bound))
    }

    /// The count from which on the answer of [`Condition::holds`] no longer changes (the
    /// largest bound plus one): counting further than this is never needed.
    pub fn saturation(&self) -> u64 {
        self.bounds
            .iter()
            .map(|&(_, bound)| bound.saturating_add(1))
            .max()
            .unwrap_or(1)
    }

    /// Whether some count of one or more satisfies the condition (a condition that never
    /// holds, such as `gt: 5` with `lt: 3`, is a mistake in the rule).
    pub fn satisfiable(&self) -> bool {
        (1..=self.saturation()).any(|n| self.holds(n))
    }
}

/// A reference to another rule in a correlation's `rules` list, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// The id or name of a Sigma rule or of another correlation rule.
    pub reference: String,
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column of the reference.
    pub column: usize,
}

/// A field name alias: the alias names field `field` in the matches of rule `rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAlias {
    /// The alias, as used in `group-by` (or in `condition.field`).
    pub alias: String,
    /// `(rule reference as listed in rules, field name in that rule's matches)`.
    pub fields: Vec<(String, String)>,
}

impl FieldAlias {
    /// The field this alias stands for in the matches of the rule listed as `rule`.
    pub fn field_for(&self, rule: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(r, _)| r == rule)
            .map(|(_, field)| field.as_str())
    }
}

/// What an alert raised by a correlation says about it: the meta data of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationMeta {
    /// Sigma `id`.
    pub id: Option<String>,
    /// Sigma `name`: the handle other correlations may refer to it by.
    pub name: Option<String>,
    /// Sigma `title`.
    pub title: String,
    /// Sigma `level`, as a severity.
    pub level: Option<Severity>,
    /// Sigma `tags` (e.g. `attack.t1110`).
    pub tags: Vec<String>,
    /// Sigma `references`.
    pub references: Vec<String>,
    /// Sigma `description`.
    pub description: Option<String>,
    /// Sigma `falsepositives`.
    pub falsepositives: Vec<String>,
    /// Sigma `taxonomy` (field naming), when not the default.
    pub taxonomy: Option<String>,
    /// File the rule came from.
    pub file: PathBuf,
    /// 1-based line where the rule's document starts.
    pub line: usize,
}

impl CorrelationMeta {
    /// The id if the rule has one, else its name, else its title: how to name it in messages.
    pub fn handle(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }
}

/// One parsed Sigma correlation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationRule {
    /// Meta data, shared with every match of the rule.
    pub meta: Arc<CorrelationMeta>,
    /// The aggregation.
    pub kind: CorrelationType,
    /// The correlated rules, in the listed order.
    pub rules: Vec<RuleRef>,
    /// Fields (or aliases) whose values separate the groups; empty: one group.
    pub group_by: Vec<String>,
    /// Length of the sliding window, in milliseconds.
    pub timespan_ms: i64,
    /// When the aggregate makes a match. For `temporal` types without a condition in the
    /// rule: all referenced rules (`gte: <number of rules>`).
    pub condition: Condition,
    /// `value_count`: the fields (or aliases) whose distinct value combinations are counted.
    pub fields: Vec<String>,
    /// Field name aliases.
    pub aliases: Vec<FieldAlias>,
    /// Whether the referenced rules also raise their own alerts (Sigma `generate`; default
    /// `false`: only the correlation does).
    pub generate: bool,
}

impl CorrelationRule {
    /// The field to read from a match of the rule listed as `rule` for `name`, a field name
    /// or an alias.
    pub fn resolve_field<'a>(&'a self, rule: &str, name: &'a str) -> &'a str {
        self.aliases
            .iter()
            .find(|a| a.alias == name)
            .and_then(|a| a.field_for(rule))
            .unwrap_or(name)
    }
}
