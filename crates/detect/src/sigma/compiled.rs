//! The fast form of a detection, evaluated once per record.
//!
//! Compiled once from the [`super::ast`]: string tests are folded once at compile time,
//! equality tests of one field share one hash set, substring tests carry a prebuilt
//! `memchr` finder, each `re` value is one compiled [`regex::Regex`]. At match time each
//! value is folded once for all the tests that look at it.
//!
//! Semantics, per item (the reference for the tests in `tests/sigma_*.rs`):
//! - a value test holds when some value at the field passes some matcher (`all`: every
//!   matcher is passed by some value); a `null` among the values also accepts a field that
//!   holds no non-null value; `neq` holds when the field exists and the test does not;
//! - `field: null` holds when the field is missing or holds no non-null value;
//! - `exists: true` holds when the path exists (even holding null);
//! - a keyword test looks at every non-null scalar value of the record;
//! - string matchers see numbers in decimal and booleans as `true`/`false`, never null;
//!   numeric matchers see numbers and strings that hold numbers; `cidr` sees strings that
//!   are IP addresses; time parts see RFC 3339 strings and epoch numbers (seconds, or
//!   milliseconds above 10^11).

use super::ast::{self, Cond, Detection, Matcher, Network, NumOp, RefHow, Test, TimePart};
use super::pattern::StrMatcher;
use super::record::{FieldPath, Record, Value, fold, fold_into};
use foldhash::HashSet;
use std::net::IpAddr;

/// A compiled detection.
#[derive(Debug)]
pub(crate) struct Compiled {
    searches: Vec<CSearch>,
    cond: CCond,
    /// Tests every match also needs (a midwatch logsource's service and category).
    scope: Vec<CTest>,
}

#[derive(Debug)]
enum CCond {
    And(Box<[CCond]>),
    Or(Box<[CCond]>),
    Not(Box<CCond>),
    Search(usize),
}

#[derive(Debug)]
struct CSearch {
    alternatives: Box<[Box<[CTest]>]>,
}

#[derive(Debug)]
pub(crate) struct CTest {
    target: Target,
    kind: Kind,
}

#[derive(Debug)]
enum Target {
    Field(FieldPath),
    Keywords,
}

#[derive(Debug)]
enum Kind {
    Any {
        set: ValueSet,
        or_null: bool,
        negate: bool,
    },
    All {
        sets: Box<[ValueSet]>,
        negate: bool,
    },
    Null,
    Exists(bool),
    FieldRef {
        all: bool,
        negate: bool,
        cased: bool,
        how: RefHow,
        fields: Box<[FieldPath]>,
    },
}

/// Matchers linked with OR, arranged for speed.
#[derive(Debug, Default)]
struct ValueSet {
    /// Folded texts of case-insensitive equality tests.
    exact: HashSet<Box<str>>,
    /// Texts of case-sensitive equality tests.
    exact_cased: HashSet<Box<str>>,
    others: Vec<CMatcher>,
}

#[derive(Debug)]
enum CMatcher {
    Str(Box<StrMatcher>),
    Regex(regex::Regex),
    Cidr(Network),
    Num(NumOp, f64),
    Time(TimePart, NumOp, f64),
}

