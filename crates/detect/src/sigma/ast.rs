//! A rule's detection as parsed: search identifiers, their field tests with every value
//! modifier applied, and the condition with `1 of`/`all of` resolved.
//!
//! This is the meaning of the rule, kept public and read-only for tooling (rule checks,
//! test generators, explanations). The engine compiles it into its fast form
//! ([`super::compiled`]); nothing here is evaluated directly.
//!
//! Value modifiers are applied at parse time, in the order written, except `expand`, whose
//! placeholders are replaced first (a placeholder's values may use wildcards):
//! - `contains`, `startswith`, `endswith` add wildcards;
//! - `base64`, `base64offset` (three shifted variants), `utf16le`/`wide`, `utf16be`,
//!   `utf16` (with a byte order mark) encode a value without wildcards; UTF-16 must be
//!   followed by a Base64 modifier unless the result is still text;
//! - `windash` expands every `-` or `/` that starts a word (not preceded by a word character,
//!   followed by one) into `-`, `/`, `–`, `—`, `―`;
//! - `all` links a list's values with AND instead of OR;
//! - `cased` compares case-sensitively (the default is case-insensitive);
//! - `neq` negates the test of an existing field (a missing field is not different);
//! - type modifiers: `re` (with `i`, `m`, `s`), `cidr`, `lt`/`lte`/`gt`/`gte`, `exists`,
//!   `fieldref`, and the time parts `minute`, `hour`, `day`, `week`, `month`, `year`
//!   (optionally followed by a comparison).

use super::error::LoadError;
use super::error::codes;
use super::pattern::{Part, Pattern};
use super::yaml::{self, Ctx, Node, Pos, ScalarValue};
use saphyr::YamlData;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Most alternatives one value may expand into (windash, placeholders, encodings).
pub const MAX_EXPANSION: usize = 4096;

/// A parsed detection.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Search identifiers in document order.
    pub searches: Vec<Search>,
    /// The condition (several conditions are joined with OR).
    pub condition: Cond,
    /// The condition text as written.
    pub condition_text: Vec<String>,
}

/// One search identifier: alternatives linked with OR, each a list of items linked with AND.
#[derive(Debug, Clone)]
pub struct Search {
    /// The identifier.
    pub name: String,
    /// Where it is defined.
    pub pos: Pos,
    /// OR of AND-lists.
    pub alternatives: Vec<Vec<Item>>,
}

/// One field test (or keyword test) of a search identifier.
#[derive(Debug, Clone)]
pub struct Item {
    /// The field, or `None` for a keyword search over all values.
    pub field: Option<String>,
    /// Modifiers as written.
    pub modifiers: Vec<String>,
    /// What is tested.
    pub test: Test,
    /// Where the item's key (or keyword value) is.
    pub pos: Pos,
}

/// What an item tests.
#[derive(Debug, Clone)]
pub enum Test {
    /// The field's values against matchers.
    Match {
        /// AND of the matchers (`all`) instead of OR.
        all: bool,
        /// Also true when the field is null or missing (a `null` in the value list).
        or_null: bool,
        /// Negated for existing fields (`neq`).
        negate: bool,
        /// The matchers.
        matchers: Vec<Matcher>,
    },
    /// `field: null`: the field is missing or holds no non-null value.
    Null,
    /// `field|exists: bool`.
    Exists(bool),
    /// `field|fieldref: other`: the field compared with other fields of the same record.
    FieldRef {
        /// AND instead of OR over the referenced fields.
        all: bool,
        /// Negated (`neq`).
        negate: bool,
        /// Case-sensitive (`cased`).
        cased: bool,
        /// How the values are compared.
        how: RefHow,
        /// Referenced fields.
        fields: Vec<String>,
    },
}

/// How a field reference compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefHow {
    /// Equal.
    Equal,
    /// The field contains the other's value.
    Contains,
    /// The field starts with the other's value.
    StartsWith,
    /// The field ends with the other's value.
    EndsWith,
}

/// One value test.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A string with wildcards.
    Str {
        /// The pattern.
        pattern: Pattern,
        /// Case-sensitive.
        cased: bool,
    },
    /// A regular expression (unanchored search).
    Regex {
        /// The expression as written.
        regex: String,
        /// `i`: case-insensitive.
        insensitive: bool,
        /// `m`: `^`/`$` match at line ends.
        multiline: bool,
        /// `s`: `.` matches newlines.
        dotall: bool,
    },
    /// The value is an IP address inside this network.
    Cidr(Network),
    /// A numeric comparison (float values are compared numerically even without `lt`…).
    Num(NumOp, f64),
    /// A part of a date value compared with a number.
    Time(TimePart, NumOp, f64),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// `==`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

