//! Reading rule documents: YAML nodes with their positions, and the errors that point at
//! them.

use super::error::LoadError;
use saphyr::{MarkedYaml, Scalar, YamlData};
use std::path::Path;

/// A YAML node of a loaded document.
pub type Node = MarkedYaml<'static>;

/// A 1-based line and column in a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Pos {
    /// The position where `node` starts.
    pub fn of(node: &MarkedYaml<'_>) -> Pos {
        Pos {
            line: node.span.start.line(),
            column: node.span.start.col() + 1,
        }
    }

    /// This position moved `chars` characters to the right.
    pub fn right(self, chars: usize) -> Pos {
        Pos {
            line: self.line,
            column: self.column + chars,
        }
    }
}

/// Where errors are reported: the file being read.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The rule file.
    pub file: &'a Path,
}

impl Ctx<'_> {
    /// An error at `pos`.
    pub fn err(&self, pos: Pos, code: &'static str, message: impl Into<String>) -> LoadError {
        LoadError {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            code,
            message: message.into(),
        }
    }
}

/// A scalar's value, with YAML's core schema resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (quoted, or plain text that is no other type).
    Str(String),
}

impl ScalarValue {
    /// The value as text (`None` for null).
    pub fn text(&self) -> Option<String> {
        match self {
            ScalarValue::Null => None,
            ScalarValue::Bool(b) => Some(b.to_string()),
            ScalarValue::Int(i) => Some(i.to_string()),
            ScalarValue::Float(f) => Some(f.to_string()),
            ScalarValue::Str(s) => Some(s.clone()),
        }
    }
}

/// The scalar value of `node`, if it is a scalar.
pub fn scalar(node: &MarkedYaml<'_>) -> Option<ScalarValue> {
    match &node.data {
        YamlData::Value(s) => Some(match s {
            Scalar::Null => ScalarValue::Null,
            Scalar::Boolean(b) => ScalarValue::Bool(*b),
            Scalar::Integer(i) => ScalarValue::Int(*i),
            Scalar::FloatingPoint(f) => ScalarValue::Float(f.into_inner()),
            Scalar::String(s) => ScalarValue::Str(s.to_string()),
        }),
        YamlData::Representation(s, _, _) => Some(ScalarValue::Str(s.to_string())),
        YamlData::Tagged(_, inner) => scalar(inner),
        _ => None,
    }
}

/// The text of a scalar node (numbers and booleans as written by YAML's core schema).
pub fn text(node: &MarkedYaml<'_>) -> Option<String> {
    scalar(node).and_then(|s| s.text())
}

/// Entries of a mapping node.
pub fn entries<'n>(
    node: &'n MarkedYaml<'static>,
) -> Option<impl Iterator<Item = (&'n Node, &'n Node)>> {
    match &node.data {
        YamlData::Mapping(map) => Some(map.iter()),
        _ => None,
    }
}

/// Items of a sequence node.
pub fn items(node: &Node) -> Option<&[Node]> {
    match &node.data {
        YamlData::Sequence(seq) => Some(seq.as_slice()),
        _ => None,
    }
}

/// The value of key `key` in a mapping node.
pub fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    entries(node)?
        .find(|(k, _)| matches!(&k.data, YamlData::Value(Scalar::String(s)) if s == key))
        .map(|(_, v)| v)
}

/// What kind of node this is, in words, for error messages.
pub fn kind(node: &MarkedYaml<'_>) -> &'static str {
    match &node.data {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::Null) => "null",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Integer(_)) => "an integer",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) | YamlData::Representation(..) => "a string",
        YamlData::Tagged(..) => "a tagged node",
        YamlData::Alias(_) => "an alias",
        YamlData::BadValue => "an invalid value",
    }
}
