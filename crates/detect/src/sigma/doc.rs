//! A generic document: an owned tree of maps, lists and scalars.
//!
//! Rule examples are written as documents (a midwatch rule's example is a nested mapping in
//! the midwatch field space; a vendor rule's example looks like the vendor record), and tests
//! build documents to match rules against. A document is a [`Record`] with the same path
//! semantics as the raw JSON record, and converts to and from JSON so the same document can
//! also go through the raw-record path.

use super::record::{FieldPath, Lookup, Record, Value};
use super::tree::{self, Shape, Tree};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A document node.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    /// Null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Doc>),
    /// A mapping, in document order (keys may repeat; lookups take the first).
    Map(Vec<(String, Doc)>),
}

impl Default for Doc {
    fn default() -> Doc {
        Doc::Map(Vec::new())
    }
}

impl Doc {
    /// Build from a YAML node. Non-string keys are written as their text; aliases and bad
    /// values become null.
    pub fn from_yaml(node: &MarkedYaml<'_>) -> Doc {
        match &node.data {
            YamlData::Value(s) => Doc::from_scalar(s),
            YamlData::Representation(s, _, _) => Doc::Str(s.to_string()),
            YamlData::Sequence(items) => Doc::List(items.iter().map(Doc::from_yaml).collect()),
            YamlData::Mapping(map) => Doc::Map(
                map.iter()
                    .map(|(k, v)| (key_text(k), Doc::from_yaml(v)))
                    .collect(),
            ),
            YamlData::Tagged(_, inner) => Doc::from_yaml(inner),
            YamlData::Alias(_) | YamlData::BadValue => Doc::Null,
        }
    }