impl NumOp {
    /// Compare `a` with `b`.
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            NumOp::Eq => a == b,
            NumOp::Lt => a < b,
            NumOp::Lte => a <= b,
            NumOp::Gt => a > b,
            NumOp::Gte => a >= b,
        }
    }
}

/// A part of a date (time modifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    /// 0–59.
    Minute,
    /// 0–23.
    Hour,
    /// 1–31.
    Day,
    /// ISO week 1–53.
    Week,
    /// 1–12.
    Month,
    /// The year.
    Year,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Network {
    /// Parse `a.b.c.d/n`, `x::/n` or a bare address (a host network).
    pub fn parse(s: &str) -> Option<Network> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(prefix)).into()),
        };
        Some(Network { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// A condition over search identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// All must hold.
    And(Vec<Cond>),
    /// One must hold.
    Or(Vec<Cond>),
    /// Must not hold.
    Not(Box<Cond>),
    /// The search identifier at this index of [`Detection::searches`] matches.
    Search(usize),
}

/// A value modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Windash,
    Re,
    ReI,
    ReM,
    ReS,
    Cidr,
    Exists,
    Cased,
    Neq,
    Num(NumOp),
    Time(TimePart),
    FieldRef,
    Expand,
}

impl Modifier {
    fn parse(name: &str) -> Option<Modifier> {
        Some(match name {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "utf16le" | "wide" => Modifier::Utf16Le,
            "utf16be" => Modifier::Utf16Be,
            "utf16" => Modifier::Utf16,
            "windash" => Modifier::Windash,
            "re" => Modifier::Re,
            "i" | "ignorecase" => Modifier::ReI,
            "m" | "multiline" => Modifier::ReM,
            "s" | "dotall" => Modifier::ReS,
            "cidr" => Modifier::Cidr,
            "exists" => Modifier::Exists,
            "cased" => Modifier::Cased,
            "neq" => Modifier::Neq,
            "lt" => Modifier::Num(NumOp::Lt),
            "lte" => Modifier::Num(NumOp::Lte),
            "gt" => Modifier::Num(NumOp::Gt),
            "gte" => Modifier::Num(NumOp::Gte),
            "minute" => Modifier::Time(TimePart::Minute),
            "hour" => Modifier::Time(TimePart::Hour),
            "day" => Modifier::Time(TimePart::Day),
            "week" => Modifier::Time(TimePart::Week),
            "month" => Modifier::Time(TimePart::Month),
            "year" => Modifier::Time(TimePart::Year),
            "fieldref" => Modifier::FieldRef,
            "expand" => Modifier::Expand,
            _ => return None,
        })
    }
}

/// The placeholder values rules with `expand` draw on.
pub type Placeholders = BTreeMap<String, Vec<String>>;

/// Parse a `detection` mapping.
pub(crate) fn parse_detection(
    ctx: Ctx<'_>,
    node: &Node,
    placeholders: &Placeholders,
) -> Result<Detection, LoadError> {
    let Some(entries) = yaml::entries(node) else {
        return Err(ctx.err(
            Pos::of(node),
            codes::DETECTION,
            format!("`detection` must be a mapping, found {}", yaml::kind(node)),
        ));
    };
    let mut searches = Vec::new();
    let mut condition = None;
    for (key, value) in entries {
        let Some(name) = yaml::text(key) else {
            return Err(ctx.err(
                Pos::of(key),
                codes::DETECTION,
                "search identifiers must be names",
            ));
        };
        if name == "condition" {
            condition = Some(value);
            continue;
        }
        if name == "timeframe" {
            return Err(ctx.err(
                Pos::of(key),
                codes::AGGREGATION,
                "`timeframe` belongs to Sigma 1.0 aggregations; write a correlation rule",
            ));
        }
        searches.push(parse_search(ctx, &name, key, value, placeholders)?);
    }
    let Some(cond_node) = condition else {
        return Err(ctx.err(
            Pos::of(node),
            codes::CONDITION_MISSING,
            "`detection` has no `condition`",
        ));
    };
    let texts = condition_texts(ctx, cond_node)?;
    let names: Vec<&str> = searches.iter().map(|s| s.name.as_str()).collect();
    let mut conds = Vec::new();
    for (text, pos) in &texts {
        conds.push(super::condition::parse(ctx, text, *pos, &names)?);
    }
    let condition = match conds.len() {
        1 => conds.pop().unwrap_or(Cond::Or(Vec::new())),
        _ => Cond::Or(conds),
    };
    Ok(Detection {
        searches,
        condition,
        condition_text: texts.into_iter().map(|(t, _)| t).collect(),
    })
}

