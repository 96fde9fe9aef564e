//! Dotted-path lookup over any tree of objects, arrays and scalars.
//!
//! The raw JSON record and the generic document share this code, so a rule sees the same
//! thing in a vendor record and in a document written to look like one (see
//! [`super::record`] for the semantics).

use super::record::{FieldPath, Lookup, Value, eq_folded};

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
    fn entries(&self, node: Self::Node, f: &mut dyn FnMut(&str, Self::Node) -> bool) -> bool;

    /// Call `f` with each item of an array until it returns `true`; returns whether it did.
    fn items(&self, node: Self::Node, f: &mut dyn FnMut(Self::Node) -> bool) -> bool;

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
            tree.items(node, &mut |child| {
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
    for exact in [true, false] {
        for to in from + 1..=path.len() {
            let want = path.span(from, to);
            let mut found = None;
            tree.entries(node, &mut |key, child| {
                let hit = if exact {
                    key == want
                } else {
                    eq_folded(key, want)
                };
                if hit {
                    found = Some(child);
                }
                hit
            });
            if let Some(child) = found {
                return Some((child, to));
            }
        }
    }
    None
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
            let matched = tree.items(node, &mut |child| emit(tree, child, visit).matched());
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
        Shape::Object => tree.entries(node, &mut |_, child| leaves(tree, child, visit)),
        Shape::Array => tree.items(node, &mut |child| leaves(tree, child, visit)),
    }
}
