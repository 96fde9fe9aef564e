//! Loading rule files: files and directories, multi-document files, rule collections,
//! filters, and the correlation documents set aside for the correlation engine.
//!
//! A load never stops at a bad rule: every problem becomes a [`LoadError`] in
//! [`LoadReport::unsupported`] and the other rules load. Directories are read recursively
//! in sorted order (`.yml` and `.yaml` files); a file given by name is read whatever its
//! extension. Documents of one file are separated by `---`:
//! - a document with a `correlation` key is a correlation rule: kept as it is, with its
//!   file and line, in [`LoadReport::correlation_docs`], and counted neither loaded nor
//!   unsupported;
//! - a document with a `filter` key (Sigma filters) adds `and not <filter condition>` to
//!   the rules it names (by `id` or `name`) that share its logsource;
//! - `action: global` makes a document's keys the defaults of the documents after it (until
//!   `action: reset`); `action: repeat` repeats the previous document with changes (Sigma
//!   rule collections);
//! - every other document is a single-event rule.

use super::ast::{self, Cond, Detection, Placeholders};
use super::compiled::{CTest, Compiled};
use super::doc::Doc;
use super::error::{LoadError, codes};
use super::logsource::{self, FieldSpace};
use super::midwatch;
use super::rule::{Example, Logsource, Rule, RuleMeta};
use super::yaml::{self, Ctx, Node, Pos};
use midwatch_model::Severity;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest rule file read.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Deepest directory nesting followed.
const MAX_DIR_DEPTH: usize = 32;

/// How to load rules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Values of `%placeholder%`s for values with the `expand` modifier: each placeholder
    /// stands for any of its values (which may use wildcards).
    pub placeholders: BTreeMap<String, Vec<String>>,
}

/// A correlation rule document, kept as it is for the correlation engine.
#[derive(Debug, Clone)]
pub struct CorrelationDoc {
    /// The file it came from.
    pub file: PathBuf,
    /// Line of its first key.
    pub line: usize,
    /// The document (positions are lines and columns of `file`).
    pub yaml: MarkedYaml<'static>,
    /// The whole text of the file.
    pub text: Arc<str>,
}

/// What a load found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Rules that loaded, in file order.
    pub rules: Vec<Rule>,
    /// Why the others did not.
    pub unsupported: Vec<LoadError>,
    /// Correlation documents, for the correlation engine.
    pub correlation_docs: Vec<CorrelationDoc>,
    /// Files read.
    pub files: usize,
    /// Filter documents applied.
    pub filters: usize,
}

/// A filter document, before it is applied.
#[derive(Debug)]
struct Filter {
    file: PathBuf,
    pos: Pos,
    title: String,
    logsource: Logsource,
    rules: Vec<String>,
    detection: Detection,
}

/// Load every rule file under `paths` (files or directories).
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> LoadReport {
    let mut report = LoadReport::default();
    let mut filters = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        collect(path, 0, true, &mut files, &mut report.unsupported);
    }
    for file in files {
        report.files += 1;
        match read(&file) {
            Ok(text) => load_text(&text, &file, opts, &mut report, &mut filters),
            Err(e) => report.unsupported.push(e),
        }
    }
    finish(&mut report, filters);
    report
}

/// Load the rules in `text`, reported as coming from `file`.
pub fn load_str(text: &str, file: impl AsRef<Path>, opts: &LoadOptions) -> LoadReport {
    let mut report = LoadReport {
        files: 1,
        ..LoadReport::default()
    };
    let mut filters = Vec::new();
    load_text(text, file.as_ref(), opts, &mut report, &mut filters);
    finish(&mut report, filters);
    report
}

fn io_error(path: &Path, message: String) -> LoadError {
    LoadError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        code: codes::IO,
        message,
    }
}

