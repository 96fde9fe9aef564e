//! Differential test: random rules (selections, lists of maps, keywords, modifiers,
//! wildcards and escapes, null, existence, field references; conditions with `and`, `or`,
//! `not`, parentheses, `1 of`, `all of`, `them`) and random documents drawn from the same
//! value pools, matched by the compiled engine (as documents, as raw JSON records, with and
//! without dispatch) and by the naive reference interpreter, which must agree on every case.
//!
//! Seeded and reproducible: `MIDWATCH_SIGMA_SEED` picks the seed, `MIDWATCH_SIGMA_CASES` the
//! number of rules. A failure prints the seed and a shrunk rule and document.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod sigma_support;

use midwatch_detect::sigma::{Doc, Engine, EngineOptions, LoadOptions, Rule, load_str};
use serde_json::{Map, Value as J};
use sigma_support::{RCond, RRule, RSearch, RawItem, RawVal, Rng, matches, naive_item};

/// Rules per run (each matched against [`DOCS_PER_RULE`] documents).
const DEFAULT_CASES: usize = 1000;
const DOCS_PER_RULE: usize = 24;
/// Rules per engine, so dispatch sees many rules at once.
const BATCH: usize = 50;

const FIELDS: &[&str] = &["a", "b", "c.d", "User", "n", "ip", "list"];
const ATOMS: &[&str] = &[
    "alpha",
    "Beta",
    "gam",
    "ma-x",
    "a*b",
    "x?y",
    "back\\slash",
    "ÄÖü",
    "k",
    "K",
    "",
    "42",
    "true",
    "10.1.2.3",
    "2001:db8::7",
    "Admin Console",
    "café",
];
const NUMBERS: &[i64] = &[0, 5, 10, 42, -3, 1000];
const NAMES: &[&str] = &["sel1", "sel2", "sel3", "filter_a", "_priv"];

/// A generated rule: the items of each search, the condition (as text and as the
/// reference's tree).
#[derive(Debug, Clone)]
struct Spec {
    searches: Vec<(String, Body)>,
    condition: (String, RCond),
}

#[derive(Debug, Clone)]
enum Body {
    /// A mapping (AND of items).
    Map(Vec<RawItem>),
    /// A list of mappings (OR).
    Maps(Vec<Vec<RawItem>>),
    /// Keywords; `all` with the `|all` key.
    Keywords(Vec<RawVal>, bool),
}

impl Spec {
    fn yaml(&self) -> String {
        let mut y = String::from(
            "title: differential\nlogsource:\n    product: okta\n    service: okta\ndetection:\n",
        );
        for (name, body) in &self.searches {
            y.push_str(&format!("    {name}:\n"));
            match body {
                Body::Map(items) => {
                    for item in items {
                        y.push_str(&item_yaml(item, "        "));
                    }
                }
                Body::Maps(maps) => {
                    for items in maps {
                        for (i, item) in items.iter().enumerate() {
                            let text = item_yaml(item, "          ");
                            let text = if i == 0 {
                                format!("        - {}", text.trim_start())
                            } else {
                                text
                            };
                            y.push_str(&text);
                        }
                    }
                }
                Body::Keywords(values, false) => {
                    for v in values {
                        y.push_str(&format!("        - {}\n", v.yaml()));
                    }
                }
                Body::Keywords(values, true) => {
                    y.push_str("        '|all':\n");
                    for v in values {
                        y.push_str(&format!("            - {}\n", v.yaml()));
                    }
                }
            }
        }
        y.push_str(&format!("    condition: '{}'\n", self.condition.0));
        y
    }

    fn reference(&self) -> RRule {
        let searches = self
            .searches
            .iter()
            .map(|(name, body)| RSearch {
                name: name.clone(),
                alternatives: match body {
                    Body::Map(items) => vec![items.iter().map(naive_item).collect()],
                    Body::Maps(maps) => maps
                        .iter()
                        .map(|items| items.iter().map(naive_item).collect())
                        .collect(),
                    Body::Keywords(values, all) => {
                        let raw = RawItem {
                            field: String::new(),
                            modifiers: if *all { vec!["all".into()] } else { Vec::new() },
                            values: values.clone(),
                        };
                        vec![vec![naive_item(&raw)]]
                    }
                },
            })
            .collect();
        RRule {
            searches,
            conditions: vec![self.condition.1.clone()],
        }
    }
}

