//! Where a read starts and ends in each partition.
//!
//! The start is the spec's [`StartPosition`]: the earliest or latest offset, the group's
//! committed offset (and the watermark committed with it), or the first record at or after a
//! time. A bounded read also resolves, before it assigns anything, each partition's end: the
//! high watermark when the read starts. A partition whose `[start, end)` is empty is done at
//! once and never fetched. Under a group assignment the same resolution happens for each
//! partition the group hands over (see `Fetcher::apply_rebalances`).

use super::KafkaError;
use super::commit::restored_watermark;
use super::fetch::Fetcher;
use super::spec::StartPosition;
use super::topic_partition::TopicPartition;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use sluice_sdk::time::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

/// How long a metadata or offset request may take before it counts as failed.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the group committed for one partition.
#[derive(Clone, Copy, Default)]
struct CommittedPosition {
    /// The next offset to read, if the group committed one.
    offset: Option<i64>,
    /// The partition's watermark there, if Sluice stored it with the offset.
    watermark: Option<Timestamp>,
}

/// A group's committed offsets (when there is one) and the watermarks stored with them, by
/// partition.
#[derive(Default)]
pub(super) struct Committed(HashMap<TopicPartition, CommittedPosition>);

impl Committed {
    /// The positions a checkpoint of the pipeline kept, as if the group had committed them.
    pub(super) fn from_positions(positions: &[super::commit::PartitionPosition]) -> Self {
        Committed(
            positions
                .iter()
                .map(|p| {
                    let position = CommittedPosition {
                        offset: Some(p.next_offset),
                        watermark: (p.watermark > Timestamp::MIN).then_some(p.watermark),
                    };
                    (p.partition.clone(), position)
                })
                .collect(),
        )
    }

    /// The committed offset of every partition that has one.
    pub(super) fn offsets(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.0.iter().filter_map(|(p, c)| Some((p, c.offset?)))
    }

    /// Where a partition starts: its committed offset, or `Offset::Stored` where the group
    /// has none (then `auto.offset.reset` decides).
    pub(super) fn offset(&self, partition: &TopicPartition) -> Offset {
        match self.0.get(partition).and_then(|c| c.offset) {
            Some(o) => Offset::Offset(o),
            None => Offset::Stored,
        }
    }
}

impl<K: 'static, V: 'static> Fetcher<K, V> {
    /// Assigns `assignment` to the consumer, each partition from the spec's start position
    /// (a bounded read: within its range, leaving out partitions with nothing to read), and
    /// starts tracking the partitions.
    ///
    /// Resumed from a checkpoint (`resume`), a partition the checkpoint holds starts at its
    /// position there, with its watermark; the others start as the spec says.
    pub(super) fn assign(
        &mut self,
        assignment: &[TopicPartition],
        resume: Option<&Committed>,
    ) -> Result<(), KafkaError> {
        let spec = self.spec.clone();
        // Learn the partitions' leaders first: librdkafka otherwise waits out a 500 ms timer
        // before it asks for the start offsets of partitions whose leader it does not know.
        let mut topics: Vec<&str> = assignment.iter().map(|p| p.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            spec.topic_metadata(&self.consumer, topic)?;
        }
        let mut list = self.start_offsets(assignment)?;
        // Starting from the group's commits: their offsets, and the watermarks stored there.
        let committed = if let Some(resume) = resume {
            for p in assignment {
                if let Some(offset) = resume.0.get(p).and_then(|c| c.offset) {
                    list.set_partition_offset(&p.topic, p.partition, Offset::Offset(offset))
                        .map_err(|e| spec.error(format!("bad partition {p}: {e}")))?;
                }
            }
            Committed(
                resume
                    .0
                    .iter()
                    .filter(|(p, _)| assignment.contains(p))
                    .map(|(p, c)| (p.clone(), *c))
                    .collect(),
            )
        } else if matches!(spec.start, StartPosition::Committed) {
            self.committed(assignment)?
        } else {
            Committed::default()
        };
        // A bounded read resolves where each partition starts and ends before it assigns:
        // a partition with nothing in its range is done at once (and not fetched at all).
        let mut ranges = Vec::with_capacity(assignment.len());
        if spec.stop_at_end {
            let mut to_read = TopicPartitionList::new();
            for e in list.elements() {
                let id = TopicPartition::new(e.topic(), e.partition());
                let from = match e.offset() {
                    Offset::Stored => committed.offset(&id),
                    other => other,
                };
                let (start, end) = self.bounded_range(&id, from)?;
                if start < end {
                    to_read
                        .add_partition_offset(&id.topic, id.partition, Offset::Offset(start))
                        .map_err(|e| spec.error(e.to_string()))?;
                }
                ranges.push(Some((start, end)));
            }
            list = to_read;
        } else {
            ranges.resize(assignment.len(), None);
        }
        self.consumer
            .assign(&list)
            .map_err(|e| spec.error(format!("cannot assign partitions: {e}")))?;
        for (id, range) in assignment.iter().zip(ranges) {
            self.add_partition(id, range);
        }
        self.restore_watermarks(&committed);
        Ok(())
    }