/// Rule files under `path`, sorted.
fn collect(
    path: &Path,
    depth: usize,
    named: bool,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<LoadError>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(io_error(path, format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_file() {
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"));
        if named || is_yaml {
            out.push(path.to_path_buf());
        }
        return;
    }
    if !meta.is_dir() {
        return;
    }
    if depth >= MAX_DIR_DEPTH {
        errors.push(io_error(
            path,
            format!("directories nested deeper than {MAX_DIR_DEPTH}"),
        ));
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            errors.push(io_error(path, format!("cannot read directory: {e}")));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        collect(&child, depth + 1, false, out, errors);
    }
}

fn read(path: &Path) -> Result<String, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(io_error(
            path,
            format!(
                "{} bytes is more than the {} a rule file may have",
                meta.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| io_error(path, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        io_error(path, format!("not UTF-8 (byte {at})"))
    })
}

fn load_text(
    text: &str,
    file: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
    filters: &mut Vec<Filter>,
) {
    let ctx = Ctx { file };
    if text.len() as u64 > MAX_FILE_BYTES {
        report.unsupported.push(io_error(
            file,
            format!(
                "{} bytes is more than the {} a rule file may have",
                text.len(),
                MAX_FILE_BYTES
            ),
        ));
        return;
    }
    let docs: Vec<MarkedYaml<'static>> = match MarkedYaml::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let m = e.marker();
            report.unsupported.push(LoadError {
                file: file.to_path_buf(),
                line: m.line(),
                column: m.col() + 1,
                code: codes::YAML,
                message: format!("YAML: {}", e.info()),
            });
            return;
        }
    };
    let shared: Arc<str> = Arc::from(text);
    let mut global: Option<Node> = None;
    let mut previous: Option<Node> = None;
    for doc in docs {
        if matches!(doc.data, YamlData::Value(Scalar::Null)) {
            continue;
        }
        let doc = match collection_step(ctx, doc, &mut global, &previous) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                report.unsupported.push(e);
                continue;
            }
        };
        previous = Some(doc.clone());
        let outcome = document(ctx, &doc, opts);
        match outcome {
            Ok(Outcome::Rule(rule)) => report.rules.push(*rule),
            Ok(Outcome::Correlation) => report.correlation_docs.push(CorrelationDoc {
                file: file.to_path_buf(),
                line: Pos::of(&doc).line,
                yaml: doc,
                text: shared.clone(),
            }),
            Ok(Outcome::Filter(f)) => filters.push(*f),
            Err(e) => report.unsupported.push(e),
        }
    }
}

/// Apply rule-collection actions: returns the document to load, or `None` when the
/// document only changed the collection state.
fn collection_step(
    ctx: Ctx<'_>,
    doc: Node,
    global: &mut Option<Node>,
    previous: &Option<Node>,
) -> Result<Option<Node>, LoadError> {
    let Some(action_node) = yaml::get(&doc, "action") else {
        return Ok(Some(match global {
            Some(g) => merge(g.clone(), doc),
            None => doc,
        }));
    };
    let pos = Pos::of(action_node);
    let action = yaml::text(action_node).unwrap_or_default();
    let rest = without_key(doc, "action");
    match action.as_str() {
        "global" => {
            *global = Some(rest);
            Ok(None)
        }
        "reset" => {
            *global = None;
            Ok(None)
        }
        "repeat" => match previous {
            Some(prev) => Ok(Some(merge(prev.clone(), rest))),
            None => Err(ctx.err(
                pos,
                codes::ACTION,
                "`action: repeat` with no document before it",
            )),
        },
        other => Err(ctx.err(
            pos,
            codes::ACTION,
            format!("unknown `action: {other}` (global, reset or repeat)"),
        )),
    }
}

/// `overlay` on top of `base`: mappings merge key by key, anything else is replaced.
fn merge(base: Node, overlay: Node) -> Node {
    match (base, overlay) {
        (
            MarkedYaml {
                data: YamlData::Mapping(mut b),
                span,
            },
            MarkedYaml {
                data: YamlData::Mapping(o),
                ..
            },
        ) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            MarkedYaml {
                data: YamlData::Mapping(b),
                span,
            }
        }
        (_, overlay) => overlay,
    }
}

