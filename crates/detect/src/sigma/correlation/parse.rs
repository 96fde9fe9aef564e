//! YAML to [`CorrelationRule`]: every check that can be made on one document alone, each
//! failure a [`LoadError`] pointing at the offending node.

use std::path::Path;
use std::sync::Arc;

use midwatch_model::Severity;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::rule::{
    CompareOp, Condition, CorrelationMeta, CorrelationRule, CorrelationType, FieldAlias, RuleRef,
};
use crate::sigma::LoadError;

/// Largest count a condition may compare with. Count state grows with the threshold (one
/// timestamp or value hash per unit), so this bounds the state of one group.
pub const MAX_THRESHOLD: u64 = 10_000;

/// Deepest block nesting a text may have, measured as the indentation plus `- `/`? `
/// markers that open a line. The YAML loader recurses per level and would overflow the
/// stack on a few thousand; rules need about ten. (Flow collections are limited to 255
/// levels by the loader itself.)
pub const MAX_NESTING: usize = 128;

/// Longest title the specification allows, in characters.
const MAX_TITLE: usize = 256;

/// Keys the `correlation` section may hold. Anything else is most likely a typo
/// (`groupby`, `time_span`) that would silently change what the rule means.
const CORRELATION_KEYS: &[&str] = &[
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "aliases",
    "generate",
];

/// Parses one YAML document holding a correlation rule.
///
/// # Errors
/// A [`LoadError`] naming the file, the line and column of the offending node and a code
/// from the table in the [module documentation](super).
pub fn parse(doc: &MarkedYaml<'_>, file: &Path) -> Result<CorrelationRule, LoadError> {
    Parser { file }.rule(doc)
}

/// Parses every document of a multi-document YAML text that has a `correlation` key;
/// documents without one (single-event rules, filters) are skipped.
///
/// Text that is not valid YAML, or nests deeper than [`MAX_NESTING`], gives a single
/// `C0001` error.
pub fn parse_str(text: &str, file: &Path) -> Vec<Result<CorrelationRule, LoadError>> {
    if let Err(e) = check_nesting(text, file) {
        return vec![Err(e)];
    }
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => {
            return vec![Err(LoadError {
                file: file.to_path_buf(),
                line: e.marker().line(),
                column: e.marker().col() + 1,
                code: "C0001",
                message: format!("not valid YAML: {}", e.info()),
            })];
        }
    };
    docs.iter()
        .filter(|doc| get(doc, "correlation").is_some())
        .map(|doc| parse(doc, file))
        .collect()
}

/// `C0001` when a line opens deeper than [`MAX_NESTING`] levels of block nesting.
pub(crate) fn check_nesting(text: &str, file: &Path) -> Result<(), LoadError> {
    for (n, line) in text.lines().enumerate() {
        let depth = block_prefix(line);
        if depth > MAX_NESTING {
            return Err(LoadError {
                file: file.to_path_buf(),
                line: n + 1,
                column: depth + 1,
                code: "C0001",
                message: format!("nested deeper than {MAX_NESTING} levels"),
            });
        }
    }
    Ok(())
}

/// Columns of indentation and of `- ` / `? ` markers at the start of a line: an upper
/// bound of the nesting levels the line opens (a run like `-----` stops it).
fn block_prefix(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        let marker = matches!(b, b'-' | b'?')
            && bytes
                .get(at + 1)
                .is_none_or(|&next| next == b' ' || next == b'\t');
        if b == b' ' || b == b'\t' || marker {
            at += 1;
        } else {
            break;
        }
    }
    at
}