    /// Parse every document of a YAML (or JSON) text.
    pub fn parse_yaml(text: &str) -> Result<Vec<Doc>, String> {
        let docs: Vec<MarkedYaml<'static>> = MarkedYaml::load_from_str(text).map_err(|e| {
            format!(
                "line {} column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
        Ok(docs.iter().map(Doc::from_yaml).collect())
    }

    fn from_scalar(s: &Scalar<'_>) -> Doc {
        match s {
            Scalar::Null => Doc::Null,
            Scalar::Boolean(b) => Doc::Bool(*b),
            Scalar::Integer(i) => Doc::Int(*i),
            Scalar::FloatingPoint(f) => Doc::Float(f.into_inner()),
            Scalar::String(s) => Doc::Str(s.to_string()),
        }
    }

    /// Build from a JSON value.
    pub fn from_json(v: &serde_json::Value) -> Doc {
        match v {
            serde_json::Value::Null => Doc::Null,
            serde_json::Value::Bool(b) => Doc::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Doc::Int(i),
                (None, Some(f)) => Doc::Float(f),
                (None, None) => Doc::Str(n.to_string()),
            },
            serde_json::Value::String(s) => Doc::Str(s.clone()),
            serde_json::Value::Array(a) => Doc::List(a.iter().map(Doc::from_json).collect()),
            serde_json::Value::Object(o) => Doc::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Doc::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The document as a JSON value (repeated keys: the first wins; non-finite floats
    /// become null).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Doc::Null => serde_json::Value::Null,
            Doc::Bool(b) => serde_json::Value::Bool(*b),
            Doc::Int(i) => serde_json::Value::from(*i),
            Doc::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Doc::Str(s) => serde_json::Value::String(s.clone()),
            Doc::List(items) => serde_json::Value::Array(items.iter().map(Doc::to_json).collect()),
            Doc::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    if !map.contains_key(k) {
                        map.insert(k.clone(), v.to_json());
                    }
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Set `path` (dotted) to `value`, creating maps on the way and replacing whatever was
    /// there. Keys are matched exactly.
    pub fn set(&mut self, path: &str, value: Doc) {
        let mut node = self;
        let mut segments = path.split('.').peekable();
        while let Some(seg) = segments.next() {
            if !matches!(node, Doc::Map(_)) {
                *node = Doc::Map(Vec::new());
            }
            let Doc::Map(entries) = node else { return };
            let pos = match entries.iter().position(|(k, _)| k == seg) {
                Some(p) => p,
                None => {
                    entries.push((seg.to_string(), Doc::Null));
                    entries.len() - 1
                }
            };
            let Some((_, child)) = entries.get_mut(pos) else {
                return;
            };
            if segments.peek().is_none() {
                *child = value;
                return;
            }
            node = child;
        }
    }

    /// Remove `path` (dotted, exact keys) if present.
    pub fn remove(&mut self, path: &str) {
        let (parent, last) = match path.rsplit_once('.') {
            Some((p, l)) => (Some(p), l),
            None => (None, path),
        };
        let mut node = self;
        if let Some(parent) = parent {
            for seg in parent.split('.') {
                let Doc::Map(entries) = node else { return };
                let Some((_, child)) = entries.iter_mut().find(|(k, _)| k == seg) else {
                    return;
                };
                node = child;
            }
        }
        if let Doc::Map(entries) = node {
            entries.retain(|(k, _)| k != last);
        }
    }
}

fn key_text(k: &MarkedYaml<'_>) -> String {
    match &k.data {
        YamlData::Value(Scalar::String(s)) => s.to_string(),
        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
        YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
        YamlData::Value(Scalar::Null) => "null".to_string(),
        YamlData::Representation(s, _, _) => s.to_string(),
        _ => String::new(),
    }
}

impl<'d> Tree for &'d Doc {
    type Node = &'d Doc;

    fn root(&self) -> &'d Doc {
        self
    }

    fn shape(&self, node: &'d Doc) -> Shape {
        match node {
            Doc::Map(_) => Shape::Object,
            Doc::List(_) => Shape::Array,
            _ => Shape::Scalar,
        }
    }

    fn entries<F: FnMut(&str, &'d Doc) -> bool>(&self, node: &'d Doc, mut f: F) -> bool {
        match node {
            Doc::Map(entries) => entries.iter().any(|(k, v)| f(k, v)),
            _ => false,
        }
    }

    fn items<F: FnMut(&'d Doc) -> bool>(&self, node: &'d Doc, f: F) -> bool {
        match node {
            Doc::List(items) => items.iter().any(f),
            _ => false,
        }
    }

    fn scalar(&self, node: &'d Doc, f: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        match node {
            Doc::Null => f(Value::Null),
            Doc::Bool(b) => f(Value::Bool(*b)),
            Doc::Int(i) => f(Value::Int(*i)),
            Doc::Float(x) => f(Value::Float(*x)),
            Doc::Str(s) => f(Value::Str(s)),
            Doc::List(_) | Doc::Map(_) => false,
        }
    }
}

impl Record for Doc {
    fn lookup(&self, path: &FieldPath, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup {
        let t: &Doc = self;
        tree::lookup(&t, t, path, 0, visit)
    }

    fn leaves(&self, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let t: &Doc = self;
        tree::leaves(&t, t, visit)
    }
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
    use crate::sigma::json::JsonRecord;

    #[test]
    fn documents_and_json_agree_on_lookups() {
        let mut d = Doc::default();
        d.set("actor.alternateId", Doc::Str("a@b".into()));
        d.set("target", Doc::List(vec![Doc::Int(1), Doc::Str("x".into())]));
        d.set("actor.type", Doc::Str("User".into()));
        let json = d.to_json().to_string();
        let rec = JsonRecord::parse(json.as_bytes()).unwrap();
        for path in ["actor.alternateid", "target", "actor", "nope", "actor.type"] {
            assert_eq!(d.strings(path), rec.strings(path), "{path}");
        }
        assert_eq!(Doc::from_json(&d.to_json()), d);
        d.remove("actor.type");
        assert_eq!(d.first_string("actor.type"), None);
        assert_eq!(d.first_string("actor.alternateId").as_deref(), Some("a@b"));
    }
}