fn item_yaml(item: &RawItem, indent: &str) -> String {
    let mut key = item.field.clone();
    for m in &item.modifiers {
        key.push('|');
        key.push_str(m);
    }
    if item.values.len() == 1 && item.modifiers.iter().all(|m| m != "all") {
        format!("{indent}'{key}': {}\n", item.values[0].yaml())
    } else {
        let mut s = format!("{indent}'{key}':\n");
        for v in &item.values {
            s.push_str(&format!("{indent}    - {}\n", v.yaml()));
        }
        s
    }
}

/// A random Sigma string: an atom with some characters turned into wildcards and the
/// literal ones escaped as needed.
fn sigma_string(rng: &mut Rng, wildcards: bool) -> String {
    let atom: Vec<char> = rng.pick(ATOMS).chars().collect();
    let mut out = String::new();
    for (i, c) in atom.iter().enumerate() {
        if wildcards && rng.chance(12) {
            out.push(if rng.chance(50) { '*' } else { '?' });
            continue;
        }
        match c {
            '*' | '?' => {
                out.push('\\');
                out.push(*c);
            }
            '\\' => {
                // A plain backslash may stay single unless a wildcard or backslash follows.
                let next = atom.get(i + 1);
                if rng.chance(50) || matches!(next, Some('*' | '?' | '\\')) {
                    out.push_str("\\\\");
                } else {
                    out.push('\\');
                }
            }
            c => out.push(*c),
        }
    }
    if wildcards && rng.chance(15) {
        if rng.chance(50) {
            out.insert(0, '*');
        } else {
            out.push('*');
        }
    }
    // A trailing single backslash would escape nothing; keep it doubled.
    if out.ends_with('\\') && !out.ends_with("\\\\") {
        out.push('\\');
    }
    out
}

fn plain_atom(rng: &mut Rng) -> String {
    rng.pick(ATOMS).to_string()
}

fn field(rng: &mut Rng) -> String {
    let f = rng.pick(FIELDS).to_string();
    // Rules do not always spell fields as records do.
    if rng.chance(20) { f.to_lowercase() } else { f }
}

fn item(rng: &mut Rng) -> RawItem {
    let field = field(rng);
    let mut modifiers: Vec<String> = Vec::new();
    let mut values: Vec<RawVal> = Vec::new();
    let count = 1 + rng.below(3);
    match rng.below(14) {
        0..=4 => {
            // Strings, maybe with a position modifier, `all`, `cased`, `neq`.
            match rng.below(4) {
                0 => modifiers.push("contains".into()),
                1 => modifiers.push("startswith".into()),
                2 => modifiers.push("endswith".into()),
                _ => {}
            }
            if count > 1 && rng.chance(25) {
                modifiers.push("all".into());
            }
            if rng.chance(15) {
                modifiers.push("cased".into());
            }
            if rng.chance(10) {
                modifiers.push("neq".into());
            }
            for _ in 0..count {
                values.push(if rng.chance(15) {
                    RawVal::Int(*rng.pick(NUMBERS))
                } else {
                    RawVal::Str(sigma_string(rng, true))
                });
            }
            if rng.chance(10)
                && !modifiers.iter().any(|m| m == "all" || m == "neq")
                && modifiers.is_empty()
            {
                values.push(RawVal::Null);
            }
        }
        5 => values.push(RawVal::Null),
        6 => {
            modifiers.push("exists".into());
            values.push(RawVal::Bool(rng.chance(50)));
        }
        7 => {
            modifiers.push(rng.pick(&["lt", "lte", "gt", "gte"]).to_string());
            values.push(RawVal::Int(*rng.pick(NUMBERS)));
        }
        8 => {
            modifiers.push("cidr".into());
            values.push(RawVal::Str(
                rng.pick(&[
                    "10.0.0.0/8",
                    "10.1.2.0/24",
                    "2001:db8::/32",
                    "0.0.0.0/0",
                    "10.1.2.3/32",
                ])
                .to_string(),
            ));
        }
        9 => {
            modifiers.push("re".into());
            for m in ["i", "m", "s"] {
                if rng.chance(20) {
                    modifiers.push(m.into());
                }
            }
            let atom = plain_atom(rng);
            let re = match rng.below(4) {
                0 => format!("^{}", regex::escape(&atom)),
                1 => format!("{}$", regex::escape(&atom)),
                2 => format!("{}.*", regex::escape(&atom)),
                _ => regex::escape(&atom),
            };
            values.push(RawVal::Str(re));
        }
        10 => {
            modifiers.push("fieldref".into());
            match rng.below(3) {
                0 => modifiers.push("contains".into()),
                1 => modifiers.push("endswith".into()),
                _ => {}
            }
            if rng.chance(20) {
                modifiers.push("neq".into());
            }
            values.push(RawVal::Str(rng.pick(FIELDS).to_string()));
        }
        11 => {
            modifiers.push("base64".into());
            if rng.chance(50) {
                modifiers.push("contains".into());
            }
            values.push(RawVal::Str(plain_atom(rng).replace(['*', '?', '\\'], "")));
        }
        _ => {
            // Plain equality with several values: what dispatch indexes.
            for _ in 0..count {
                values.push(RawVal::Str(sigma_string(rng, false)));
            }
        }
    }
    RawItem {
        field,
        modifiers,
        values,
    }
}