/// The value under `key` in a mapping node.
fn get<'a, 'i>(node: &'a MarkedYaml<'i>, key: &str) -> Option<&'a MarkedYaml<'i>> {
    match &untag(node).data {
        YamlData::Mapping(map) => map
            .iter()
            .find(|(k, _)| scalar_str(k).as_deref() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// A node without its tag (`!custom value` is read as `value`).
fn untag<'a, 'i>(node: &'a MarkedYaml<'i>) -> &'a MarkedYaml<'i> {
    match &node.data {
        YamlData::Tagged(_, inner) => untag(inner),
        _ => node,
    }
}

/// The scalar of a node, resolving a lazily kept representation.
fn scalar<'i>(node: &MarkedYaml<'i>) -> Option<Scalar<'i>> {
    match &untag(node).data {
        YamlData::Value(s) => Some(s.clone()),
        YamlData::Representation(text, style, tag) => {
            Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref())
        }
        _ => None,
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written.
fn scalar_str(node: &MarkedYaml<'_>) -> Option<String> {
    match scalar(node)? {
        Scalar::String(s) => Some(s.into_owned()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::FloatingPoint(f) => Some(f.to_string()),
        Scalar::Boolean(b) => Some(b.to_string()),
        Scalar::Null => None,
    }
}

/// What kind of node this is, for messages.
fn kind_of(node: &MarkedYaml<'_>) -> &'static str {
    match &untag(node).data {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Alias(_) => "an alias",
        YamlData::BadValue => "an invalid value",
        _ => match scalar(node) {
            Some(Scalar::String(_)) => "a string",
            Some(Scalar::Integer(_)) => "an integer",
            Some(Scalar::FloatingPoint(_)) => "a number",
            Some(Scalar::Boolean(_)) => "a boolean",
            Some(Scalar::Null) | None => "empty",
        },
    }
}

/// Reads one document, knowing which file it came from.
struct Parser<'f> {
    file: &'f Path,
}

impl Parser<'_> {
    /// An error at `node`.
    fn err(&self, node: &MarkedYaml<'_>, code: &'static str, message: String) -> LoadError {
        LoadError {
            file: self.file.to_path_buf(),
            line: node.span.start.line(),
            column: node.span.start.col() + 1,
            code,
            message,
        }
    }

    /// The whole document.
    fn rule(&self, doc: &MarkedYaml<'_>) -> Result<CorrelationRule, LoadError> {
        self.mapping(doc, "the rule document")?;
        let section = self.required(doc, "correlation")?;
        self.mapping(section, "`correlation`")?;
        self.no_unknown_keys(section)?;

        let meta = self.meta(doc)?;
        let kind = self.kind(section)?;
        let rules = self.rules(section)?;
        let group_by = match get(section, "group-by") {
            Some(node) => self.group_by(node)?,
            None => Vec::new(),
        };
        let timespan_ms = self.timespan(self.required(section, "timespan")?)?;
        let (condition, fields) = self.condition(section, kind, rules.len())?;
        let aliases = match get(section, "aliases") {
            Some(node) => self.aliases(node, &rules)?,
            None => Vec::new(),
        };
        let generate = self.generate(doc, section)?;
        Ok(CorrelationRule {
            meta: Arc::new(meta),
            kind,
            rules,
            group_by,
            timespan_ms,
            condition,
            fields,
            aliases,
            generate,
        })
    }

    /// The entries of a mapping node, or C0002.
    fn mapping<'a, 'i>(
        &self,
        node: &'a MarkedYaml<'i>,
        what: &str,
    ) -> Result<Vec<(&'a MarkedYaml<'i>, &'a MarkedYaml<'i>)>, LoadError> {
        match &untag(node).data {
            YamlData::Mapping(map) => Ok(map.iter().collect()),
            _ => Err(self.err(
                node,
                "C0002",
                format!("{what} must be a mapping, found {}", kind_of(node)),
            )),
        }
    }

    /// `parent[key]`, or C0003 pointing at the parent.
    fn required<'a, 'i>(
        &self,
        parent: &'a MarkedYaml<'i>,
        key: &str,
    ) -> Result<&'a MarkedYaml<'i>, LoadError> {
        get(parent, key)
            .ok_or_else(|| self.err(parent, "C0003", format!("missing required key `{key}`")))
    }

    /// C0012 for a key the correlation section does not know.
    fn no_unknown_keys(&self, section: &MarkedYaml<'_>) -> Result<(), LoadError> {
        for (key, _) in self.mapping(section, "`correlation`")? {
            let name = scalar_str(key).unwrap_or_default();
            if !CORRELATION_KEYS.contains(&name.as_str()) {
                return Err(self.err(
                    key,
                    "C0012",
                    format!(
                        "unknown key `{name}` in `correlation` (known: {})",
                        CORRELATION_KEYS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A string node, or C0004.
    fn string(&self, node: &MarkedYaml<'_>, what: &str) -> Result<String, LoadError> {
        match scalar(node) {
            Some(Scalar::String(s)) => Ok(s.into_owned()),
            _ => Err(self.err(
                node,
                "C0004",
                format!("{what} must be a string, found {}", kind_of(node)),
            )),
        }
    }

    /// An optional string under `key`.
    fn opt_string(&self, parent: &MarkedYaml<'_>, key: &str) -> Result<Option<String>, LoadError> {
        get(parent, key)
            .map(|node| self.string(node, &format!("`{key}`")))
            .transpose()
    }

    /// A list of strings under `key`; a single string is a list of one.
    fn strings(&self, parent: &MarkedYaml<'_>, key: &str) -> Result<Vec<String>, LoadError> {
        let Some(node) = get(parent, key) else {
            return Ok(Vec::new());
        };
        match &untag(node).data {
            YamlData::Sequence(items) => items
                .iter()
                .map(|item| self.string(item, &format!("an entry of `{key}`")))
                .collect(),
            _ => Ok(vec![
                self.string(node, &format!("`{key}` (a list of strings)"))?,
            ]),
        }
    }

    /// Title, id, name, level and the descriptive lists.
    fn meta(&self, doc: &MarkedYaml<'_>) -> Result<CorrelationMeta, LoadError> {
        let title_node = self.required(doc, "title")?;
        let title = self.string(title_node, "`title`")?;
        if title.trim().is_empty() || title.chars().count() > MAX_TITLE {
            return Err(self.err(
                title_node,
                "C0016",
                format!("`title` must have 1 to {MAX_TITLE} characters"),
            ));
        }
        Ok(CorrelationMeta {
            id: self.opt_string(doc, "id")?,
            name: self.opt_string(doc, "name")?,
            title,
            level: get(doc, "level").map(|n| self.level(n)).transpose()?,
            tags: self.strings(doc, "tags")?,
            references: self.strings(doc, "references")?,
            description: self.opt_string(doc, "description")?,
            falsepositives: self.strings(doc, "falsepositives")?,
            taxonomy: self.opt_string(doc, "taxonomy")?,
            file: self.file.to_path_buf(),
            line: doc.span.start.line(),
        })
    }

    /// Sigma `level` to a severity.
    fn level(&self, node: &MarkedYaml<'_>) -> Result<Severity, LoadError> {
        let text = self.string(node, "`level`")?;
        Ok(match text.as_str() {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => {
                return Err(self.err(
                    node,
                    "C0013",
                    format!("unknown level `{text}` (informational, low, medium, high, critical)"),
                ));
            }
        })
    }

    /// `correlation.type`.
    fn kind(&self, section: &MarkedYaml<'_>) -> Result<CorrelationType, LoadError> {
        let node = self.required(section, "type")?;
        let text = self.string(node, "`type`")?;
        match text.as_str() {
            "event_count" => Ok(CorrelationType::EventCount),
            "value_count" => Ok(CorrelationType::ValueCount),
            "temporal" => Ok(CorrelationType::Temporal),
            "temporal_ordered" => Ok(CorrelationType::TemporalOrdered),
            "value_sum" | "value_avg" | "value_percentile" => Err(self.err(
                node,
                "C0006",
                format!(
                    "correlation type `{text}` is not supported (supported: event_count, \
                     value_count, temporal, temporal_ordered)"
                ),
            )),
            _ => Err(self.err(
                node,
                "C0005",
                format!(
                    "unknown correlation type `{text}` (event_count, value_count, temporal, \
                     temporal_ordered)"
                ),
            )),
        }
    }

    /// `correlation.rules`: a non-empty list of distinct references.
    fn rules(&self, section: &MarkedYaml<'_>) -> Result<Vec<RuleRef>, LoadError> {
        let node = self.required(section, "rules")?;
        let items: Vec<&MarkedYaml<'_>> = match &untag(node).data {
            YamlData::Sequence(items) => items.iter().collect(),
            _ => vec![node],
        };
        if items.is_empty() {
            return Err(self.err(node, "C0010", "`rules` is empty".into()));
        }
        let mut refs: Vec<RuleRef> = Vec::with_capacity(items.len());
        for item in items {
            let reference = self.reference(item)?;
            if refs.iter().any(|r| r.reference == reference) {
                return Err(self.err(
                    item,
                    "C0010",
                    format!("rule `{reference}` is listed twice in `rules`"),
                ));
            }
            refs.push(RuleRef {
                reference,
                line: item.span.start.line(),
                column: item.span.start.col() + 1,
            });
        }
        Ok(refs)
    }

    /// One entry of `rules`.
    fn reference(&self, item: &MarkedYaml<'_>) -> Result<String, LoadError> {
        let reference = self.string(item, "an entry of `rules`")?;
        if reference.trim().is_empty() {
            return Err(self.err(item, "C0010", "empty rule reference in `rules`".into()));
        }
        Ok(reference)
    }

    /// `correlation.group-by`: distinct non-empty field names.
    fn group_by(&self, node: &MarkedYaml<'_>) -> Result<Vec<String>, LoadError> {
        let items: Vec<&MarkedYaml<'_>> = match &untag(node).data {
            YamlData::Sequence(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut fields: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let field = self.string(item, "an entry of `group-by`")?;
            if field.is_empty() || fields.contains(&field) {
                return Err(self.err(
                    item,
                    "C0014",
                    format!("`group-by` field `{field}` is empty or listed twice"),
                ));
            }
            fields.push(field);
        }
        Ok(fields)
    }

    /// `correlation.timespan`: `<number><s|m|h|d>` to milliseconds.
    fn timespan(&self, node: &MarkedYaml<'_>) -> Result<i64, LoadError> {
        let text = scalar_str(node).unwrap_or_default();
        parse_timespan(&text).ok_or_else(|| {
            self.err(
                node,
                "C0007",
                format!(
                    "bad timespan `{text}`: a positive number and a unit, s, m, h or d \
                     (e.g. `90m`)"
                ),
            )
        })
    }

    /// `correlation.condition` with its `field`, checked against the correlation type.
    fn condition(
        &self,
        section: &MarkedYaml<'_>,
        kind: CorrelationType,
        rule_count: usize,
    ) -> Result<(Condition, Vec<String>), LoadError> {
        let temporal = matches!(
            kind,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        );
        let Some(node) = get(section, "condition") else {
            if temporal {
                let all = u64::try_from(rule_count).unwrap_or(u64::MAX);
                return Ok((Condition::new(vec![(CompareOp::Gte, all)]), Vec::new()));
            }
            return Err(self.err(section, "C0003", "missing required key `condition`".into()));
        };
        let mut bounds = Vec::new();
        let mut fields = Vec::new();
        let mut field_node = None;
        for (key, value) in self.mapping(node, "`condition`")? {
            let name = scalar_str(key).unwrap_or_default();
            if name == "field" {
                fields = self.condition_fields(value)?;
                field_node = Some(key);
                continue;
            }
            let Some(op) = CompareOp::from_key(&name) else {
                return Err(self.err(
                    key,
                    "C0008",
                    format!("unknown condition `{name}` (gt, gte, lt, lte, eq, neq, field)"),
                ));
            };
            bounds.push((op, self.bound(value, &name)?));
        }
        match (kind, field_node) {
            (CorrelationType::ValueCount, None) => {
                return Err(self.err(
                    node,
                    "C0009",
                    "value_count needs `field` in `condition`: the field whose distinct values \
                     are counted"
                        .into(),
                ));
            }
            (CorrelationType::ValueCount, Some(_)) | (_, None) => {}
            (_, Some(key)) => {
                return Err(self.err(
                    key,
                    "C0009",
                    format!(
                        "`field` in `condition` is only for value_count, not {}",
                        kind.as_str()
                    ),
                ));
            }
        }
        self.check_bounds(node, bounds, temporal.then_some(rule_count))
            .map(|condition| (condition, fields))
    }

    /// `condition.field`: one field name or a list of them.
    fn condition_fields(&self, value: &MarkedYaml<'_>) -> Result<Vec<String>, LoadError> {
        let fields = match &untag(value).data {
            YamlData::Sequence(items) => items
                .iter()
                .map(|i| self.string(i, "an entry of `condition.field`"))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![self.string(value, "`condition.field`")?],
        };
        if fields.is_empty() || fields.iter().any(String::is_empty) {
            return Err(self.err(value, "C0009", "`condition.field` names no field".into()));
        }
        Ok(fields)
    }

    /// One comparison value: an integer from 0 to [`MAX_THRESHOLD`].
    fn bound(&self, value: &MarkedYaml<'_>, op: &str) -> Result<u64, LoadError> {
        match scalar(value) {
            Some(Scalar::Integer(n)) if (0..=MAX_THRESHOLD as i64).contains(&n) => {
                Ok(n.unsigned_abs())
            }
            _ => Err(self.err(
                value,
                "C0008",
                format!(
                    "`{op}` needs an integer from 0 to {MAX_THRESHOLD}, found {}",
                    scalar_str(value).unwrap_or_else(|| kind_of(value).to_string())
                ),
            )),
        }
    }

    /// The comparisons must exist and be satisfiable by some count (for temporal types, by
    /// some number of the listed rules).
    fn check_bounds(
        &self,
        node: &MarkedYaml<'_>,
        bounds: Vec<(CompareOp, u64)>,
        rule_count: Option<usize>,
    ) -> Result<Condition, LoadError> {
        if bounds.is_empty() {
            return Err(self.err(
                node,
                "C0008",
                "`condition` has no comparison (gt, gte, lt, lte, eq or neq)".into(),
            ));
        }
        let condition = Condition::new(bounds);
        let satisfiable = match rule_count {
            Some(k) => (1..=u64::try_from(k).unwrap_or(u64::MAX)).any(|n| condition.holds(n)),
            None => condition.satisfiable(),
        };
        if !satisfiable {
            let limit = rule_count.map_or(String::new(), |k| format!(" with {k} rules"));
            return Err(self.err(node, "C0008", format!("`condition` can never hold{limit}")));
        }
        Ok(condition)
    }

    /// `correlation.aliases`: `alias: {rule: field}` where every rule is one of `rules`.
    fn aliases(
        &self,
        node: &MarkedYaml<'_>,
        rules: &[RuleRef],
    ) -> Result<Vec<FieldAlias>, LoadError> {
        let mut aliases = Vec::new();
        for (key, value) in self.mapping(node, "`aliases`")? {
            let alias = self.string(key, "an alias name")?;
            let entries = self.mapping(value, &format!("alias `{alias}`"))?;
            if entries.is_empty() {
                return Err(self.err(value, "C0011", format!("alias `{alias}` maps no rule")));
            }
            let mut fields = Vec::with_capacity(entries.len());
            for (rule_node, field_node) in entries {
                let rule = self.string(rule_node, "a rule name in an alias")?;
                if !rules.iter().any(|r| r.reference == rule) {
                    return Err(self.err(
                        rule_node,
                        "C0011",
                        format!("alias `{alias}` names rule `{rule}`, which is not in `rules`"),
                    ));
                }
                let field = self.string(field_node, &format!("the field of alias `{alias}`"))?;
                fields.push((rule, field));
            }
            aliases.push(FieldAlias { alias, fields });
        }
        Ok(aliases)
    }

    /// `generate`, at the top of the document (JSON schema) or in the correlation section
    /// (where some tools write it); both must agree.
    fn generate(&self, doc: &MarkedYaml<'_>, section: &MarkedYaml<'_>) -> Result<bool, LoadError> {
        let top = get(doc, "generate").map(|n| self.boolean(n)).transpose()?;
        let inner = get(section, "generate")
            .map(|n| self.boolean(n))
            .transpose()?;
        match (top, inner) {
            (Some(a), Some(b)) if a != b => Err(self.err(
                get(section, "generate").unwrap_or(section),
                "C0015",
                "`generate` is given twice with different values".into(),
            )),
            (a, b) => Ok(a.or(b).unwrap_or(false)),
        }
    }

    /// A boolean node, or C0004.
    fn boolean(&self, node: &MarkedYaml<'_>) -> Result<bool, LoadError> {
        match scalar(node) {
            Some(Scalar::Boolean(b)) => Ok(b),
            _ => Err(self.err(
                node,
                "C0004",
                format!("`generate` must be true or false, found {}", kind_of(node)),
            )),
        }
    }
}

/// `<digits><s|m|h|d>` to milliseconds; `None` when malformed, zero or too long for i64.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let unit_at = text.len().checked_sub(1)?;
    let (digits, unit) = (text.get(..unit_at)?, text.get(unit_at..)?);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per_unit: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    let n: i64 = digits.parse().ok()?;
    n.checked_mul(per_unit).filter(|ms| *ms > 0)
}