    /// `assignment`, each partition with the offset the spec's start position names: a time
    /// is looked up (a time after the last record starts at the end).
    fn start_offsets(
        &self,
        assignment: &[TopicPartition],
    ) -> Result<TopicPartitionList, KafkaError> {
        let spec = &self.spec;
        let mut list = TopicPartitionList::new();
        for p in assignment {
            let offset = match spec.start {
                StartPosition::Earliest => Offset::Beginning,
                StartPosition::Latest => Offset::End,
                StartPosition::Committed => Offset::Stored,
                StartPosition::Timestamp(t) => Offset::Offset(t.as_millis()),
            };
            list.add_partition_offset(&p.topic, p.partition, offset)
                .map_err(|e| spec.error(format!("bad partition {p}: {e}")))?;
        }
        if let StartPosition::Timestamp(_) = spec.start {
            list = self
                .consumer
                .offsets_for_times(list, REQUEST_TIMEOUT)
                .map_err(|e| spec.error(format!("cannot look up offsets by time: {e}")))?;
            for e in list.clone().elements() {
                if !matches!(e.offset(), Offset::Offset(_)) {
                    list.set_partition_offset(e.topic(), e.partition(), Offset::End)
                        .map_err(|e| spec.error(e.to_string()))?;
                }
            }
        }
        Ok(list)
    }

    /// For a bounded read: the offsets `[start, end)` of a partition to read, `end` being its
    /// high watermark now and `start` what `from` resolves to, kept within the partition's
    /// current offsets. `from` is an offset, the beginning, the end, or `Offset::Stored` for a
    /// group without a committed offset there (then `auto.offset.reset` decides).
    pub(super) fn bounded_range(
        &self,
        id: &TopicPartition,
        from: Offset,
    ) -> Result<(i64, i64), KafkaError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&id.topic, id.partition, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.spec
                    .error(format!("cannot read the offsets of {id}: {e}"))
            })?;
        // Where librdkafka goes when there is no committed offset.
        let reset = match self.spec.property("auto.offset.reset") {
            Some("latest" | "largest" | "end") => high,
            _ => low,
        };
        let start = match from {
            Offset::Offset(o) => o,
            Offset::End => high,
            Offset::Stored => reset,
            _ => low,
        };
        Ok((start.clamp(low, high), high))
    }

    /// The group's committed offsets of `partitions`, with the watermarks stored with them
    /// (nothing without a group or partitions). Failing to read them fails a bounded read,
    /// which needs the offsets to know its ranges; an unbounded one leaves the start to
    /// librdkafka and its watermarks to the records.
    pub(super) fn committed(&self, partitions: &[TopicPartition]) -> Result<Committed, KafkaError> {
        if self.spec.group_id.is_none() || partitions.is_empty() {
            return Ok(Committed::default());
        }
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition(&p.topic, p.partition);
        }
        let answer = match self.consumer.committed_offsets(list, REQUEST_TIMEOUT) {
            Ok(answer) => answer,
            Err(e) if !self.spec.stop_at_end => {
                tracing::warn!(error = %e, "cannot read the group's committed watermarks");
                return Ok(Committed::default());
            }
            Err(e) => {
                return Err(self
                    .spec
                    .error(format!("cannot read the group's committed offsets: {e}")));
            }
        };
        Ok(Committed(
            answer
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    };
                    let position = CommittedPosition {
                        offset,
                        watermark: restored_watermark(e.metadata()),
                    };
                    (TopicPartition::new(e.topic(), e.partition()), position)
                })
                .collect(),
        ))
    }

    /// Starts the partitions' watermarks where the group's commits left them (see
    /// [`restored_watermark`]); a partition without one keeps its own.
    pub(super) fn restore_watermarks(&mut self, committed: &Committed) {
        for (id, position) in &committed.0 {
            let (Some(watermark), Some(i)) =
                (position.watermark, self.find(&id.topic, id.partition))
            else {
                continue;
            };
            let p = &mut self.partitions[i];
            p.watermark = p.watermark.max(watermark);
            tracing::debug!(partition = %id, ?watermark, "restored a partition's watermark");
        }
    }
}