/// Up to `n` items with distinct keys (a mapping cannot repeat a key).
fn items(rng: &mut Rng, n: usize) -> Vec<RawItem> {
    let mut out: Vec<RawItem> = Vec::new();
    for _ in 0..n {
        let i = item(rng);
        if !out
            .iter()
            .any(|o| o.field == i.field && o.modifiers == i.modifiers)
        {
            out.push(i);
        }
    }
    out
}

fn body(rng: &mut Rng) -> Body {
    match rng.below(10) {
        0..=5 => {
            let n = 1 + rng.below(3);
            Body::Map(items(rng, n))
        }
        6..=7 => Body::Maps(
            (0..1 + rng.below(3))
                .map(|_| {
                    let n = 1 + rng.below(2);
                    items(rng, n)
                })
                .collect(),
        ),
        _ => Body::Keywords(
            (0..1 + rng.below(2))
                .map(|_| RawVal::Str(sigma_string(rng, true)))
                .collect(),
            rng.chance(30),
        ),
    }
}

/// A random condition over `names`, with its text.
fn condition(rng: &mut Rng, names: &[String], depth: usize) -> (String, RCond, u8) {
    // Precedence: 1 or, 2 and, 3 not, 4 atoms.
    let op = |rng: &mut Rng, s: &str| {
        if rng.chance(20) {
            s.to_uppercase()
        } else {
            s.to_string()
        }
    };
    if depth == 0 || rng.chance(35) {
        if rng.chance(25) {
            let all = rng.chance(50);
            let word = if all {
                op(rng, "all")
            } else if rng.chance(50) {
                "1".to_string()
            } else {
                op(rng, "any")
            };
            let patterns = ["them", "sel*", "*1", "s*l*", "filter*", "_*", "*"];
            let candidates: Vec<&str> = patterns
                .iter()
                .copied()
                .filter(|p| {
                    *p == "them" && names.iter().any(|n| !n.starts_with('_'))
                        || *p != "them"
                            && names.iter().any(|n| sigma_support::pattern_matches(p, n))
                })
                .collect();
            let p = *rng.pick(&candidates);
            let pattern = (p != "them").then(|| p.to_string());
            let c = if all {
                RCond::AllOf(pattern)
            } else {
                RCond::OneOf(pattern)
            };
            return (format!("{word} {} {p}", op(rng, "of")), c, 4);
        }
        let n = rng.pick(names).clone();
        return (n.clone(), RCond::Id(n), 4);
    }
    let wrap = |rng: &mut Rng, (t, c, p): (String, RCond, u8), need: u8| {
        if p < need || rng.chance(10) {
            (format!("({t})"), c)
        } else {
            (t, c)
        }
    };
    match rng.below(3) {
        0 => {
            let inner = condition(rng, names, depth - 1);
            let (t, c) = wrap(rng, inner, 3);
            (
                format!("{} {t}", op(rng, "not")),
                RCond::Not(Box::new(c)),
                3,
            )
        }
        k => {
            let (word, prec) = if k == 1 { ("and", 2) } else { ("or", 1) };
            let n = 2 + rng.below(2);
            let mut texts = Vec::new();
            let mut conds = Vec::new();
            for _ in 0..n {
                let sub = condition(rng, names, depth - 1);
                let (t, c) = wrap(rng, sub, prec + 1);
                texts.push(t);
                conds.push(c);
            }
            let joined = texts.join(&format!(" {} ", op(rng, word)));
            let c = if k == 1 {
                RCond::And(conds)
            } else {
                RCond::Or(conds)
            };
            (joined, c, prec)
        }
    }
}

