//! Merkle trees over the chain hashes a checkpoint covers (the RFC 9162 tree shape), so a
//! bundle can prove one record belongs under a signed checkpoint without carrying the
//! records around it.

use crate::codec::Hash;
use sha2::{Digest, Sha256};

fn leaf(h: &Hash) -> Hash {
    let mut d = Sha256::new();
    d.update([0u8]);
    d.update(h);
    d.finalize().into()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut d = Sha256::new();
    d.update([1u8]);
    d.update(l);
    d.update(r);
    d.finalize().into()
}

/// Largest power of two below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Root of the tree over `leaves` (the zero hash for none).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => [0; 32],
        [one] => leaf(one),
        _ => {
            let k = split(leaves.len());
            let (l, r) = leaves.split_at(k);
            node(&root(l), &root(r))
        }
    }
}

/// The audit path of leaf `index`: sibling subtree roots from the bottom up.
pub fn proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let mut path = Vec::new();
    walk(leaves, index, &mut path);
    path
}

fn walk(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (l, r) = leaves.split_at(k);
    if index < k {
        walk(l, index, path);
        path.push(root(r));
    } else {
        walk(r, index - k, path);
        path.push(root(l));
    }
}

/// Whether `path` proves leaf `value` at `index` in a tree of `size` leaves with `expected`
/// root (RFC 9162 §2.1.3.2).
pub fn verify(value: &Hash, index: u64, size: u64, path: &[Hash], expected: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf(value);
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == expected
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn every_leaf_of_every_size_proves_and_no_other_does() {
        for n in 1..40usize {
            let leaves: Vec<Hash> = (0..n).map(|i| [i as u8; 32]).collect();
            let r = root(&leaves);
            for i in 0..n {
                let p = proof(&leaves, i);
                assert!(verify(&leaves[i], i as u64, n as u64, &p, &r), "{n}/{i}");
                assert!(!verify(&[99; 32], i as u64, n as u64, &p, &r));
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(!verify(&leaves[i], other as u64, n as u64, &p, &r));
                }
            }
        }
    }
}
