//! The condition language: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`,
//! `any of x*`, `1 of them`, `all of them`.
//!
//! Precedence from least to most binding (Sigma specification): `or`, `and`, `not`,
//! `x of`, parentheses. Operators are case-insensitive. `them` covers every search
//! identifier not starting with `_`; a pattern (`*` matches any characters) covers every
//! identifier it matches. Errors give the column in the condition and point the file
//! position at it.

use super::ast::Cond;
use super::error::{LoadError, codes};
use super::yaml::{Ctx, Pos};

/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_NESTING: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Not,
    Of,
    All,
    Any,
    Them,
    Count(u64),
    Ident(String),
    Pipe,
}

/// A token and its 0-based character column in the condition.
type Spanned = (Tok, usize);

/// Parse `text` over the search identifiers `names`; `pos` is where the text starts in the
/// file.
pub(crate) fn parse(ctx: Ctx<'_>, text: &str, pos: Pos, names: &[&str]) -> Result<Cond, LoadError> {
    let err = |col: usize, code: &'static str, msg: String| {
        ctx.err(
            pos.right(col),
            code,
            format!("condition `{text}`, column {}: {msg}", col + 1),
        )
    };
    let toks = lex(text).map_err(|(col, msg)| err(col, codes::CONDITION_SYNTAX, msg))?;
    if let Some((_, col)) = toks.iter().find(|(t, _)| *t == Tok::Pipe) {
        return Err(err(
            *col,
            codes::AGGREGATION,
            "`|` aggregations are Sigma 1.0; write a correlation rule instead".to_string(),
        ));
    }
    let mut p = Parser {
        toks: &toks,
        i: 0,
        depth: 0,
        names,
        end: text.chars().count(),
    };
    let cond = p.or().map_err(|(col, code, msg)| err(col, code, msg))?;
    if let Some((_, col)) = p.toks.get(p.i) {
        return Err(err(
            *col,
            codes::CONDITION_SYNTAX,
            "expected `and`, `or` or the end".to_string(),
        ));
    }
    Ok(cond)
}

fn lex(text: &str) -> Result<Vec<Spanned>, (usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::Open, i));
                i += 1;
            }
            ')' => {
                out.push((Tok::Close, i));
                i += 1;
            }
            '|' => {
                // An aggregation follows; it is refused as a whole.
                out.push((Tok::Pipe, i));
                break;
            }
            c if is_ident_char(c) => {
                let start = i;
                while chars.get(i).copied().is_some_and(is_ident_char) {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or(&[]).iter().collect();
                out.push((keyword(&word), start));
            }
            c => return Err((i, format!("unexpected character `{c}`"))),
        }
    }
    Ok(out)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.')
}

fn keyword(word: &str) -> Tok {
    match word.to_ascii_lowercase().as_str() {
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "of" => Tok::Of,
        "all" => Tok::All,
        "any" => Tok::Any,
        "them" => Tok::Them,
        _ => match word.parse::<u64>() {
            Ok(n) => Tok::Count(n),
            Err(_) => Tok::Ident(word.to_string()),
        },
    }
}

type PResult = Result<Cond, (usize, &'static str, String)>;

struct Parser<'a> {
    toks: &'a [Spanned],
    i: usize,
    depth: usize,
    names: &'a [&'a str],
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(_, c)| *c)
    }

    fn syntax<T>(&self, msg: &str) -> Result<T, (usize, &'static str, String)> {
        Err((self.col(), codes::CONDITION_SYNTAX, msg.to_string()))
    }

    fn enter(&mut self) -> Result<(), (usize, &'static str, String)> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err((
                self.col(),
                codes::CONDITION_SYNTAX,
                format!("nested more than {MAX_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> PResult {
        let mut terms = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            terms.push(self.and()?);
        }
        Ok(flatten(terms, false))
    }

    fn and(&mut self) -> PResult {
        let mut terms = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            terms.push(self.unary()?);
        }
        Ok(flatten(terms, true))
    }

    fn unary(&mut self) -> PResult {
        if self.peek() == Some(&Tok::Not) {
            self.i += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult {
        let col = self.col();
        match self.peek().cloned() {
            Some(Tok::Open) => {
                self.i += 1;
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::Close) {
                    return self.syntax("expected `)`");
                }
                self.i += 1;
                Ok(inner)
            }
            Some(Tok::Count(n)) => {
                if n != 1 {
                    return Err((
                        col,
                        codes::CONDITION_SYNTAX,
                        format!("`{n} of` is not Sigma; use `1 of` or `all of`"),
                    ));
                }
                self.i += 1;
                self.quantified(false)
            }
            Some(Tok::Any) => {
                self.i += 1;
                self.quantified(false)
            }
            Some(Tok::All) => {
                self.i += 1;
                self.quantified(true)
            }
            Some(Tok::Ident(name)) => {
                self.i += 1;
                if name.contains('*') {
                    return Err((
                        col,
                        codes::CONDITION_SYNTAX,
                        format!("`{name}`: a pattern needs `1 of` or `all of` before it"),
                    ));
                }
                match self.names.iter().position(|n| *n == name) {
                    Some(idx) => Ok(Cond::Search(idx)),
                    None => Err((
                        col,
                        codes::CONDITION_UNKNOWN,
                        format!("no search identifier `{name}` in `detection`"),
                    )),
                }
            }
            Some(_) => self.syntax("expected a search identifier, `not`, `1 of`, `all of` or `(`"),
            None => self.syntax("unexpected end of the condition"),
        }
    }

    /// After `1`/`any`/`all`: `of` and a pattern or `them`.
    fn quantified(&mut self, all: bool) -> PResult {
        if self.peek() != Some(&Tok::Of) {
            return self.syntax("expected `of`");
        }
        self.i += 1;
        let col = self.col();
        let targets: Vec<usize> = match self.peek().cloned() {
            Some(Tok::Them) => self
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.starts_with('_'))
                .map(|(i, _)| i)
                .collect(),
            Some(Tok::Ident(pattern)) => self
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| ident_matches(&pattern, n))
                .map(|(i, _)| i)
                .collect(),
            _ => return self.syntax("expected a search identifier pattern or `them`"),
        };
        self.i += 1;
        if targets.is_empty() {
            return Err((
                col,
                codes::CONDITION_EMPTY_PATTERN,
                "the pattern matches no search identifier".to_string(),
            ));
        }
        let terms = targets.into_iter().map(Cond::Search).collect();
        Ok(flatten(terms, all))
    }
}