/// The condition strings, each with the position of its first character.
fn condition_texts(ctx: Ctx<'_>, node: &Node) -> Result<Vec<(String, Pos)>, LoadError> {
    let one = |n: &Node| -> Result<(String, Pos), LoadError> {
        match yaml::scalar(n) {
            Some(ScalarValue::Str(s)) => Ok((s.clone(), text_start(n, &s))),
            _ => Err(ctx.err(
                Pos::of(n),
                codes::CONDITION_MISSING,
                format!("`condition` must be text, found {}", yaml::kind(n)),
            )),
        }
    };
    match yaml::items(node) {
        Some([]) => Err(ctx.err(
            Pos::of(node),
            codes::CONDITION_MISSING,
            "`condition` is an empty list",
        )),
        Some(list) => list.iter().map(one).collect(),
        None => Ok(vec![one(node)?]),
    }
}

/// Where the text of a scalar starts: one column further for quoted scalars.
fn text_start(node: &Node, text: &str) -> Pos {
    let span_chars = node
        .span
        .end
        .index()
        .saturating_sub(node.span.start.index());
    let quoted =
        node.span.start.line() == node.span.end.line() && span_chars >= text.chars().count() + 2;
    Pos::of(node).right(usize::from(quoted))
}

fn parse_search(
    ctx: Ctx<'_>,
    name: &str,
    key: &Node,
    value: &Node,
    placeholders: &Placeholders,
) -> Result<Search, LoadError> {
    let pos = Pos::of(key);
    let alternatives = match &value.data {
        YamlData::Mapping(_) => vec![parse_map(ctx, value, placeholders)?],
        YamlData::Sequence(items) => {
            if items.is_empty() {
                return Err(ctx.err(
                    pos,
                    codes::EMPTY,
                    format!("search identifier `{name}` is an empty list"),
                ));
            }
            let mut alternatives = Vec::new();
            let mut keywords = Vec::new();
            for item in items {
                match &item.data {
                    YamlData::Mapping(_) => alternatives.push(parse_map(ctx, item, placeholders)?),
                    YamlData::Sequence(_) => {
                        return Err(ctx.err(
                            Pos::of(item),
                            codes::SEARCH_SHAPE,
                            format!("search identifier `{name}` holds a nested list"),
                        ));
                    }
                    _ => keywords.push(item),
                }
            }
            if !keywords.is_empty() {
                let item = parse_item(ctx, None, &[], Pos::of(value), &keywords, placeholders)?;
                alternatives.push(vec![item]);
            }
            alternatives
        }
        _ if yaml::scalar(value).is_some() => {
            let item = parse_item(ctx, None, &[], Pos::of(value), &[value], placeholders)?;
            vec![vec![item]]
        }
        _ => {
            return Err(ctx.err(
                pos,
                codes::SEARCH_SHAPE,
                format!(
                    "search identifier `{name}` must be a mapping, a list or a value, found {}",
                    yaml::kind(value)
                ),
            ));
        }
    };
    Ok(Search {
        name: name.to_string(),
        pos,
        alternatives,
    })
}

/// A mapping of field tests, linked with AND.
fn parse_map(
    ctx: Ctx<'_>,
    node: &Node,
    placeholders: &Placeholders,
) -> Result<Vec<Item>, LoadError> {
    let mut items = Vec::new();
    for (key, value) in yaml::entries(node).into_iter().flatten() {
        let Some(key_text) = yaml::text(key) else {
            return Err(ctx.err(
                Pos::of(key),
                codes::SEARCH_SHAPE,
                format!("a field name must be text, found {}", yaml::kind(key)),
            ));
        };
        let mut parts = key_text.split('|');
        let field = parts.next().unwrap_or("");
        let modifiers: Vec<&str> = parts.collect();
        let values: Vec<&Node> = match &value.data {
            YamlData::Sequence(list) => list.iter().collect(),
            YamlData::Mapping(_) => {
                return Err(ctx.err(
                    Pos::of(value),
                    codes::VALUE_SHAPE,
                    format!(
                        "the value of `{key_text}` is a mapping; Sigma values are scalars or lists"
                    ),
                ));
            }
            _ => vec![value],
        };
        if values.is_empty() {
            return Err(ctx.err(
                Pos::of(value),
                codes::EMPTY,
                format!("`{key_text}` has an empty list of values"),
            ));
        }
        let field = (!field.is_empty()).then_some(field);
        items.push(parse_item(
            ctx,
            field,
            &modifiers,
            Pos::of(key),
            &values,
            placeholders,
        )?);
    }
    if items.is_empty() {
        return Err(ctx.err(
            Pos::of(node),
            codes::EMPTY,
            "an empty mapping matches nothing",
        ));
    }
    Ok(items)
}

