//! Per-partition figures of a read — records, bytes, watermark, lag — which the read's
//! `Split` step reports as gauges.

use super::fetch::Fetcher;
use super::topic_partition::TopicPartition;
use sluice_sdk::time::Timestamp;

/// Per-partition figures of a read, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    /// The partition.
    pub partition: TopicPartition,
    /// Records read.
    pub records: u64,
    /// Key and value bytes read.
    pub bytes: u64,
    /// The partition's watermark.
    pub watermark: Timestamp,
    /// Records left to read: for a bounded read, before its end offset; for an unbounded one,
    /// before the high watermark at the last check (every few seconds), if known.
    pub lag: Option<i64>,
}

impl<K: 'static, V: 'static> Fetcher<K, V> {
    /// Figures per partition.
    pub(crate) fn stats(&self) -> Vec<PartitionStats> {
        self.partitions
            .iter()
            .map(|p| PartitionStats {
                partition: p.id.clone(),
                records: p.records,
                bytes: p.bytes,
                watermark: p.watermark,
                // A bounded read knows what is left before its end offset; an unbounded one
                // knows the distance to the high watermark at its last check.
                lag: match (p.end, p.position) {
                    (Some(end), Some(position)) => Some((end - position).max(0)),
                    _ => self.lags.get(&p.id).copied(),
                },
            })
            .collect()
    }
}
