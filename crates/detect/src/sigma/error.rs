//! Rule load errors: where (file, line, column) and what (a stable code and a message).
//!
//! Every problem found while loading a rule file is a [`LoadError`] pointing at the
//! offending YAML node (1-based line and column). The codes are stable:
//!
//! | code | problem |
//! |---|---|
//! | `S0001` | the file cannot be read (I/O error, not UTF-8, larger than 4 MiB) |
//! | `S0002` | YAML syntax error (also duplicate keys, alias bombs) |
//! | `S0003` | a document is not a mapping |
//! | `S0004` | `title` missing or not text |
//! | `S0005` | an attribute has the wrong type (`id`, `name`, `tags`, `references`, `falsepositives`, …) |
//! | `S0006` | unknown `level` |
//! | `S0007` | unknown `status` |
//! | `S0008` | `logsource` missing or not a mapping of text values |
//! | `S0009` | unknown `category` or `service` in a `product: midwatch` logsource |
//! | `S0010` | `detection` missing, not a mapping, or a search identifier that is not a name |
//! | `S0011` | `condition` missing, not text, or an empty list |
//! | `S0012` | a search identifier is not a mapping, a list or a value (or holds a nested list) |
//! | `S0013` | a field's value is a mapping or a nested list |
//! | `S0014` | an empty list or mapping where values are needed |
//! | `S0015` | a `product: midwatch` rule names a field the midwatch field space does not have |
//! | `S0016` | a rule `id` or `name` already used by another rule |
//! | `S0020` | unknown value modifier |
//! | `S0021` | modifiers that cannot be combined, or cannot apply to the value (`i` without `re`, `base64` of a wildcard, UTF-16 without Base64, …) |
//! | `S0022` | a value of the wrong type for its modifier (`lt` with text, `exists` with a non-boolean, a bad CIDR network, `null` with modifiers) |
//! | `S0023` | a regular expression that does not compile or uses unsupported syntax (look-around, back-references) |
//! | `S0024` | unknown placeholder, or one with no values |
//! | `S0025` | malformed placeholder (an unclosed `%`) |
//! | `S0026` | a value expands into more than 4,096 alternatives |
//! | `S0030` | condition syntax error (the message gives the column in the condition) |
//! | `S0031` | the condition names a search identifier that does not exist |
//! | `S0032` | a `1 of`/`all of` pattern matches no search identifier |
//! | `S0033` | a Sigma 1.0 aggregation (`| count() …`, `timeframe`): write a correlation rule |
//! | `S0040` | malformed `examples` |
//! | `S0041` | a multi-document `action` (`global`, `reset`, `repeat`) used wrongly |
//! | `S0042` | malformed filter document (`filter:`), or a filter naming no loaded rule |

use std::fmt;
use std::path::PathBuf;

/// Why a rule could not be loaded. `code` is stable across releases so that tooling and
/// documentation can refer to it; `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// File the rule came from (empty for rules given as text).
    pub file: PathBuf,
    /// 1-based line of the offending node, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// Stable code, e.g. `S0101`.
    pub code: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} {}",
            self.file.display(),
            self.line,
            self.column,
            self.code,
            self.message
        )
    }
}

impl std::error::Error for LoadError {}

/// The stable error codes (see the table in the module documentation).
pub mod codes {
    /// The file cannot be read.
    pub const IO: &str = "S0001";
    /// YAML syntax error.
    pub const YAML: &str = "S0002";
    /// A document is not a mapping.
    pub const NOT_MAPPING: &str = "S0003";
    /// `title` missing or not text.
    pub const TITLE: &str = "S0004";
    /// An attribute has the wrong type.
    pub const ATTRIBUTE: &str = "S0005";
    /// Unknown `level`.
    pub const LEVEL: &str = "S0006";
    /// Unknown `status`.
    pub const STATUS: &str = "S0007";
    /// `logsource` missing or malformed.
    pub const LOGSOURCE: &str = "S0008";
    /// Unknown midwatch category or service.
    pub const MIDWATCH_LOGSOURCE: &str = "S0009";
    /// `detection` missing or malformed.
    pub const DETECTION: &str = "S0010";
    /// `condition` missing or malformed.
    pub const CONDITION_MISSING: &str = "S0011";
    /// A search identifier of the wrong shape.
    pub const SEARCH_SHAPE: &str = "S0012";
    /// A field value of the wrong shape.
    pub const VALUE_SHAPE: &str = "S0013";
    /// An empty list or mapping.
    pub const EMPTY: &str = "S0014";
    /// Unknown midwatch field.
    pub const MIDWATCH_FIELD: &str = "S0015";
    /// Duplicate rule id or name.
    pub const DUPLICATE: &str = "S0016";
    /// Unknown modifier.
    pub const UNKNOWN_MODIFIER: &str = "S0020";
    /// Modifiers that do not go together.
    pub const MODIFIER_COMBINATION: &str = "S0021";
    /// A value of the wrong type for its modifier.
    pub const VALUE_TYPE: &str = "S0022";
    /// Bad regular expression.
    pub const REGEX: &str = "S0023";
    /// Unknown placeholder.
    pub const PLACEHOLDER: &str = "S0024";
    /// Malformed placeholder.
    pub const PLACEHOLDER_SYNTAX: &str = "S0025";
    /// Too many alternatives.
    pub const EXPANSION: &str = "S0026";
    /// Condition syntax error.
    pub const CONDITION_SYNTAX: &str = "S0030";
    /// Unknown search identifier in the condition.
    pub const CONDITION_UNKNOWN: &str = "S0031";
    /// A pattern matching no search identifier.
    pub const CONDITION_EMPTY_PATTERN: &str = "S0032";
    /// Sigma 1.0 aggregation.
    pub const AGGREGATION: &str = "S0033";
    /// Malformed examples.
    pub const EXAMPLES: &str = "S0040";
    /// Multi-document action misuse.
    pub const ACTION: &str = "S0041";
    /// Malformed filter document.
    pub const FILTER: &str = "S0042";
}