/// The modifiers of one item, classified.
#[derive(Debug, Default)]
struct Mods {
    all: bool,
    cased: bool,
    neq: bool,
    expand: bool,
    exists: bool,
    fieldref: bool,
    re: bool,
    re_flags: (bool, bool, bool),
    cidr: bool,
    num: Option<NumOp>,
    time: Option<TimePart>,
    transforms: Vec<Modifier>,
}

fn classify(ctx: Ctx<'_>, pos: Pos, names: &[&str]) -> Result<Mods, LoadError> {
    let mut m = Mods::default();
    let mut types = Vec::new();
    for name in names {
        let Some(modifier) = Modifier::parse(name) else {
            return Err(ctx.err(
                pos,
                codes::UNKNOWN_MODIFIER,
                format!("unknown modifier `{name}`"),
            ));
        };
        match modifier {
            Modifier::All => m.all = true,
            Modifier::Cased => m.cased = true,
            Modifier::Neq => m.neq = true,
            Modifier::Expand => m.expand = true,
            Modifier::Exists | Modifier::FieldRef | Modifier::Re | Modifier::Cidr => {
                match modifier {
                    Modifier::Exists => m.exists = true,
                    Modifier::FieldRef => m.fieldref = true,
                    Modifier::Re => m.re = true,
                    _ => m.cidr = true,
                }
                types.push(*name);
            }
            Modifier::ReI | Modifier::ReM | Modifier::ReS => {
                if !m.re {
                    return Err(ctx.err(
                        pos,
                        codes::MODIFIER_COMBINATION,
                        format!("modifier `{name}` is a flag of `re` and must follow it"),
                    ));
                }
                match modifier {
                    Modifier::ReI => m.re_flags.0 = true,
                    Modifier::ReM => m.re_flags.1 = true,
                    _ => m.re_flags.2 = true,
                }
            }
            Modifier::Num(op) => {
                if m.num.is_some() {
                    return Err(ctx.err(
                        pos,
                        codes::MODIFIER_COMBINATION,
                        "only one of `lt`, `lte`, `gt`, `gte` may be used",
                    ));
                }
                m.num = Some(op);
                if m.time.is_none() {
                    types.push(*name);
                }
            }
            Modifier::Time(part) => {
                if m.num.is_some() || m.time.is_some() {
                    return Err(ctx.err(
                        pos,
                        codes::MODIFIER_COMBINATION,
                        format!("time modifier `{name}` must come first and only once"),
                    ));
                }
                m.time = Some(part);
                types.push(*name);
            }
            t => m.transforms.push(t),
        }
    }
    if types.len() > 1 {
        return Err(ctx.err(
            pos,
            codes::MODIFIER_COMBINATION,
            format!("modifiers `{}` cannot be combined", types.join("`, `")),
        ));
    }
    let typed = types.first().copied();
    if let Some(t) = typed {
        let allowed_transforms = m.fieldref
            && m.transforms.iter().all(|t| {
                matches!(
                    t,
                    Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith
                )
            })
            && m.transforms.len() <= 1;
        if !m.transforms.is_empty() && !allowed_transforms {
            return Err(ctx.err(
                pos,
                codes::MODIFIER_COMBINATION,
                format!("`{t}` cannot be combined with value transformations"),
            ));
        }
        if m.exists && (m.all || m.neq || m.cased || m.expand) {
            return Err(ctx.err(
                pos,
                codes::MODIFIER_COMBINATION,
                "`exists` takes no other modifier",
            ));
        }
        if m.cased && !(m.fieldref) {
            return Err(ctx.err(
                pos,
                codes::MODIFIER_COMBINATION,
                format!("`cased` applies to string values, not to `{t}`"),
            ));
        }
    }
    Ok(m)
}