fn without_key(doc: Node, key: &str) -> Node {
    match doc {
        MarkedYaml {
            data: YamlData::Mapping(map),
            span,
        } => MarkedYaml {
            data: YamlData::Mapping(
                map.into_iter()
                    .filter(|(k, _)| yaml::text(k).as_deref() != Some(key))
                    .collect(),
            ),
            span,
        },
        other => other,
    }
}

enum Outcome {
    Rule(Box<Rule>),
    Correlation,
    Filter(Box<Filter>),
}

fn document(ctx: Ctx<'_>, doc: &Node, opts: &LoadOptions) -> Result<Outcome, LoadError> {
    if yaml::entries(doc).is_none() {
        return Err(ctx.err(
            Pos::of(doc),
            codes::NOT_MAPPING,
            format!(
                "a rule document must be a mapping, found {}",
                yaml::kind(doc)
            ),
        ));
    }
    if yaml::get(doc, "correlation").is_some() {
        return Ok(Outcome::Correlation);
    }
    if yaml::get(doc, "filter").is_some() && yaml::get(doc, "detection").is_none() {
        return Ok(Outcome::Filter(Box::new(filter(
            ctx,
            doc,
            &opts.placeholders,
        )?)));
    }
    Ok(Outcome::Rule(Box::new(rule(ctx, doc, &opts.placeholders)?)))
}

fn title(ctx: Ctx<'_>, doc: &Node) -> Result<String, LoadError> {
    match yaml::get(doc, "title").map(|t| (t, yaml::text(t))) {
        Some((_, Some(t))) if !t.trim().is_empty() => Ok(t),
        Some((node, _)) => Err(ctx.err(Pos::of(node), codes::TITLE, "`title` must be text")),
        None => Err(ctx.err(Pos::of(doc), codes::TITLE, "the rule has no `title`")),
    }
}

/// An optional scalar attribute as text.
fn opt_text(ctx: Ctx<'_>, doc: &Node, key: &str) -> Result<Option<String>, LoadError> {
    match yaml::get(doc, key) {
        None => Ok(None),
        Some(n) if matches!(n.data, YamlData::Value(Scalar::Null)) => Ok(None),
        Some(n) => match yaml::text(n) {
            Some(t) => Ok(Some(t)),
            None => Err(ctx.err(
                Pos::of(n),
                codes::ATTRIBUTE,
                format!("`{key}` must be text, found {}", yaml::kind(n)),
            )),
        },
    }
}

/// An optional list of scalars (a single scalar counts as a list of one).
fn opt_list(ctx: Ctx<'_>, doc: &Node, key: &str) -> Result<Vec<String>, LoadError> {
    let Some(n) = yaml::get(doc, key) else {
        return Ok(Vec::new());
    };
    if matches!(n.data, YamlData::Value(Scalar::Null)) {
        return Ok(Vec::new());
    }
    let items: Vec<&Node> = match yaml::items(n) {
        Some(items) => items.iter().collect(),
        None => vec![n],
    };
    items
        .into_iter()
        .map(|item| {
            yaml::text(item).ok_or_else(|| {
                ctx.err(
                    Pos::of(item),
                    codes::ATTRIBUTE,
                    format!("`{key}` must be a list of text, found {}", yaml::kind(item)),
                )
            })
        })
        .collect()
}

fn level(ctx: Ctx<'_>, doc: &Node) -> Result<Severity, LoadError> {
    let Some(text) = opt_text(ctx, doc, "level")? else {
        return Ok(Severity::Medium);
    };
    match text.to_ascii_lowercase().as_str() {
        "informational" => Ok(Severity::Informational),
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        "critical" => Ok(Severity::Critical),
        _ => Err(ctx.err(
            yaml::get(doc, "level").map(Pos::of).unwrap_or_default(),
            codes::LEVEL,
            format!("unknown `level: {text}` (informational, low, medium, high or critical)"),
        )),
    }
}

