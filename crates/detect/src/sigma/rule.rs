//! A loaded single-event rule: its metadata, its parsed detection and its compiled form.

use super::ast::Detection;
use super::compiled::Compiled;
use super::doc::Doc;
use super::logsource::FieldSpace;
use super::record::Record;
use midwatch_model::Severity;
use std::path::PathBuf;
use std::sync::Arc;

/// A rule's `logsource`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Logsource {
    /// `product` (lowercase as written).
    pub product: Option<String>,
    /// `service`.
    pub service: Option<String>,
    /// `category`.
    pub category: Option<String>,
    /// `definition`, for people.
    pub definition: Option<String>,
}

impl Logsource {
    /// Whether two logsources name the same product, service and category
    /// (case-insensitively; `definition` is ignored).
    pub fn same(&self, other: &Logsource) -> bool {
        let eq = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        eq(&self.product, &other.product)
            && eq(&self.service, &other.service)
            && eq(&self.category, &other.category)
    }
}

/// An example document shipped with a rule, and whether the rule must match it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// `true` under `examples: match:`, `false` under `examples: no_match:`.
    pub expect_match: bool,
    /// The document, in the rule's field space.
    pub doc: Doc,
    /// Line of the example in the rule file.
    pub line: usize,
}

/// What a rule says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    /// Sigma `id`.
    pub id: Option<String>,
    /// Sigma `name` (a unique name correlation rules may use instead of the id).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// `level`, as a severity; `medium` when the rule gives none.
    pub level: Severity,
    /// `status` (`stable`, `test`, `experimental`, `deprecated`, `unsupported`).
    pub status: Option<String>,
    /// `tags` (`attack.t1078`, …).
    pub tags: Vec<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `author`.
    pub author: Option<String>,
    /// `fields`: what an analyst should look at.
    pub fields: Vec<String>,
    /// `logsource`.
    pub logsource: Logsource,
    /// The file the rule came from.
    pub file: PathBuf,
    /// Line of the document's first key in that file.
    pub line: usize,
    /// `examples`.
    pub examples: Vec<Example>,
}

impl RuleMeta {
    /// How to name the rule: its id, else its name, else its title.
    pub fn key(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }
}

/// A loaded, compiled single-event rule. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Rule {
    /// What the rule says about itself.
    pub meta: Arc<RuleMeta>,
    /// The parsed detection (the rule's meaning, for tooling).
    pub detection: Arc<Detection>,
    pub(crate) compiled: Arc<Compiled>,
    pub(crate) space: FieldSpace,
}

impl Rule {
    /// Whether the rule matches `record` (no dispatch, no prefilter: the rule alone).
    pub fn is_match(&self, record: &dyn Record) -> bool {
        self.compiled.eval(record)
    }

    /// The records the rule applies to.
    pub fn field_space(&self) -> &FieldSpace {
        &self.space
    }
}
