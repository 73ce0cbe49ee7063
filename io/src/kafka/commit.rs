//! Committing a consumer group's offsets: only positions whose records reached the output.
//!
//! The runner finalizes a checkpoint once every output of the records before it is written;
//! finalizing hands the checkpoint's positions (next offset to read, per partition) to
//! [`Commits`], which commits them for the group in the background at most every
//! [`COMMIT_INTERVAL`], and synchronously when the read shuts down.
//!
//! A commit also stores, in the offset's metadata (`sluice:watermark_ms=…`), the partition's
//! watermark at that position. A reader that starts a partition from the committed offset —
//! the new owner after a rebalance, or the same pipeline after a restart — starts its
//! watermark there too ([`restored_watermark`]), instead of from the beginning of time: the
//! partition's watermark state moves with its offset. (Apache Kafka and librdkafka's mock
//! cluster keep commit metadata; tansu 0.6.0, the test broker, answers it empty, so there a
//! partition's watermark starts again from its records.)
//!
//! Under a group assignment, partitions move between members. When the group takes a
//! partition away, its finalized position is committed at once, while this member still
//! belongs to the current generation, and the partition is forgotten: positions of
//! checkpoints finalized later do not overwrite what its new owner commits. Records read but
//! not yet finalized are read again by the new owner, from the committed position
//! (at-least-once).

use super::client::ReadContext;
use super::topic_partition::TopicPartition;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use sluice_sdk::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often finalized offsets are committed while the read runs.
pub(crate) const COMMIT_INTERVAL: Duration = Duration::from_millis(500);

/// Where the read of a partition stands: what a checkpoint records and a commit stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionPosition {
    /// The partition.
    pub(crate) partition: TopicPartition,
    /// The offset of the next record to read.
    pub(crate) next_offset: i64,
    /// The partition's watermark once the records before `next_offset` are read.
    pub(crate) watermark: Timestamp,
}

/// The prefix of the watermark in a committed offset's metadata.
const WATERMARK_METADATA: &str = "sluice:watermark_ms=";

/// The commit metadata that records `watermark`.
fn watermark_metadata(watermark: Timestamp) -> String {
    if watermark > Timestamp::MIN {
        format!("{WATERMARK_METADATA}{}", watermark.as_millis())
    } else {
        String::new()
    }
}

/// The watermark a committed offset's metadata records, if it is Sluice's.
pub(crate) fn restored_watermark(metadata: &str) -> Option<Timestamp> {
    metadata
        .strip_prefix(WATERMARK_METADATA)?
        .parse()
        .ok()
        .map(Timestamp::from_millis)
}

/// Finalized positions not yet committed, and the partitions the group took away.
pub(crate) struct Commits {
    state: Mutex<CommitState>,
}

struct CommitState {
    /// The latest finalized position (next offset, watermark) of each partition this member
    /// owns.
    finalized: BTreeMap<TopicPartition, (i64, Timestamp)>,
    /// Some finalized position is not committed yet.
    dirty: bool,
    last_commit: Instant,
    /// Partitions revoked since they were last assigned.
    revoked: BTreeSet<TopicPartition>,
}

impl Default for Commits {
    fn default() -> Self {
        Commits {
            state: Mutex::new(CommitState {
                finalized: BTreeMap::new(),
                dirty: false,
                last_commit: Instant::now(),
                revoked: BTreeSet::new(),
            }),
        }
    }
}

impl Commits {
    /// Records finalized positions; commits in the background if the last commit is older
    /// than [`COMMIT_INTERVAL`].
    pub(crate) fn finalized(
        &self,
        consumer: &BaseConsumer<ReadContext>,
        positions: &[PartitionPosition],
    ) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        for p in positions {
            let key = p.partition.clone();
            if s.revoked.contains(&key) {
                continue;
            }
            let entry = s
                .finalized
                .entry(key)
                .or_insert((p.next_offset, p.watermark));
            *entry = (*entry).max((p.next_offset, p.watermark));
            s.dirty = true;
        }
        if s.dirty && s.last_commit.elapsed() >= COMMIT_INTERVAL {
            commit(consumer, &mut s, None, CommitMode::Async);
        }
    }

    /// Commits in the background what is finalized and not committed yet, if the last commit
    /// is older than [`COMMIT_INTERVAL`]: retries a failed commit even when no checkpoint is
    /// finalized in the meantime.
    pub(crate) fn tick(&self, consumer: &BaseConsumer<ReadContext>) {
        if let Ok(mut s) = self.state.lock()
            && s.dirty
            && s.last_commit.elapsed() >= COMMIT_INTERVAL
        {
            commit(consumer, &mut s, None, CommitMode::Async);
        }
    }

    /// A background commit failed: the next [`Commits::tick`] tries again.
    pub(crate) fn failed(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.dirty = !s.finalized.is_empty();
        }
    }

    /// Commits what is finalized and not committed yet, waiting for the broker's answer.
    pub(crate) fn flush(&self, consumer: &BaseConsumer<ReadContext>) {
        if let Ok(mut s) = self.state.lock()
            && s.dirty
        {
            commit(consumer, &mut s, None, CommitMode::Sync);
        }
    }

    /// The group is taking `partitions` away: commits their finalized positions now and
    /// forgets them.
    pub(crate) fn revoking(
        &self,
        consumer: &BaseConsumer<ReadContext>,
        partitions: &[TopicPartition],
    ) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        commit(consumer, &mut s, Some(partitions), CommitMode::Sync);
        for p in partitions {
            s.finalized.remove(p);
            s.revoked.insert(p.clone());
        }
    }

    /// The group assigned `partitions` (again).
    pub(crate) fn assigned(&self, partitions: &[TopicPartition]) {
        if let Ok(mut s) = self.state.lock() {
            for p in partitions {
                s.revoked.remove(p);
            }
        }
    }
}

/// Commits the finalized positions (of `only` these partitions, if given).
fn commit(
    consumer: &BaseConsumer<ReadContext>,
    s: &mut CommitState,
    only: Option<&[TopicPartition]>,
    mode: CommitMode,
) {
    let mut list = rdkafka::TopicPartitionList::new();
    for (partition, (offset, watermark)) in &s.finalized {
        if only.is_some_and(|o| !o.contains(partition)) {
            continue;
        }
        let mut entry = list.add_partition(&partition.topic, partition.partition);
        // Only an out-of-range offset fails here; it has nothing to commit.
        if entry.set_offset(rdkafka::Offset::Offset(*offset)).is_ok() {
            entry.set_metadata(watermark_metadata(*watermark));
        }
    }
    if list.count() == 0 {
        return;
    }
    let committed = consumer.commit(&list, mode);
    match &committed {
        Ok(()) => tracing::debug!(partitions = list.count(), "committing Kafka offsets"),
        // Not fatal: retried at the next tick, and records are read again after a restart.
        Err(e) => tracing::warn!(error = %e, "committing Kafka offsets failed"),
    }
    if only.is_none() {
        // An asynchronous commit's failure comes later, through `Commits::failed`.
        s.dirty = committed.is_err();
        s.last_commit = Instant::now();
    }
}