fn status(ctx: Ctx<'_>, doc: &Node) -> Result<Option<String>, LoadError> {
    let Some(text) = opt_text(ctx, doc, "status")? else {
        return Ok(None);
    };
    const KNOWN: [&str; 5] = [
        "stable",
        "test",
        "experimental",
        "deprecated",
        "unsupported",
    ];
    if KNOWN.contains(&text.as_str()) {
        Ok(Some(text))
    } else {
        Err(ctx.err(
            yaml::get(doc, "status").map(Pos::of).unwrap_or_default(),
            codes::STATUS,
            format!("unknown `status: {text}` ({})", KNOWN.join(", ")),
        ))
    }
}

/// Positions of a logsource's `service` and `category` values, for errors.
#[derive(Debug, Clone, Copy, Default)]
struct LogsourcePos {
    service: Pos,
    category: Pos,
}

fn logsource(ctx: Ctx<'_>, doc: &Node) -> Result<(Logsource, LogsourcePos), LoadError> {
    let Some(node) = yaml::get(doc, "logsource") else {
        return Err(ctx.err(
            Pos::of(doc),
            codes::LOGSOURCE,
            "the rule has no `logsource`",
        ));
    };
    if yaml::entries(node).is_none() {
        return Err(ctx.err(
            Pos::of(node),
            codes::LOGSOURCE,
            format!("`logsource` must be a mapping, found {}", yaml::kind(node)),
        ));
    }
    let field = |key: &str| -> Result<Option<String>, LoadError> {
        match yaml::get(node, key) {
            None => Ok(None),
            Some(n) => match yaml::scalar(n) {
                Some(yaml::ScalarValue::Null) => Ok(None),
                Some(s) => Ok(s.text()),
                None => Err(ctx.err(
                    Pos::of(n),
                    codes::LOGSOURCE,
                    format!("`logsource.{key}` must be text, found {}", yaml::kind(n)),
                )),
            },
        }
    };
    Ok((
        Logsource {
            product: field("product")?,
            service: field("service")?,
            category: field("category")?,
            definition: field("definition")?,
        },
        LogsourcePos {
            service: yaml::get(node, "service").map_or(Pos::of(node), Pos::of),
            category: yaml::get(node, "category").map_or(Pos::of(node), Pos::of),
        },
    ))
}

fn examples(ctx: Ctx<'_>, doc: &Node) -> Result<Vec<Example>, LoadError> {
    let Some(node) = yaml::get(doc, "examples") else {
        return Ok(Vec::new());
    };
    let Some(entries) = yaml::entries(node) else {
        return Err(ctx.err(
            Pos::of(node),
            codes::EXAMPLES,
            "`examples` must be a mapping with `match` and `no_match` lists",
        ));
    };
    let mut out = Vec::new();
    for (key, list) in entries {
        let expect_match = match yaml::text(key).as_deref() {
            Some("match") => true,
            Some("no_match") => false,
            _ => {
                return Err(ctx.err(
                    Pos::of(key),
                    codes::EXAMPLES,
                    "`examples` takes `match` and `no_match` lists",
                ));
            }
        };
        let Some(items) = yaml::items(list) else {
            return Err(ctx.err(Pos::of(list), codes::EXAMPLES, "examples come as a list"));
        };
        for item in items {
            if yaml::entries(item).is_none() {
                return Err(ctx.err(
                    Pos::of(item),
                    codes::EXAMPLES,
                    format!("an example must be a mapping, found {}", yaml::kind(item)),
                ));
            }
            out.push(Example {
                expect_match,
                doc: Doc::from_yaml(item),
                line: Pos::of(item).line,
            });
        }
    }
    Ok(out)
}

