//! A log-linear latency histogram: 128 linear buckets per power of two, so any recorded value
//! is reported within 0.8 %. Recording is an index computation and an add; the buckets are
//! allocated once up front, so recording never allocates (it runs inside the measured
//! window, where allocations are being counted).

/// Linear sub-buckets per power of two: 2^7 = 128.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values below `SUB` have a bucket each; every power of two above has `SUB` buckets.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of values (nanoseconds, in the benches) in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let shift = (63 - value.leading_zeros()) - SUB_BITS;
    ((shift as u64 + 1) * SUB + ((value >> shift) - SUB)) as usize
}

/// The middle of bucket `index`'s range of values.
fn value_of(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let shift = index / SUB - 1;
    let low = (SUB + index % SUB) << shift;
    low + ((1u64 << shift) - 1) / 2
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Adds every value counted in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The largest value counted (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.5 = median): the smallest bucket below or at which at
    /// least `q` of the values fall. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(value_of(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(index(0), 0);
        assert_eq!(index(127), 127);
        assert_eq!(index(128), 128);
        assert_eq!(index(255), 255);
        assert_eq!(index(256), 256);
        assert_eq!(index(257), 256);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        for v in [1u64, 100, 1_000, 12_345, 1_000_000, 987_654_321, 1 << 40] {
            let back = value_of(index(v));
            let error = (back as f64 - v as f64).abs() / v as f64;
            assert!(error < 0.008, "{v} came back as {back}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let near = |got: Option<u64>, want: u64| {
            let got = got.unwrap() as f64;
            assert!(
                (got - want as f64).abs() / (want as f64) < 0.01,
                "{got} vs {want}"
            );
        };
        near(h.quantile(0.5), 500_000);
        near(h.quantile(0.99), 990_000);
        near(h.quantile(0.999), 999_000);
        assert_eq!(
            h.quantile(1.0),
            Some(1_000_000).map(|m: u64| value_of(index(m)).min(m))
        );
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.len(), 1000);
    }

    #[test]
    fn merge_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(10);
        b.record(20);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.quantile(0.5), Some(20));
        assert_eq!(a.max(), 30);
    }
}