fn parse_item(
    ctx: Ctx<'_>,
    field: Option<&str>,
    modifiers: &[&str],
    pos: Pos,
    values: &[&Node],
    placeholders: &Placeholders,
) -> Result<Item, LoadError> {
    let m = classify(ctx, pos, modifiers)?;
    let keyword = field.is_none();
    if keyword && (m.exists || m.fieldref || m.neq) {
        return Err(ctx.err(
            pos,
            codes::MODIFIER_COMBINATION,
            "`exists`, `fieldref` and `neq` need a field name",
        ));
    }
    let mut scalars = Vec::new();
    for v in values {
        match yaml::scalar(v) {
            Some(s) => scalars.push((s, Pos::of(v))),
            None => {
                return Err(ctx.err(
                    Pos::of(v),
                    codes::VALUE_SHAPE,
                    format!("a value must be a scalar, found {}", yaml::kind(v)),
                ));
            }
        }
    }
    let test = if m.exists {
        exists_test(ctx, &scalars)?
    } else if m.fieldref {
        fieldref_test(ctx, &m, &scalars)?
    } else {
        match_test(ctx, &m, keyword, &scalars, placeholders)?
    };
    Ok(Item {
        field: field.map(str::to_string),
        modifiers: modifiers.iter().map(|s| s.to_string()).collect(),
        test,
        pos,
    })
}

fn exists_test(ctx: Ctx<'_>, values: &[(ScalarValue, Pos)]) -> Result<Test, LoadError> {
    match values {
        [(ScalarValue::Bool(b), _)] => Ok(Test::Exists(*b)),
        [(ScalarValue::Str(s), _)] if s == "true" || s == "false" => Ok(Test::Exists(s == "true")),
        [(_, pos), ..] => Err(ctx.err(
            *pos,
            codes::VALUE_TYPE,
            "`exists` takes a single `true` or `false`",
        )),
        [] => Err(ctx.err(Pos::default(), codes::EMPTY, "`exists` without a value")),
    }
}

fn fieldref_test(ctx: Ctx<'_>, m: &Mods, values: &[(ScalarValue, Pos)]) -> Result<Test, LoadError> {
    let mut fields = Vec::new();
    for (v, pos) in values {
        match v {
            ScalarValue::Str(s) if !s.is_empty() => fields.push(s.clone()),
            _ => {
                return Err(ctx.err(*pos, codes::VALUE_TYPE, "`fieldref` takes field names"));
            }
        }
    }
    let how = match m.transforms.first() {
        Some(Modifier::Contains) => RefHow::Contains,
        Some(Modifier::StartsWith) => RefHow::StartsWith,
        Some(Modifier::EndsWith) => RefHow::EndsWith,
        _ => RefHow::Equal,
    };
    Ok(Test::FieldRef {
        all: m.all,
        negate: m.neq,
        cased: m.cased,
        how,
        fields,
    })
}

fn match_test(
    ctx: Ctx<'_>,
    m: &Mods,
    keyword: bool,
    values: &[(ScalarValue, Pos)],
    placeholders: &Placeholders,
) -> Result<Test, LoadError> {
    let mut matchers = Vec::new();
    let mut or_null = false;
    let has_modifiers = m.all
        || m.cased
        || m.neq
        || m.expand
        || m.re
        || m.cidr
        || m.num.is_some()
        || m.time.is_some()
        || !m.transforms.is_empty();
    for (value, pos) in values {
        if *value == ScalarValue::Null {
            if has_modifiers || keyword {
                return Err(ctx.err(
                    *pos,
                    codes::VALUE_TYPE,
                    "`null` takes no modifiers and needs a field",
                ));
            }
            or_null = true;
            continue;
        }
        let before = matchers.len();
        value_matchers(ctx, m, keyword, value, *pos, placeholders, &mut matchers)?;
        if matchers.len() - before > MAX_EXPANSION || matchers.len() > MAX_EXPANSION * 4 {
            return Err(ctx.err(
                *pos,
                codes::EXPANSION,
                format!("the value expands into more than {MAX_EXPANSION} alternatives"),
            ));
        }
    }
    if matchers.is_empty() && or_null {
        return Ok(Test::Null);
    }
    Ok(Test::Match {
        all: m.all,
        or_null,
        negate: m.neq,
        matchers,
    })
}