fn detection(
    ctx: Ctx<'_>,
    doc: &Node,
    placeholders: &Placeholders,
) -> Result<Detection, LoadError> {
    match yaml::get(doc, "detection") {
        Some(node) => ast::parse_detection(ctx, node, placeholders),
        None => Err(ctx.err(
            Pos::of(doc),
            codes::DETECTION,
            "the rule has no `detection`",
        )),
    }
}

fn rule(ctx: Ctx<'_>, doc: &Node, placeholders: &Placeholders) -> Result<Rule, LoadError> {
    let title = title(ctx, doc)?;
    let (logsource, ls_pos) = logsource(ctx, doc)?;
    let meta = RuleMeta {
        id: opt_text(ctx, doc, "id")?,
        name: opt_text(ctx, doc, "name")?,
        title,
        description: opt_text(ctx, doc, "description")?,
        level: level(ctx, doc)?,
        status: status(ctx, doc)?,
        tags: opt_list(ctx, doc, "tags")?,
        references: opt_list(ctx, doc, "references")?,
        falsepositives: opt_list(ctx, doc, "falsepositives")?,
        author: opt_text(ctx, doc, "author")?,
        fields: opt_list(ctx, doc, "fields")?,
        logsource,
        file: ctx.file.to_path_buf(),
        line: Pos::of(doc).line,
        examples: examples(ctx, doc)?,
    };
    let detection = detection(ctx, doc, placeholders)?;
    build(ctx, Pos::of(doc), ls_pos, meta, detection)
}

/// Check the field space and compile.
fn build(
    ctx: Ctx<'_>,
    pos: Pos,
    ls_pos: LogsourcePos,
    meta: RuleMeta,
    detection: Detection,
) -> Result<Rule, LoadError> {
    let space = logsource::field_space(&meta.logsource);
    let mut scope = Vec::new();
    if space == FieldSpace::Midwatch {
        let s = logsource::midwatch_scope(ctx, ls_pos.service, ls_pos.category, &meta.logsource)?;
        check_midwatch_fields(ctx, &detection)?;
        if let Some(source) = s.source {
            scope.push(CTest::equals("metadata.log_name", &[source]));
        }
        if let Some(class) = s.class_uid {
            scope.push(CTest::equals("class_uid", &[class.to_string()]));
        }
    }
    let compiled = Compiled::new(&detection, scope)
        .map_err(|e| ctx.err(pos, codes::REGEX, format!("cannot compile: {e}")))?;
    Ok(Rule {
        meta: Arc::new(meta),
        detection: Arc::new(detection),
        compiled: Arc::new(compiled),
        space,
    })
}

fn check_midwatch_fields(ctx: Ctx<'_>, d: &Detection) -> Result<(), LoadError> {
    for item in d
        .searches
        .iter()
        .flat_map(|s| s.alternatives.iter().flatten())
    {
        let mut names: Vec<&str> = item.field.as_deref().into_iter().collect();
        if let ast::Test::FieldRef { fields, .. } = &item.test {
            names.extend(fields.iter().map(String::as_str));
        }
        for name in names {
            if !midwatch::is_known_field(name) {
                return Err(ctx.err(
                    item.pos,
                    codes::MIDWATCH_FIELD,
                    format!("`{name}` is not a field of the midwatch field space"),
                ));
            }
        }
    }
    Ok(())
}

