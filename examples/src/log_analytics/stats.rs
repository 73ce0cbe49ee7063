//! Per-path request statistics: counts by status class, the error rate and latency
//! percentiles, as one combine whose accumulators merge (so sliding windows share slices).

use super::latency::Histogram;
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// What the statistics take of a request: its status and latency (µs), if known.
pub type Served = (u16, Option<u64>);

/// The accumulator: requests per status class (index 1 to 5) and the latency histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsAccumulator {
    by_class: [u64; 6],
    latency: Histogram,
}

/// A path's statistics in a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathStats {
    /// Requests.
    pub requests: u64,
    /// Requests answered 2xx, 3xx, 4xx and 5xx.
    pub by_class: [u64; 4],
    /// The share of 5xx answers.
    pub error_rate: f64,
    /// Latency percentiles 50, 95 and 99 (µs) of the requests that tell it.
    pub latency_us: [Option<u64>; 3],
}

/// Combines requests into [`PathStats`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PathStatsFn;

impl CombineFn for PathStatsFn {
    type Input = Served;
    type Accumulator = StatsAccumulator;
    type Output = PathStats;
    fn create_accumulator(&self) -> StatsAccumulator {
        StatsAccumulator::default()
    }
    fn add_input(&self, acc: &mut StatsAccumulator, (status, latency): Served) {
        acc.by_class[usize::from(status / 100).min(5)] += 1;
        if let Some(us) = latency {
            acc.latency.add(us);
        }
    }
    fn merge_accumulators(&self, acc: &mut StatsAccumulator, other: StatsAccumulator) {
        for (mine, theirs) in acc.by_class.iter_mut().zip(other.by_class) {
            *mine += theirs;
        }
        acc.latency.merge(&other.latency);
    }
    fn extract_output(&self, acc: &StatsAccumulator) -> PathStats {
        let requests: u64 = acc.by_class.iter().sum();
        let by_class = [
            acc.by_class[2],
            acc.by_class[3],
            acc.by_class[4],
            acc.by_class[5],
        ];
        PathStats {
            requests,
            by_class,
            error_rate: by_class[3] as f64 / requests.max(1) as f64,
            latency_us: [50.0, 95.0, 99.0].map(|p| acc.latency.percentile(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_and_the_5xx_share() {
        let f = PathStatsFn;
        let mut a = f.create_accumulator();
        for served in [
            (200, Some(1000)),
            (200, None),
            (503, Some(9000)),
            (404, Some(2000)),
        ] {
            f.add_input(&mut a, served);
        }
        let mut b = f.create_accumulator();
        f.add_input(&mut b, (302, Some(3000)));
        f.merge_accumulators(&mut a, b);
        let stats = f.extract_output(&a);
        assert_eq!(stats.requests, 5);
        assert_eq!(stats.by_class, [2, 1, 1, 1]);
        assert!((stats.error_rate - 0.2).abs() < 1e-12);
        let p50 = stats.latency_us[0].unwrap();
        assert!(
            p50.abs_diff(2000) <= 2000 / 16,
            "{p50}: the 2nd of 1, 2, 3, 9 ms (nearest rank)"
        );
    }
}
