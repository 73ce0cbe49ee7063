//! Latency percentiles from a mergeable histogram.
//!
//! Exact percentiles need every value; a window's percentiles built from its slices need
//! something that merges. [`Histogram`] counts latencies (microseconds) in log-linear buckets:
//! exact below 16 µs, then 8 buckets per power of two, so a bucket is at most 1/8 of its values
//! wide. A percentile finds the bucket holding the value of that rank — the same value exact
//! percentiles would pick — and reports the bucket's middle: within 1/16 of the value
//! (HdrHistogram's idea, at 3 significant bits).

use serde::{Deserialize, Serialize};

/// Counts per bucket, sparse: (bucket, count), in bucket order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    buckets: Vec<(u16, u64)>,
    total: u64,
}

/// Values below this have a bucket each.
const EXACT: u64 = 16;
/// Bits of a value kept below its highest one: 8 buckets per power of two.
const SUB_BITS: u32 = 3;

/// The bucket of `value`.
pub fn bucket_of(value: u64) -> u16 {
    if value < EXACT {
        return value as u16;
    }
    let exponent = 63 - value.leading_zeros();
    let sub = (value >> (exponent - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (EXACT + u64::from(exponent - 4) * (1 << SUB_BITS) + sub) as u16
}

/// The smallest and largest value of `bucket`.
pub fn bucket_range(bucket: u16) -> (u64, u64) {
    let b = u64::from(bucket);
    if b < EXACT {
        return (b, b);
    }
    let exponent = (b - EXACT) / (1 << SUB_BITS) + 4;
    let sub = (b - EXACT) % (1 << SUB_BITS);
    let width = 1u64 << (exponent - u64::from(SUB_BITS));
    let low = (1u64 << exponent) + sub * width;
    (low, low + width - 1)
}

impl Histogram {
    /// Counts one value.
    pub fn add(&mut self, value: u64) {
        let bucket = bucket_of(value);
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => self.buckets[i].1 += 1,
            Err(i) => self.buckets.insert(i, (bucket, 1)),
        }
        self.total += 1;
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.buckets.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    merged.push((x.0, x.1 + y.1));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => merged.push(*a.next().expect("peeked")),
                (Some(_), Some(_)) => merged.push(*b.next().expect("peeked")),
                (Some(_), None) => merged.push(*a.next().expect("peeked")),
                (None, Some(_)) => merged.push(*b.next().expect("peeked")),
                (None, None) => break,
            }
        }
        self.buckets = merged;
        self.total += other.total;
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `percent`-th percentile (nearest rank: the value at rank ⌈p/100 · n⌉), as the
    /// middle of its bucket; `None` without values.
    pub fn percentile(&self, percent: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((percent / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for &(bucket, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_range(bucket);
                return Some(low + (high - low) / 2);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_contiguous_and_hold_their_values() {
        let mut next = 0;
        for bucket in 0..400u16 {
            let (low, high) = bucket_range(bucket);
            assert_eq!(low, next, "bucket {bucket}");
            assert_eq!(bucket_of(low), bucket);
            assert_eq!(bucket_of(high), bucket);
            assert!(high - low <= low / 8, "bucket {bucket} is at most 1/8 wide");
            next = high + 1;
        }
    }

    proptest! {
        /// A percentile of merged histograms is within 1/16 of the exact one, whatever the
        /// split.
        #[test]
        fn percentiles_of_merged_parts_are_near_the_exact_ones(
            values in prop::collection::vec(0u64..10_000_000, 1..300),
            split in 0usize..300,
            percent in prop_oneof![Just(50.0), Just(95.0), Just(99.0), 1.0f64..100.0],
        ) {
            let split = split.min(values.len());
            let (mut a, mut b) = (Histogram::default(), Histogram::default());
            values[..split].iter().for_each(|&v| a.add(v));
            values[split..].iter().for_each(|&v| b.add(v));
            a.merge(&b);
            let mut sorted = values.clone();
            sorted.sort();
            let rank = ((percent / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let exact = sorted[rank - 1];
            let estimate = a.percentile(percent).unwrap();
            prop_assert!(estimate.abs_diff(exact) <= exact / 16 + 1, "{estimate} for {exact}");
            prop_assert_eq!(a.count(), values.len() as u64);
        }
    }
}
