//! A small, seedable pseudo-random generator (xoshiro256** seeded by SplitMix64).
//!
//! The simulator must be byte-for-byte reproducible from its seed on every platform and
//! every release, so it owns its generator instead of depending on a crate whose streams
//! may change between versions. Independent parts of the simulation draw from independent
//! streams ([`Rng::derive`]), so adding events to one part never shifts another.

/// SplitMix64 step: advances `state` and returns the next output.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix(*state)
}

/// The SplitMix64 finalizer: a bijection on `u64`, so distinct inputs give distinct outputs.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Natural logarithm of a positive, finite `x` from basic arithmetic only.
///
/// `f64::ln` comes from the platform's maths library and may differ in the last bit between
/// platforms; +, −, × and ÷ are exactly specified, so this keeps output identical everywhere.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if !x.is_finite() {
        return x;
    }
    // x = m · 2^e with m in [1, 2); subnormals are scaled up first.
    let (x, bias) = if x < f64::MIN_POSITIVE {
        (x * (1u64 << 54) as f64, -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023 + bias;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // ln m = 2·atanh(z), z = (m − 1)/(m + 1) ≤ 1/3: the odd series converges fast.
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 60.0 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * std::f64::consts::LN_2
}

/// xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from one number.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix(&mut sm),
            splitmix(&mut sm),
            splitmix(&mut sm),
            splitmix(&mut sm),
        ];
        if s == [0; 4] {
            return Rng { s: [1, 2, 3, 4] };
        }
        Rng { s }
    }

    /// An independent stream for `seed` and a path of stream numbers.
    pub fn derive(seed: u64, stream: &[u64]) -> Rng {
        let mut h = mix(seed ^ 0x6D69_6477_6174_6368); // "midwatch"
        for (i, x) in stream.iter().enumerate() {
            h = mix(h ^ mix(x.wrapping_add(0x1000_0000_0000_0000u64.wrapping_mul(i as u64 + 1))));
        }
        Rng::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.s;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(n);
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// Uniform index in `0..len`.
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo);
        lo.wrapping_add_unsigned(self.below(span))
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> Option<&'a T> {
        let i = self.index(xs.len());
        xs.get(i)
    }

    /// An element chosen with probability proportional to its weight.
    pub fn weighted<'a, T>(&mut self, xs: &'a [(T, u32)]) -> Option<&'a T> {
        let total: u64 = xs.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut r = self.below(total);
        for (x, w) in xs {
            let w = u64::from(*w);
            if r < w {
                return Some(x);
            }
            r -= w;
        }
        None
    }

    /// Shuffle in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.index(i + 1);
            xs.swap(i, j);
        }
    }

    /// An exponentially distributed gap with the given mean, clamped to `lo..=hi` (ms).
    pub fn gap_ms(&mut self, mean_ms: f64, lo: i64, hi: i64) -> i64 {
        let u = self.unit();
        let x = -ln(1.0 - u) * mean_ms;
        // Clamped to a small range first, so the conversion cannot overflow.
        let x = x.clamp(lo as f64, hi as f64);
        x as i64
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        self.chars(n, b"0123456789abcdef")
    }

    /// `n` characters drawn from `alphabet`.
    pub fn chars(&mut self, n: usize, alphabet: &[u8]) -> String {
        (0..n)
            .filter_map(|_| self.pick(alphabet).map(|b| char::from(*b)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_seed_sensitive() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let c = Rng::new(8).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
        assert_ne!(
            Rng::derive(1, &[1, 2]).next_u64(),
            Rng::derive(1, &[2, 1]).next_u64()
        );
    }

    #[test]
    fn portable_ln_matches_std() {
        for x in [
            1e-300, 1e-10, 0.001, 0.5, 0.999_999, 1.0, 1.5, 2.0, 10.0, 1e10, 5e-324,
        ] {
            let (a, b) = (ln(x), x.ln());
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{x}: {a} vs {b}");
        }
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn ranges_hold() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            let x = r.range(-5, 5);
            assert!((-5..5).contains(&x));
            assert!(r.below(3) < 3);
            let g = r.gap_ms(1000.0, 10, 5000);
            assert!((10..=5000).contains(&g));
        }
        assert_eq!(r.range(3, 3), 3);
        assert_eq!(r.below(0), 0);
        assert!(r.pick::<u8>(&[]).is_none());
        let mut v: Vec<u32> = (0..20).collect();
        r.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..20).collect::<Vec<_>>());
        assert_eq!(r.weighted(&[("a", 0), ("b", 1)]), Some(&"b"));
    }
}