fn value_matchers(
    ctx: Ctx<'_>,
    m: &Mods,
    keyword: bool,
    value: &ScalarValue,
    pos: Pos,
    placeholders: &Placeholders,
    out: &mut Vec<Matcher>,
) -> Result<(), LoadError> {
    if let Some(op) = m.num.filter(|_| m.time.is_none()) {
        let n = number(value).ok_or_else(|| {
            ctx.err(
                pos,
                codes::VALUE_TYPE,
                "a numeric comparison needs a number",
            )
        })?;
        out.push(Matcher::Num(op, n));
        return Ok(());
    }
    if let Some(part) = m.time {
        let n = number(value)
            .ok_or_else(|| ctx.err(pos, codes::VALUE_TYPE, "a time modifier needs a number"))?;
        out.push(Matcher::Time(part, m.num.unwrap_or(NumOp::Eq), n));
        return Ok(());
    }
    let Some(text) = value.text() else {
        return Err(ctx.err(pos, codes::VALUE_TYPE, "`null` cannot be matched here"));
    };
    if m.re {
        let (insensitive, multiline, dotall) = m.re_flags;
        let mut builder = regex::RegexBuilder::new(&text);
        builder
            .case_insensitive(insensitive)
            .multi_line(multiline)
            .dot_matches_new_line(dotall)
            .size_limit(1 << 22);
        if let Err(e) = builder.build() {
            return Err(ctx.err(
                pos,
                codes::REGEX,
                format!(
                    "regular expression `{text}` is not supported: {}",
                    first_line(&e.to_string())
                ),
            ));
        }
        out.push(Matcher::Regex {
            regex: text,
            insensitive,
            multiline,
            dotall,
        });
        return Ok(());
    }
    if m.cidr {
        let net = Network::parse(&text).ok_or_else(|| {
            ctx.err(
                pos,
                codes::VALUE_TYPE,
                format!("`{text}` is not a CIDR network"),
            )
        })?;
        out.push(Matcher::Cidr(net));
        return Ok(());
    }
    if let (ScalarValue::Float(f), false, true, false) =
        (value, keyword, m.transforms.is_empty(), m.expand)
    {
        out.push(Matcher::Num(NumOp::Eq, *f));
        return Ok(());
    }
    let patterns = if m.expand {
        if let ScalarValue::Str(s) = value {
            expand(ctx, pos, s, placeholders)?
        } else {
            vec![Pattern::literal(&text)]
        }
    } else if let ScalarValue::Str(s) = value {
        vec![Pattern::parse(s)]
    } else {
        vec![Pattern::literal(&text)]
    };
    let mut transforms = m.transforms.clone();
    if keyword
        && !transforms.iter().any(|t| {
            matches!(
                t,
                Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith
            )
        })
    {
        // Keywords search inside values.
        transforms.push(Modifier::Contains);
    }
    let mut stages: Vec<Stage> = patterns.into_iter().map(Stage::Pat).collect();
    for t in &transforms {
        stages = apply(ctx, pos, *t, stages)?;
        if stages.len() > MAX_EXPANSION {
            return Err(ctx.err(
                pos,
                codes::EXPANSION,
                format!("the value expands into more than {MAX_EXPANSION} alternatives"),
            ));
        }
    }
    for p in stages {
        let pattern = match p {
            Stage::Pat(p) => p,
            Stage::Bytes(b) => match String::from_utf8(b) {
                Ok(s) => Pattern::literal(&s),
                Err(_) => {
                    return Err(ctx.err(
                        pos,
                        codes::MODIFIER_COMBINATION,
                        "a UTF-16 encoded value must be followed by `base64` or `base64offset`",
                    ));
                }
            },
        };
        out.push(Matcher::Str {
            pattern,
            cased: m.cased,
        });
    }
    Ok(())
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn number(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Int(i) => Some(*i as f64),
        ScalarValue::Float(f) => Some(*f),
        ScalarValue::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A value on its way through the transformations.
#[derive(Debug, Clone)]
enum Stage {
    Pat(Pattern),
    Bytes(Vec<u8>),
}

fn apply(ctx: Ctx<'_>, pos: Pos, t: Modifier, values: Vec<Stage>) -> Result<Vec<Stage>, LoadError> {
    let mut out = Vec::new();
    for v in values {
        match (t, v) {
            (Modifier::Contains, Stage::Pat(p)) => out.push(Stage::Pat(p.contains())),
            (Modifier::StartsWith, Stage::Pat(p)) => out.push(Stage::Pat(p.startswith())),
            (Modifier::EndsWith, Stage::Pat(p)) => out.push(Stage::Pat(p.endswith())),
            (Modifier::Windash, Stage::Pat(p)) => match windash(&p) {
                Some(variants) => out.extend(variants.into_iter().map(Stage::Pat)),
                None => {
                    return Err(ctx.err(
                        pos,
                        codes::EXPANSION,
                        format!("`windash` expands the value into more than {MAX_EXPANSION} alternatives"),
                    ));
                }
            },
            (Modifier::Base64 | Modifier::Base64Offset, v) => {
                let bytes = plain_bytes(ctx, pos, t, v)?;
                if t == Modifier::Base64 {
                    out.push(Stage::Pat(Pattern::literal(&base64(&bytes))));
                } else {
                    out.extend(
                        base64_offsets(&bytes)
                            .into_iter()
                            .map(|s| Stage::Pat(Pattern::literal(&s))),
                    );
                }
            }
            (Modifier::Utf16Le | Modifier::Utf16Be | Modifier::Utf16, v) => {
                let bytes = plain_bytes(ctx, pos, t, v)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut enc = Vec::new();
                if t == Modifier::Utf16 {
                    enc.extend_from_slice(&[0xFF, 0xFE]);
                }
                for unit in text.encode_utf16() {
                    let b = if t == Modifier::Utf16Be {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    };
                    enc.extend_from_slice(&b);
                }
                out.push(Stage::Bytes(enc));
            }
            (_, Stage::Bytes(_)) => {
                return Err(ctx.err(
                    pos,
                    codes::MODIFIER_COMBINATION,
                    "after a UTF-16 modifier only `base64` or `base64offset` may follow",
                ));
            }
            (_, v) => out.push(v),
        }
    }
    Ok(out)
}

fn plain_bytes(ctx: Ctx<'_>, pos: Pos, t: Modifier, v: Stage) -> Result<Vec<u8>, LoadError> {
    match v {
        Stage::Bytes(b) => Ok(b),
        Stage::Pat(p) => match p.as_plain() {
            Some(s) => Ok(s.into_bytes()),
            None => Err(ctx.err(
                pos,
                codes::MODIFIER_COMBINATION,
                format!(
                    "`{}` cannot encode a value with wildcards; put `contains`, `startswith` or `endswith` after it",
                    modifier_name(t)
                ),
            )),
        },
    }
}

fn modifier_name(t: Modifier) -> &'static str {
    match t {
        Modifier::Base64 => "base64",
        Modifier::Base64Offset => "base64offset",
        Modifier::Utf16Le => "utf16le",
        Modifier::Utf16Be => "utf16be",
        Modifier::Utf16 => "utf16",
        _ => "modifier",
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard Base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let sym = |i: u32| B64.get((i & 63) as usize).map_or('=', |b| *b as char);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// The three Base64 forms of `bytes` at offsets 0, 1 and 2 inside a longer text, with the
/// characters that depend on the unknown neighbours cut off (as pySigma does).
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    let mut out = Vec::new();
    for (shift, start) in START.iter().enumerate() {
        let mut shifted = vec![b' '; shift];
        shifted.extend_from_slice(bytes);
        let encoded = base64(&shifted);
        let cut_end = match (bytes.len() + shift) % 3 {
            0 => 0,
            1 => 3,
            _ => 2,
        };
        let end = encoded.len().saturating_sub(cut_end);
        let s = encoded
            .get(*start..end.max(*start))
            .unwrap_or("")
            .to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every variant of `p` with word-starting dashes and slashes replaced by each dash form;
/// `None` when there would be more than [`MAX_EXPANSION`].
fn windash(p: &Pattern) -> Option<Vec<Pattern>> {
    // Flatten to characters and wildcards to find the positions.
    #[derive(Clone)]
    enum Tok {
        C(char),
        W(Part),
    }
    let mut toks = Vec::new();
    for part in p.parts() {
        match part {
            Part::Text(t) => toks.extend(t.chars().map(Tok::C)),
            w => toks.push(Tok::W(w.clone())),
        }
    }
    let char_at = |i: usize| match toks.get(i) {
        Some(Tok::C(c)) => Some(*c),
        _ => None,
    };
    let mut variants: Vec<Vec<Tok>> = vec![Vec::new()];
    for (i, tok) in toks.iter().enumerate() {
        let dash = match tok {
            Tok::C(c @ ('-' | '/')) => {
                let before_word = i.checked_sub(1).and_then(char_at).is_some_and(is_word);
                let after_word = char_at(i + 1).is_some_and(is_word);
                (!before_word && after_word).then_some(*c)
            }
            _ => None,
        };
        match dash {
            Some(_) if variants.len() * DASHES.len() > MAX_EXPANSION => return None,
            Some(_) => {
                let mut next = Vec::with_capacity(variants.len() * DASHES.len());
                for v in &variants {
                    for d in DASHES {
                        let mut v = v.clone();
                        v.push(Tok::C(d));
                        next.push(v);
                    }
                }
                variants = next;
            }
            _ => variants.iter_mut().for_each(|v| v.push(tok.clone())),
        }
    }
    let variants = variants
        .into_iter()
        .map(|v| {
            let mut p = Pattern::default();
            for t in v {
                match t {
                    Tok::C(c) => p.push_text(c.encode_utf8(&mut [0; 4])),
                    Tok::W(w) => p.push(w),
                }
            }
            p
        })
        .collect();
    Some(variants)
}

/// Replace `%name%` placeholders with each of their values (the cartesian product when a
/// value has several). `\%` is a plain percent sign.
fn expand(
    ctx: Ctx<'_>,
    pos: Pos,
    raw: &str,
    placeholders: &Placeholders,
) -> Result<Vec<Pattern>, LoadError> {
    // Pieces: raw text (Sigma escapes kept, `\%` resolved) and placeholder names.
    let mut pieces: Vec<Result<String, String>> = Vec::new();
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('%') => {
                    chars.next();
                    text.push('%');
                }
                Some(&n @ ('\\' | '*' | '?')) => {
                    chars.next();
                    text.push('\\');
                    text.push(n);
                }
                _ => text.push('\\'),
            },
            '%' => {
                let mut name = String::new();
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '%' {
                        closed = true;
                        break;
                    }
                    name.push(n);
                }
                if !closed || name.is_empty() {
                    return Err(ctx.err(
                        pos,
                        codes::PLACEHOLDER_SYNTAX,
                        format!("`{raw}`: a placeholder is `%name%`; write `\\%` for a plain percent sign"),
                    ));
                }
                pieces.push(Ok(std::mem::take(&mut text)));
                pieces.push(Err(name));
            }
            c => text.push(c),
        }
    }
    pieces.push(Ok(text));
    let mut out = vec![Pattern::default()];
    for piece in pieces {
        match piece {
            Ok(text) => {
                let p = Pattern::parse(&text);
                out.iter_mut().for_each(|o| o.extend(&p));
            }
            Err(name) => {
                let values = match placeholders.get(&name) {
                    Some(v) if !v.is_empty() => v,
                    Some(_) => {
                        return Err(ctx.err(
                            pos,
                            codes::PLACEHOLDER,
                            format!("placeholder `%{name}%` has no values"),
                        ));
                    }
                    None => {
                        return Err(ctx.err(
                            pos,
                            codes::PLACEHOLDER,
                            format!("unknown placeholder `%{name}%`"),
                        ));
                    }
                };
                if out.len() * values.len() > MAX_EXPANSION {
                    return Err(ctx.err(
                        pos,
                        codes::EXPANSION,
                        format!("placeholders expand into more than {MAX_EXPANSION} alternatives"),
                    ));
                }
                let mut next = Vec::with_capacity(out.len() * values.len());
                for o in &out {
                    for v in values {
                        let mut p = o.clone();
                        p.extend(&Pattern::parse(v));
                        next.push(p);
                    }
                }
                out = next;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn base64_offsets_match_pysigma() {
        // pySigma: `/bin/sh|base64offset` → L2Jpbi9za, 9iaW4vc2, vYmluL3No
        assert_eq!(
            base64_offsets(b"/bin/sh"),
            ["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]
        );
        // Every variant occurs in the encoding of a text holding the value at that offset.
        for prefix in ["", "a", "ab", "abc"] {
            let whole = base64(format!("{prefix}/bin/sh and more").as_bytes());
            assert!(
                base64_offsets(b"/bin/sh")
                    .iter()
                    .any(|v| whole.contains(v.as_str())),
                "{prefix}"
            );
        }
    }

    #[test]
    fn windash_expands_word_starting_dashes() {
        let v = windash(&Pattern::parse("cmd -a /b x-y")).unwrap();
        assert_eq!(v.len(), 25);
        assert!(v.contains(&Pattern::parse("cmd /a -b x-y")));
        assert!(v.contains(&Pattern::parse("cmd \u{2013}a \u{2015}b x-y")));
        assert_eq!(windash(&Pattern::parse("a-b")).unwrap().len(), 1);
        assert_eq!(
            windash(&Pattern::parse("-a -b -c -d -e")).unwrap().len(),
            3125
        );
        assert!(windash(&Pattern::parse("-a -b -c -d -e -f")).is_none());
    }

    #[test]
    fn networks() {
        let n = Network::parse("10.1.2.3/8").unwrap();
        assert_eq!(n.addr.to_string(), "10.0.0.0");
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(Network::parse("1.2.3.4/33").is_none());
        assert!(Network::parse("nope/8").is_none());
        assert_eq!(Network::parse("1.2.3.4").unwrap().prefix, 32);
    }
}