fn filter(ctx: Ctx<'_>, doc: &Node, placeholders: &Placeholders) -> Result<Filter, LoadError> {
    let title = title(ctx, doc)?;
    let (logsource, _) = logsource(ctx, doc)?;
    let Some(node) = yaml::get(doc, "filter") else {
        return Err(ctx.err(Pos::of(doc), codes::FILTER, "no `filter`"));
    };
    if yaml::entries(node).is_none() {
        return Err(ctx.err(Pos::of(node), codes::FILTER, "`filter` must be a mapping"));
    }
    let rules = opt_list(ctx, node, "rules")?;
    if rules.is_empty() {
        return Err(ctx.err(Pos::of(node), codes::FILTER, "`filter.rules` names no rule"));
    }
    let detection = ast::parse_detection(ctx, &without_key(node.clone(), "rules"), placeholders)?;
    Ok(Filter {
        file: ctx.file.to_path_buf(),
        pos: Pos::of(doc),
        title,
        logsource,
        rules,
        detection,
    })
}

/// After every file: apply filters, then refuse duplicate ids and names.
fn finish(report: &mut LoadReport, filters: Vec<Filter>) {
    for f in filters {
        apply_filter(report, f);
    }
    let mut seen: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    let mut kept = Vec::with_capacity(report.rules.len());
    for rule in std::mem::take(&mut report.rules) {
        let keys: Vec<String> = [&rule.meta.id, &rule.meta.name]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some((key, (file, line))) = keys
            .iter()
            .find_map(|k| seen.get(k).map(|first| (k, first)))
        {
            report.unsupported.push(LoadError {
                file: rule.meta.file.clone(),
                line: rule.meta.line,
                column: 1,
                code: codes::DUPLICATE,
                message: format!(
                    "`{key}` is already the id or name of a rule at {}:{line}",
                    file.display()
                ),
            });
            continue;
        }
        for k in keys {
            seen.insert(k, (rule.meta.file.clone(), rule.meta.line));
        }
        kept.push(rule);
    }
    report.rules = kept;
}

fn apply_filter(report: &mut LoadReport, f: Filter) {
    report.filters += 1;
    let ctx = Ctx { file: &f.file };
    for target in &f.rules {
        let Some(idx) = report.rules.iter().position(|r| {
            r.meta.id.as_deref() == Some(target) || r.meta.name.as_deref() == Some(target)
        }) else {
            report.unsupported.push(ctx.err(
                f.pos,
                codes::FILTER,
                format!(
                    "filter `{}` names `{target}`, which is no loaded rule",
                    f.title
                ),
            ));
            continue;
        };
        let Some(rule) = report.rules.get(idx) else {
            continue;
        };
        if !rule.meta.logsource.same(&f.logsource) {
            report.unsupported.push(ctx.err(
                f.pos,
                codes::FILTER,
                format!(
                    "filter `{}` has another logsource than rule `{target}`",
                    f.title
                ),
            ));
            continue;
        }
        let mut d = (*rule.detection).clone();
        let offset = d.searches.len();
        d.searches
            .extend(f.detection.searches.iter().map(|s| ast::Search {
                name: format!("filter:{}:{}", f.title, s.name),
                ..s.clone()
            }));
        d.condition = Cond::And(vec![
            d.condition.clone(),
            Cond::Not(Box::new(shift(&f.detection.condition, offset))),
        ]);
        d.condition_text
            .push(format!("not ({})", f.detection.condition_text.join(" or ")));
        let meta = (*rule.meta).clone();
        let file = meta.file.clone();
        let rule_ctx = Ctx { file: &file };
        match build(rule_ctx, f.pos, LogsourcePos::default(), meta, d) {
            Ok(new) => {
                if let Some(slot) = report.rules.get_mut(idx) {
                    *slot = new;
                }
            }
            Err(e) => report.unsupported.push(e),
        }
    }
}

fn shift(c: &Cond, offset: usize) -> Cond {
    match c {
        Cond::And(cs) => Cond::And(cs.iter().map(|c| shift(c, offset)).collect()),
        Cond::Or(cs) => Cond::Or(cs.iter().map(|c| shift(c, offset)).collect()),
        Cond::Not(c) => Cond::Not(Box::new(shift(c, offset))),
        Cond::Search(i) => Cond::Search(i + offset),
    }
}