/// One term stays itself; several become an AND or OR.
fn flatten(mut terms: Vec<Cond>, and: bool) -> Cond {
    if terms.len() == 1
        && let Some(t) = terms.pop()
    {
        return t;
    }
    if and {
        Cond::And(terms)
    } else {
        Cond::Or(terms)
    }
}

/// Whether identifier `name` matches `pattern`, where `*` stands for any characters.
pub(crate) fn ident_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = name.get(first.len()..).unwrap_or("");
    let middle = parts.get(1..parts.len() - 1).unwrap_or(&[]);
    for m in middle {
        match rest.find(m) {
            Some(at) => rest = rest.get(at + m.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.ends_with(last)
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
    use std::path::Path;

    const NAMES: &[&str] = &["sel", "sel_a", "sel_b", "filter_x", "_hidden", "kw"];

    fn p(text: &str) -> Result<Cond, LoadError> {
        let ctx = Ctx {
            file: Path::new("r.yml"),
        };
        parse(
            ctx,
            text,
            Pos {
                line: 7,
                column: 16,
            },
            NAMES,
        )
    }

    #[test]
    fn precedence_and_quantifiers() {
        use Cond::*;
        assert_eq!(
            p("sel or kw and not sel_a").unwrap(),
            Or(vec![
                Search(0),
                And(vec![Search(5), Not(Box::new(Search(1)))])
            ])
        );
        assert_eq!(
            p("(sel or kw) and sel_a").unwrap(),
            And(vec![Or(vec![Search(0), Search(5)]), Search(1)])
        );
        assert_eq!(
            p("1 of sel_* AND NOT all of filter*").unwrap(),
            And(vec![
                Or(vec![Search(1), Search(2)]),
                Not(Box::new(Search(3)))
            ])
        );
        assert_eq!(
            p("all of them").unwrap(),
            And(vec![Search(0), Search(1), Search(2), Search(3), Search(5)])
        );
        assert_eq!(p("any of _h*").unwrap(), Search(4));
        assert_eq!(
            p("not not sel").unwrap(),
            Not(Box::new(Not(Box::new(Search(0)))))
        );
        assert_eq!(
            p("1 of sel*").unwrap(),
            Or(vec![Search(0), Search(1), Search(2)])
        );
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = p("sel and nope").unwrap_err();
        assert_eq!(
            (e.code, e.line, e.column),
            (codes::CONDITION_UNKNOWN, 7, 24)
        );
        assert!(e.message.contains("column 9"), "{}", e.message);
        let e = p("sel and (kw").unwrap_err();
        assert_eq!(e.code, codes::CONDITION_SYNTAX);
        assert!(e.message.contains("column 12"), "{}", e.message);
        let e = p("sel | count() > 5").unwrap_err();
        assert_eq!(e.code, codes::AGGREGATION);
        let e = p("1 of zzz*").unwrap_err();
        assert_eq!(e.code, codes::CONDITION_EMPTY_PATTERN);
        for bad in [
            "",
            "and",
            "sel sel",
            "sel and",
            "2 of sel*",
            "sel*",
            "1 sel",
            "all of",
            "sel)",
            "sel $",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let deep = format!("{}sel{}", "(".repeat(500), ")".repeat(500));
        assert!(p(&deep).unwrap_err().message.contains("nested"));
        let nots = format!("{}sel", "not ".repeat(500));
        assert!(p(&nots).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn identifier_patterns() {
        assert!(ident_matches("sel*", "selection"));
        assert!(ident_matches("*", "x"));
        assert!(ident_matches("a*b*c", "aXbYc"));
        assert!(!ident_matches("a*b*c", "acb"));
        assert!(ident_matches("*_main_*", "filter_main_x"));
        assert!(!ident_matches("ab*ba", "aba"));
        assert!(ident_matches("sel", "sel"));
    }
}
