//! Rule load errors: where (file, line, column) and what (a stable code and a message).

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