fn spec(rng: &mut Rng) -> Spec {
    let mut names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let keep = 1 + rng.below(NAMES.len());
    while names.len() > keep {
        let i = rng.below(names.len());
        names.remove(i);
    }
    let searches = names.iter().map(|n| (n.clone(), body(rng))).collect();
    let (text, cond, _) = condition(rng, &names, 3);
    Spec {
        searches,
        condition: (text, cond),
    }
}

/// Values a document may hold: the pools, and texts the rule's own patterns accept.
fn doc_value(rng: &mut Rng, hints: &[String]) -> J {
    match rng.below(12) {
        0..=3 if !hints.is_empty() => {
            let h = rng.pick(hints).clone();
            J::String(if rng.chance(30) { h.to_uppercase() } else { h })
        }
        0..=5 => J::String(plain_atom(rng)),
        6 => J::from(*rng.pick(NUMBERS)),
        7 => J::Bool(rng.chance(50)),
        8 => J::Null,
        9 => J::Array((0..rng.below(3)).map(|_| doc_value(rng, hints)).collect()),
        10 => J::String(format!("{} {}", plain_atom(rng), plain_atom(rng))),
        _ => J::String(
            rng.pick(&["10.200.0.1", "10.1.2.3", "2001:db8::7", "192.168.0.1"])
                .to_string(),
        ),
    }
}

/// Texts the rule's string values stand for (wildcards filled in).
fn hints(spec: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |v: &RawVal| {
        if let RawVal::Str(s) = v {
            let filled: String = sigma_support::parse_wildcards(s)
                .iter()
                .map(|p| match p {
                    sigma_support::GPart::Char(c) => c.to_string(),
                    sigma_support::GPart::One => "q".to_string(),
                    sigma_support::GPart::Many => "zz".to_string(),
                })
                .collect();
            out.push(filled);
        }
    };
    for (_, body) in &spec.searches {
        match body {
            Body::Map(items) => items.iter().flat_map(|i| &i.values).for_each(&mut add),
            Body::Maps(maps) => maps
                .iter()
                .flatten()
                .flat_map(|i| &i.values)
                .for_each(&mut add),
            Body::Keywords(values, _) => values.iter().for_each(&mut add),
        }
    }
    out
}

fn document(rng: &mut Rng, hints: &[String]) -> J {
    let mut doc = J::Object(Map::new());
    for f in FIELDS {
        if rng.chance(55) {
            let key = if rng.chance(15) {
                f.to_lowercase()
            } else {
                f.to_string()
            };
            sigma_support::set(&mut doc, &key, doc_value(rng, hints));
        }
    }
    doc
}

fn load(spec: &Spec) -> Rule {
    let yaml = spec.yaml();
    let mut report = load_str(&yaml, "random.yml", &LoadOptions::default());
    assert!(
        report.unsupported.is_empty(),
        "generated rule does not load:\n{yaml}\n{:?}",
        report.unsupported
    );
    report.rules.pop().unwrap()
}

/// What each path says about one rule and one document.
fn verdicts(rule: &Rule, spec: &Spec, doc: &J) -> (bool, bool, bool) {
    let engine = Engine::new(vec![rule.clone()]);
    verdicts_with(&engine, rule, &spec.reference(), doc)
}

fn verdicts_with(engine: &Engine, rule: &Rule, reference: &RRule, doc: &J) -> (bool, bool, bool) {
    let reference = matches(reference, doc);
    let as_doc = rule.is_match(&Doc::from_json(doc));
    let raw = {
        let mut out = Vec::new();
        engine
            .match_raw("okta", doc.to_string().as_bytes(), &mut out)
            .unwrap();
        !out.is_empty()
    };
    (reference, as_doc, raw)
}

