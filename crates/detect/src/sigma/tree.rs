//! Dotted-path lookup over any tree of objects, arrays and scalars.
//!
//! The raw JSON record and the generic document share this code, so a rule sees the same
//! thing in a vendor record and in a document written to look like one (see
//! [`super::record`] for the semantics).

use super::record::{FieldPath, Lookup, Value};

/// The shape of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Object,
    Array,
    Scalar,
}

/// A tree of nodes addressed by a small copyable handle.
pub(crate) trait Tree {
    /// Node handle.
    type Node: Copy;

    /// The root node.
    fn root(&self) -> Self::Node;

    /// Shape of `node`.
    fn shape(&self, node: Self::Node) -> Shape;

    /// Call `f` with each key and child of an object until it returns `true`; returns
    /// whether it did.
    fn entries<F: FnMut(&str, Self::Node) -> bool>(&self, node: Self::Node, f: F) -> bool;

    /// Call `f` with each item of an array until it returns `true`; returns whether it did.
    fn items<F: FnMut(Self::Node) -> bool>(&self, node: Self::Node, f: F) -> bool;

    /// Call `f` with the scalar value of `node`; returns what `f` returned.
    fn scalar(&self, node: Self::Node, f: &mut dyn FnMut(Value<'_>) -> bool) -> bool;
}

/// Look `path` (from segment `from` on) up below `node`.
pub(crate) fn lookup<T: Tree>(
    tree: &T,
    node: T::Node,
    path: &FieldPath,
    from: usize,
    visit: &mut dyn FnMut(Value<'_>) -> bool,
) -> Lookup {
    if from >= path.len() {
        return emit(tree, node, visit);
    }
    match tree.shape(node) {
        Shape::Scalar => Lookup::Missing,
        Shape::Array => {
            let mut result = Lookup::Missing;
            tree.items(node, |child| {
                let r = lookup(tree, child, path, from, visit);
                result = result.or(r);
                r.matched()
            });
            result
        }
        Shape::Object => match find_key(tree, node, path, from) {
            Some((child, next)) => lookup(tree, child, path, next, visit),
            None => Lookup::Missing,
        },
    }
}

/// The child of object `node` named by the segments of `path` starting at `from`, and the
/// index of the first segment after the key: exact keys first (the shortest dotted span
/// first), then case-insensitive ones.
pub(crate) fn find_key<T: Tree>(
    tree: &T,
    node: T::Node,
    path: &FieldPath,
    from: usize,
) -> Option<(T::Node, usize)> {
    let spans = path.len().saturating_sub(from);
    if spans == 1 {
        // The common case: one segment left, one pass.
        let want = path.span(from, from + 1);
        let mut folded = None;
        let mut exact = None;
        tree.entries(node, |key, child| {
            if key == want {
                exact = Some(child);
                return true;
            }
            if folded.is_none() && path.key_matches_folded(key, from, from + 1) {
                folded = Some(child);
            }
            false
        });
        return exact.or(folded).map(|c| (c, from + 1));
    }
    // First exact and first folded hit for each dotted span, in one pass.
    let mut exact: Vec<Option<T::Node>> = vec![None; spans];
    let mut folded: Vec<Option<T::Node>> = vec![None; spans];
    tree.entries(node, |key, child| {
        for (i, to) in (from + 1..=path.len()).enumerate() {
            if let (Some(e), Some(f)) = (exact.get_mut(i), folded.get_mut(i)) {
                if e.is_none() && key == path.span(from, to) {
                    *e = Some(child);
                } else if f.is_none() && path.key_matches_folded(key, from, to) {
                    *f = Some(child);
                }
            }
        }
        // The shortest exact span wins outright.
        exact.first().is_some_and(Option::is_some)
    });
    let pick = |hits: &[Option<T::Node>]| {
        hits.iter()
            .enumerate()
            .find_map(|(i, h)| h.map(|c| (c, from + 1 + i)))
    };
    pick(&exact).or_else(|| pick(&folded))
}

/// Hand every value of `node` to `visit`: the scalar, each element of an array (nested
/// arrays flattened), or [`Value::Object`] for an object.
fn emit<T: Tree>(tree: &T, node: T::Node, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup {
    match tree.shape(node) {
        Shape::Scalar => Lookup::Found {
            matched: tree.scalar(node, visit),
        },
        Shape::Object => Lookup::Found {
            matched: visit(Value::Object),
        },
        Shape::Array => {
            let matched = tree.items(node, |child| emit(tree, child, visit).matched());
            Lookup::Found { matched }
        }
    }
}

/// Every non-null scalar below `node`.
pub(crate) fn leaves<T: Tree>(
    tree: &T,
    node: T::Node,
    visit: &mut dyn FnMut(Value<'_>) -> bool,
) -> bool {
    match tree.shape(node) {
        Shape::Scalar => tree.scalar(node, &mut |v| !v.is_null() && visit(v)),
        Shape::Object => tree.entries(node, |_, child| leaves(tree, child, visit)),
        Shape::Array => tree.items(node, |child| leaves(tree, child, visit)),
    }
}