impl Compiled {
    /// Compile a parsed detection. Regular expressions were checked when parsing; one that
    /// fails here anyway (size limits) is a compile error.
    pub(crate) fn new(d: &Detection, scope: Vec<CTest>) -> Result<Compiled, String> {
        let searches = d
            .searches
            .iter()
            .map(|s| {
                let alternatives = s
                    .alternatives
                    .iter()
                    .map(|alt| {
                        alt.iter()
                            .map(compile_item)
                            .collect::<Result<Vec<_>, _>>()
                            .map(Vec::into_boxed_slice)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(CSearch {
                    alternatives: alternatives.into_boxed_slice(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Compiled {
            searches,
            cond: compile_cond(&d.condition),
            scope,
        })
    }

    /// Whether the detection matches `record`.
    pub(crate) fn eval(&self, record: &dyn Record) -> bool {
        self.eval_with(record, &mut Scratch::default())
    }

    /// [`Compiled::eval`] with buffers reused across rules.
    pub(crate) fn eval_with(&self, record: &dyn Record, scratch: &mut Scratch) -> bool {
        self.scope.iter().all(|t| t.eval(record, scratch))
            && self.eval_cond(&self.cond, record, scratch)
    }

    fn eval_cond(&self, c: &CCond, record: &dyn Record, scratch: &mut Scratch) -> bool {
        match c {
            CCond::And(cs) => cs.iter().all(|c| self.eval_cond(c, record, scratch)),
            CCond::Or(cs) => cs.iter().any(|c| self.eval_cond(c, record, scratch)),
            CCond::Not(c) => !self.eval_cond(c, record, scratch),
            CCond::Search(i) => self.searches.get(*i).is_some_and(|s| {
                s.alternatives
                    .iter()
                    .any(|alt| alt.iter().all(|t| t.eval(record, scratch)))
            }),
        }
    }
}

fn compile_cond(c: &Cond) -> CCond {
    match c {
        Cond::And(cs) => CCond::And(cs.iter().map(compile_cond).collect()),
        Cond::Or(cs) => CCond::Or(cs.iter().map(compile_cond).collect()),
        Cond::Not(c) => CCond::Not(Box::new(compile_cond(c))),
        Cond::Search(i) => CCond::Search(*i),
    }
}

fn compile_item(item: &ast::Item) -> Result<CTest, String> {
    let target = match &item.field {
        Some(f) => Target::Field(FieldPath::new(f)),
        None => Target::Keywords,
    };
    let kind = match &item.test {
        Test::Match {
            all: false,
            or_null,
            negate,
            matchers,
        } => Kind::Any {
            set: ValueSet::new(matchers)?,
            or_null: *or_null,
            negate: *negate,
        },
        Test::Match {
            all: true,
            negate,
            matchers,
            ..
        } => Kind::All {
            sets: matchers
                .iter()
                .map(|m| ValueSet::new(std::slice::from_ref(m)))
                .collect::<Result<_, _>>()?,
            negate: *negate,
        },
        Test::Null => Kind::Null,
        Test::Exists(b) => Kind::Exists(*b),
        Test::FieldRef {
            all,
            negate,
            cased,
            how,
            fields,
        } => Kind::FieldRef {
            all: *all,
            negate: *negate,
            cased: *cased,
            how: *how,
            fields: fields.iter().map(|f| FieldPath::new(f)).collect(),
        },
    };
    Ok(CTest { target, kind })
}

impl CTest {
    /// A test that `field` equals one of `values` (case-insensitively).
    pub(crate) fn equals(field: &str, values: &[String]) -> CTest {
        let mut set = ValueSet::default();
        for v in values {
            set.exact.insert(fold(v).into());
        }
        CTest {
            target: Target::Field(FieldPath::new(field)),
            kind: Kind::Any {
                set,
                or_null: false,
                negate: false,
            },
        }
    }

    fn eval(&self, record: &dyn Record, scratch: &mut Scratch) -> bool {
        match (&self.target, &self.kind) {
            (
                Target::Field(path),
                Kind::Any {
                    set,
                    or_null,
                    negate,
                },
            ) => {
                let found = record.lookup(path, &mut |v| set.matches(&v, scratch));
                let base = found.matched() || (*or_null && !has_non_null(record, path));
                if *negate {
                    found.found() && !base
                } else {
                    base
                }
            }
            (Target::Field(path), Kind::All { sets, negate }) => {
                let mut exists = false;
                let all = sets.iter().all(|set| {
                    let found = record.lookup(path, &mut |v| set.matches(&v, scratch));
                    exists |= found.found();
                    found.matched()
                });
                if *negate {
                    // `all` stops at the first failing set; existence needs a lookup then.
                    (exists || record.lookup(path, &mut |_| true).found()) && !all
                } else {
                    all
                }
            }
            (Target::Field(path), Kind::Null) => !has_non_null(record, path),
            (Target::Field(path), Kind::Exists(want)) => {
                record.lookup(path, &mut |_| true).found() == *want
            }
            (
                Target::Field(path),
                Kind::FieldRef {
                    all,
                    negate,
                    cased,
                    how,
                    fields,
                },
            ) => {
                let test = |other: &FieldPath| field_ref(record, path, other, *how, *cased);
                let result = if *all {
                    fields.iter().all(test)
                } else {
                    fields.iter().any(test)
                };
                if *negate {
                    record.lookup(path, &mut |_| true).found() && !result
                } else {
                    result
                }
            }
            (Target::Keywords, Kind::Any { set, .. }) => {
                record.leaves(&mut |v| set.matches(&v, scratch))
            }
            (Target::Keywords, Kind::All { sets, .. }) => sets
                .iter()
                .all(|set| record.leaves(&mut |v| set.matches(&v, scratch))),
            (Target::Keywords, _) => false,
        }
    }
}

fn has_non_null(record: &dyn Record, path: &FieldPath) -> bool {
    record.lookup(path, &mut |v| !v.is_null()).matched()
}

/// Whether some value of `path` relates to some value of `other` as `how` says.
fn field_ref(
    record: &dyn Record,
    path: &FieldPath,
    other: &FieldPath,
    how: RefHow,
    cased: bool,
) -> bool {
    let norm = |s: &str| -> String {
        if cased {
            s.to_string()
        } else {
            fold(s).into_owned()
        }
    };
    let mut refs = Vec::new();
    let mut buf = String::new();
    record.lookup(other, &mut |v| {
        if let Some(t) = v.text(&mut buf) {
            refs.push(norm(t));
        }
        false
    });
    if refs.is_empty() {
        return false;
    }
    record
        .lookup(path, &mut |v| {
            let Some(t) = v.text(&mut buf) else {
                return false;
            };
            let t = norm(t);
            refs.iter().any(|r| match how {
                RefHow::Equal => t == *r,
                RefHow::Contains => t.contains(r.as_str()),
                RefHow::StartsWith => t.starts_with(r.as_str()),
                RefHow::EndsWith => t.ends_with(r.as_str()),
            })
        })
        .matched()
}

/// Buffers reused across the values of one evaluation.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    text: String,
    folded: String,
}

impl ValueSet {
    fn new(matchers: &[Matcher]) -> Result<ValueSet, String> {
        let mut set = ValueSet::default();
        for m in matchers {
            match m {
                Matcher::Str { pattern, cased } => {
                    let sm = StrMatcher::new(pattern, *cased);
                    match (sm.exact(), *cased) {
                        (Some(e), false) => {
                            set.exact.insert(e.into());
                        }
                        (Some(e), true) => {
                            set.exact_cased.insert(e.into());
                        }
                        (None, _) => set.others.push(CMatcher::Str(Box::new(sm))),
                    }
                }
                Matcher::Regex {
                    regex,
                    insensitive,
                    multiline,
                    dotall,
                } => {
                    let re = regex::RegexBuilder::new(regex)
                        .case_insensitive(*insensitive)
                        .multi_line(*multiline)
                        .dot_matches_new_line(*dotall)
                        .size_limit(1 << 22)
                        .build()
                        .map_err(|e| e.to_string())?;
                    set.others.push(CMatcher::Regex(re));
                }
                Matcher::Cidr(n) => set.others.push(CMatcher::Cidr(*n)),
                Matcher::Num(op, n) => set.others.push(CMatcher::Num(*op, *n)),
                Matcher::Time(part, op, n) => set.others.push(CMatcher::Time(*part, *op, *n)),
            }
        }
        Ok(set)
    }

    fn matches(&self, v: &Value<'_>, scratch: &mut Scratch) -> bool {
        let Scratch { text, folded } = scratch;
        let t = v.text(text);
        let mut folded_ready = false;
        if let Some(t) = t {
            if !self.exact.is_empty() {
                fold_into(t, folded);
                folded_ready = true;
                if self.exact.contains(folded.as_str()) {
                    return true;
                }
            }
            if !self.exact_cased.is_empty() && self.exact_cased.contains(t) {
                return true;
            }
        }
        for m in &self.others {
            let hit = match m {
                CMatcher::Str(sm) => match t {
                    Some(t) => {
                        if !folded_ready && !sm.cased() {
                            fold_into(t, folded);
                            folded_ready = true;
                        }
                        sm.matches(t, folded)
                    }
                    None => false,
                },
                CMatcher::Regex(re) => t.is_some_and(|t| re.is_match(t)),
                CMatcher::Cidr(net) => t
                    .and_then(|t| t.trim().parse::<IpAddr>().ok())
                    .is_some_and(|ip| net.contains(ip)),
                CMatcher::Num(op, n) => v.number().is_some_and(|x| op.test(x, *n)),
                CMatcher::Time(part, op, n) => {
                    time_part(v, *part).is_some_and(|x| op.test(x as f64, *n))
                }
            };
            if hit {
                return true;
            }
        }
        false
    }
}

/// A part of the date `v` holds.
pub(crate) fn time_part(v: &Value<'_>, part: TimePart) -> Option<i64> {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    let dt = match *v {
        Value::Str(s) => OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?,
        v => {
            let n = v.number()?;
            if !n.is_finite() {
                return None;
            }
            let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
            let nanos = (ms as i128).checked_mul(1_000_000)?;
            OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?
        }
    };
    Some(match part {
        TimePart::Minute => i64::from(dt.minute()),
        TimePart::Hour => i64::from(dt.hour()),
        TimePart::Day => i64::from(dt.day()),
        TimePart::Week => i64::from(dt.iso_week()),
        TimePart::Month => i64::from(u8::from(dt.month())),
        TimePart::Year => i64::from(dt.year()),
    })
}