/// Shrink a failing case: drop items, values and document fields while it still fails.
fn shrink(mut spec: Spec, mut doc: J) -> (Spec, J) {
    let fails = |spec: &Spec, doc: &J| {
        let yaml = spec.yaml();
        let report = load_str(&yaml, "shrink.yml", &LoadOptions::default());
        let Some(rule) = report.rules.first() else {
            return false;
        };
        let (r, d, w) = verdicts(rule, spec, doc);
        r != d || r != w
    };
    loop {
        let mut progress = false;
        for path in sigma_support::leaf_paths(&doc) {
            let mut smaller = doc.clone();
            sigma_support::remove(&mut smaller, &path);
            if fails(&spec, &smaller) {
                doc = smaller;
                progress = true;
            }
        }
        for s in 0..spec.searches.len() {
            let items = match &spec.searches[s].1 {
                Body::Map(items) => items.len(),
                _ => 0,
            };
            for i in (0..items).rev() {
                let mut smaller = spec.clone();
                if let Body::Map(items) = &mut smaller.searches[s].1
                    && items.len() > 1
                {
                    items.remove(i);
                    if fails(&smaller, &doc) {
                        spec = smaller;
                        progress = true;
                    }
                }
            }
        }
        if !progress {
            return (spec, doc);
        }
    }
}

#[test]
fn engine_agrees_with_the_reference() {
    let seed: u64 = std::env::var("MIDWATCH_SIGMA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_5167);
    let cases: usize = std::env::var("MIDWATCH_SIGMA_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    eprintln!("seed {seed}, {cases} rules x {DOCS_PER_RULE} documents");
    let mut rng = Rng::new(seed);
    let (mut evaluated, mut matched) = (0usize, 0usize);
    let mut batch_rules = Vec::new();
    let mut batch_specs = Vec::new();
    let mut batch_docs: Vec<J> = Vec::new();
    for case in 0..cases {
        let spec = spec(&mut rng);
        let rule = load(&spec);
        let hints = hints(&spec);
        let single = Engine::new(vec![rule.clone()]);
        let reference_rule = spec.reference();
        for _ in 0..DOCS_PER_RULE {
            let doc = document(&mut rng, &hints);
            let (reference, as_doc, raw) = verdicts_with(&single, &rule, &reference_rule, &doc);
            evaluated += 1;
            matched += usize::from(reference);
            if reference != as_doc || reference != raw {
                let (spec, doc) = shrink(spec.clone(), doc.clone());
                let (r, d, w) = {
                    let rule = load(&spec);
                    verdicts(&rule, &spec, &doc)
                };
                panic!(
                    "seed {seed}, case {case}: reference {r}, document {d}, raw record {w}\nrule:\n{}\ndocument: {doc}",
                    spec.yaml()
                );
            }
            batch_docs.push(doc);
        }
        batch_rules.push(rule);
        batch_specs.push(spec);
        if batch_rules.len() == BATCH || case + 1 == cases {
            check_dispatch(seed, &batch_rules, &batch_specs, &batch_docs);
            batch_rules.clear();
            batch_specs.clear();
            batch_docs.clear();
        }
    }
    eprintln!("{evaluated} rule/document pairs, {matched} matches, engine and reference agree");
    // The generator must produce both outcomes often.
    assert!(matched * 10 > evaluated, "{matched} of {evaluated}");
    assert!(matched * 10 < evaluated * 9, "{matched} of {evaluated}");
}

/// Many rules in one engine: dispatch on or off, the same matches as the reference.
fn check_dispatch(seed: u64, rules: &[Rule], specs: &[Spec], docs: &[J]) {
    let configs = [
        EngineOptions::default(),
        EngineOptions {
            index: true,
            prefilter: false,
        },
        EngineOptions {
            index: false,
            prefilter: true,
        },
        EngineOptions {
            index: false,
            prefilter: false,
        },
    ];
    let engines: Vec<Engine> = configs
        .iter()
        .map(|o| Engine::with_options(rules.to_vec(), *o))
        .collect();
    let references: Vec<RRule> = specs.iter().map(Spec::reference).collect();
    for doc in docs {
        let bytes = doc.to_string().into_bytes();
        let want: Vec<usize> = references
            .iter()
            .enumerate()
            .filter(|(_, r)| matches(r, doc))
            .map(|(i, _)| i)
            .collect();
        for (engine, opts) in engines.iter().zip(&configs) {
            let mut out = Vec::new();
            engine.match_raw("okta", &bytes, &mut out).unwrap();
            let got: Vec<usize> = out.iter().map(|m| m.rule).collect();
            assert_eq!(got, want, "seed {seed}, {opts:?}, document {doc}");
        }
    }
}
