//! Fetching a read's records: one librdkafka consumer over a set of partitions, polled
//! synchronously, each message turned into a record (or a dead letter) with its event time,
//! and each partition's position tracked.
//!
//! A [`Fetcher`] is what both read variants run: the bounded read polls it on the runner's
//! thread; the unbounded read polls it on a thread of its own and hands batches to the runner's
//! async reader (`super::read`). Positions follow the Kafka protocol: a partition's position
//! is the offset of the next record to read (last offset read + 1), and a bounded read stops a
//! partition when its position reaches the end offset (the high watermark) the broker reported
//! when the read started — never by counting records, since offsets may have gaps
//! (compaction, transaction markers). Where a partition starts and ends is resolved in
//! [`positions`](super::positions); its watermark and idleness in
//! [`idleness`](super::idleness); its figures in [`stats`](super::stats).

use super::client::ReadConsumer;
use super::codec::Decoder;
use super::commit::PartitionPosition;
use super::idleness::SharedWatermarks;
use super::record::{KafkaDeadLetter, KafkaRecord, KafkaTimestampType};
use super::spec::ReadSpec;
use super::timestamps::{PartitionClock, PartitionTimestamps, RecordTime};
use super::topic_partition::TopicPartition;
use super::{KafkaError, ReadItem};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowed_value::TimestampedValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a fetcher tracks of one partition.
pub(super) struct PartitionState {
    pub(super) id: TopicPartition,
    /// The offset of the next record to read, once known.
    pub(super) position: Option<i64>,
    /// For a bounded read: the end offset when the read started.
    pub(super) end: Option<i64>,
    /// Fetching stopped, the partition being done.
    paused: bool,
    pub(super) estimator: Box<dyn PartitionTimestamps>,
    pub(super) watermark: Timestamp,
    pub(super) last_record: Instant,
    /// When the partition was last found caught up (position at the high watermark), and the
    /// read's resumption count then.
    pub(super) caught_up_at: Option<(Instant, u64)>,
    pub(super) last_check: Instant,
    pub(super) records: u64,
    pub(super) bytes: u64,
}

impl PartitionState {
    /// Brings a finished partition's own watermark (reported as a metric) up to date; the
    /// read's watermark no longer depends on it.
    pub(super) fn settle_watermark(&mut self, now: Timestamp) {
        let w = self
            .estimator
            .watermark(&PartitionClock { now, idle: false });
        self.watermark = self.watermark.max(w);
    }

    /// A bounded read has read everything before the partition's end offset.
    pub(super) fn done(&self) -> bool {
        matches!((self.position, self.end), (Some(p), Some(e)) if p >= e)
            || self.end.is_some_and(|e| e <= 0)
    }
}

/// Reads records of a set of partitions through one consumer.
pub(crate) struct Fetcher<K, V> {
    pub(super) spec: Arc<ReadSpec>,
    /// What the read's splits share: every partition's watermark and idleness.
    pub(super) shared: Arc<SharedWatermarks>,
    pub(super) consumer: Arc<ReadConsumer>,
    pub(super) partitions: Vec<PartitionState>,
    key: Arc<dyn Decoder<K>>,
    value: Arc<dyn Decoder<V>>,
    started: Instant,
    records: u64,
    /// Since when polls have been failing, and why.
    failing: Option<(Instant, String)>,
    pub(super) watermark: Timestamp,
    /// Every partition was idle at the last watermark computation.
    pub(super) idle: bool,
    /// Each partition's distance to its high watermark at the last check.
    pub(super) lags: std::collections::HashMap<TopicPartition, i64>,
    /// The read covers one topic: partitions are told apart by number alone, sparing the
    /// topic name's lookup and comparison per record.
    single_topic: bool,
    /// Partitions the group took away since the last [`Fetcher::take_revoked`].
    revoked: Vec<TopicPartition>,
}

impl<K: 'static, V: 'static> Fetcher<K, V> {
    /// Connects and starts reading `assignment` (or, for a group subscription, whatever the
    /// group assigns) from the spec's start position, or from where a checkpoint of the
    /// pipeline left it (`resume`; not under a group subscription).
    pub(crate) fn open(
        spec: Arc<ReadSpec>,
        shared: Arc<SharedWatermarks>,
        assignment: &[TopicPartition],
        resume: Option<&super::positions::Committed>,
        key: Arc<dyn Decoder<K>>,
        value: Arc<dyn Decoder<V>>,
    ) -> Result<Self, KafkaError> {
        let consumer = Arc::new(spec.consumer()?);
        let mut fetcher = Fetcher {
            single_topic: spec.single_topic(),
            spec,
            shared,
            consumer,
            partitions: Vec::new(),
            key,
            value,
            started: Instant::now(),
            records: 0,
            failing: None,
            watermark: Timestamp::MIN,
            idle: false,
            lags: Default::default(),
            revoked: Vec::new(),
        };
        if fetcher.spec.subscribe {
            let topics: Vec<&str> = fetcher.spec.topics.iter().map(String::as_str).collect();
            fetcher
                .consumer
                .subscribe(&topics)
                .map_err(|e| fetcher.spec.error(format!("cannot subscribe: {e}")))?;
        } else {
            fetcher.assign(assignment, resume)?;
        }
        Ok(fetcher)
    }

    /// Starts tracking a partition; `range` is a bounded read's `[start, end)`.
    pub(super) fn add_partition(&mut self, id: &TopicPartition, range: Option<(i64, i64)>) {
        if self.find(&id.topic, id.partition).is_some() {
            return;
        }
        self.shared.track(id);
        let now = Instant::now();
        self.partitions.push(PartitionState {
            estimator: self.spec.policy.create(&id.topic, id.partition),
            id: id.clone(),
            position: range.map(|(start, _)| start),
            end: range.map(|(_, end)| end),
            paused: false,
            watermark: Timestamp::MIN,
            last_record: now,
            caught_up_at: None,
            last_check: now - self.spec.idle_timeout,
            records: 0,
            bytes: 0,
        });
    }

    /// A bounded read's consumer reached the high watermark of partition `n`: every record
    /// before the read's end offset has been delivered, even when the last offsets were not
    /// records (transaction markers), so the partition is done. The event names no topic: a
    /// read of several topics relies on its records' offsets alone.
    fn reached_end(&mut self, n: i32) {
        if !self.single_topic {
            return;
        }
        if let Some(i) = self.partitions.iter().position(|p| p.id.partition == n) {
            let p = &mut self.partitions[i];
            if let Some(end) = p.end {
                p.position = Some(p.position.map_or(end, |at| at.max(end)));
                self.pause_if_done(i);
            }
        }
    }

    /// Stops fetching a partition a bounded read is done with.
    fn pause_if_done(&mut self, i: usize) {
        let p = &mut self.partitions[i];
        if p.paused || !p.done() {
            return;
        }
        p.paused = true;
        let mut one = TopicPartitionList::new();
        one.add_partition(&p.id.topic, p.id.partition);
        if let Err(e) = self.consumer.pause(&one) {
            tracing::debug!(error = %e, partition = %p.id, "cannot pause a finished partition");
        }
    }

    /// The index of a message's partition.
    fn locate(&self, message: &BorrowedMessage<'_>) -> Option<usize> {
        if self.single_topic {
            let partition = message.partition();
            self.partitions
                .iter()
                .position(|p| p.id.partition == partition)
        } else {
            self.find(message.topic(), message.partition())
        }
    }

    /// The index of a partition.
    pub(super) fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.id.is(topic, partition))
    }

    /// The consumer, for committing offsets.
    pub(crate) fn consumer(&self) -> Arc<ReadConsumer> {
        self.consumer.clone()
    }

    /// Polls up to `max` records into `out`, waiting at most `wait` for the first one.
    pub(crate) fn poll(
        &mut self,
        max: usize,
        wait: Duration,
        out: &mut Vec<TimestampedValue<ReadItem<K, V>>>,
    ) -> Result<(), KafkaError> {
        self.apply_rebalances()?;
        let mut timeout = wait;
        let mut taken = 0;
        // The clocks are read once per batch, not per record: a batch is polled within
        // microseconds once its first record is there.
        let mut clock: Option<(Instant, Timestamp)> = None;
        // Messages borrow the consumer; a handle of our own leaves `self` free to update.
        let consumer = self.consumer.clone();
        while taken < max && !self.finished() {
            let Some(result) = consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let (polled_at, wall) =
                *clock.get_or_insert_with(|| (Instant::now(), Timestamp::now()));
            let message = match result {
                Ok(m) => m,
                Err(rdkafka::error::KafkaError::PartitionEOF(n)) => {
                    self.reached_end(n);
                    continue;
                }
                Err(e) => {
                    self.failed(e.to_string())?;
                    continue;
                }
            };
            self.failing = None;
            let mut found = self.locate(&message);
            if found.is_none() {
                // A partition the group assigned during this poll.
                self.apply_rebalances()?;
                found = self.locate(&message);
            }
            let Some(i) = found else {
                // A partition revoked while its records were queued: its new owner reads
                // them from the group's committed offset.
                continue;
            };
            if let Some(item) = self.take_message(i, &message, polled_at, wall) {
                out.push(item);
                taken += 1;
                self.records += 1;
            }
        }
        if let Some(error) = self.consumer.context().take_error() {
            self.failed(error)?;
        }
        Ok(())
    }

    /// Moves partition `i` past `message` and turns the message into a record (or a dead
    /// letter) with its event time; `None` for a message at or past a bounded read's end.
    fn take_message(
        &mut self,
        i: usize,
        message: &BorrowedMessage<'_>,
        polled_at: Instant,
        wall: Timestamp,
    ) -> Option<TimestampedValue<ReadItem<K, V>>> {
        let p = &mut self.partitions[i];
        let offset = message.offset();
        if p.end.is_some_and(|end| offset >= end) {
            p.position = Some(p.position.unwrap_or(offset).max(offset));
            self.pause_if_done(i);
            return None;
        }
        p.position = Some(offset + 1);
        if p.end == p.position {
            self.pause_if_done(i);
        }
        let p = &mut self.partitions[i];
        p.last_record = polled_at;
        if p.caught_up_at.take().is_some() {
            // Data resumes: every partition's idleness must be checked again.
            self.shared.data_resumed(Timestamp::now());
        }
        p.records += 1;
        let (raw_key, raw_value) = (message.key(), message.payload());
        p.bytes += (raw_key.map_or(0, <[u8]>::len) + raw_value.map_or(0, <[u8]>::len)) as u64;
        let (timestamp, timestamp_type) = match message.timestamp() {
            rdkafka::Timestamp::CreateTime(ms) => (
                Some(Timestamp::from_millis(ms)),
                KafkaTimestampType::CreateTime,
            ),
            rdkafka::Timestamp::LogAppendTime(ms) => (
                Some(Timestamp::from_millis(ms)),
                KafkaTimestampType::LogAppendTime,
            ),
            rdkafka::Timestamp::NotAvailable => (None, KafkaTimestampType::NotAvailable),
        };
        let event_time = p.estimator.timestamp(&RecordTime {
            topic: &p.id.topic,
            partition: p.id.partition,
            offset,
            timestamp,
            timestamp_type,
            value: raw_value,
            now: wall,
        });
        let key = raw_key.map(|k| self.key.decode(Some(k))).transpose();
        let value = self.value.decode(raw_value);
        let item = match (key, value) {
            (Ok(key), Ok(value)) => Ok(KafkaRecord {
                topic: p.id.topic.clone(),
                partition: p.id.partition,
                offset,
                timestamp,
                timestamp_type,
                key,
                value,
                headers: message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            (Err(reason), _) | (_, Err(reason)) => Err(KafkaDeadLetter {
                topic: p.id.topic.clone(),
                partition: p.id.partition,
                offset,
                reason,
                key: raw_key.map(<[u8]>::to_vec),
                value: raw_value.map(<[u8]>::to_vec),
            }),
        };
        Some(TimestampedValue::new(item, event_time))
    }

    /// Notes a failed poll; fails the read once polls failed for longer than the spec's
    /// connect timeout and the broker still does not answer.
    fn failed(&mut self, error: String) -> Result<(), KafkaError> {
        let since = match &self.failing {
            Some((since, _)) => *since,
            None => Instant::now(),
        };
        self.failing = Some((since, error.clone()));
        if since.elapsed() < self.spec.connect_timeout {
            return Ok(());
        }
        // Errors can linger after the broker came back: ask it before giving up.
        match self.consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(_) => {
                self.failing = None;
                Ok(())
            }
            Err(e) => Err(self.spec.error(format!(
                "no answer for {:?}: {error} (then: {e})",
                self.spec.connect_timeout
            ))),
        }
    }

    /// Takes in the partitions the group assigned (starting at the group's committed offsets
    /// and watermarks) or took away since the last poll.
    fn apply_rebalances(&mut self) -> Result<(), KafkaError> {
        let events = self.consumer.context().take_rebalances();
        let assigned: Vec<TopicPartition> = events
            .iter()
            .filter(|e| e.assigned)
            .map(|e| e.partition.clone())
            .collect();
        let committed = self.committed(&assigned)?;
        for event in events {
            let id = event.partition;
            if event.assigned {
                let range = if self.spec.stop_at_end {
                    let from = committed.offset(&id);
                    Some(self.bounded_range(&id, from)?)
                } else {
                    None
                };
                self.add_partition(&id, range);
            } else if let Some(i) = self.find(&id.topic, id.partition) {
                // Its position lives on in the group's committed offset.
                self.partitions.remove(i);
                self.shared.forget(&id);
                self.revoked.push(id);
            }
        }
        self.restore_watermarks(&committed);
        Ok(())
    }

    /// A bounded read is finished when every partition reached its end offset, or the record
    /// or time limit is reached. An unbounded read never is.
    pub(crate) fn finished(&self) -> bool {
        let spec = &self.spec;
        spec.max_records.is_some_and(|n| self.records >= n)
            || spec
                .max_read_time
                .is_some_and(|d| self.started.elapsed() >= d)
            || (spec.stop_at_end && self.partitions.iter().all(PartitionState::done))
    }

    /// The partitions the group took away since the last call.
    pub(crate) fn take_revoked(&mut self) -> Vec<TopicPartition> {
        std::mem::take(&mut self.revoked)
    }

    /// The position (next offset, and the watermark there) of every partition that has one.
    pub(crate) fn positions(&self) -> Vec<PartitionPosition> {
        self.partitions
            .iter()
            .filter_map(|p| {
                p.position.map(|next_offset| PartitionPosition {
                    partition: p.id.clone(),
                    next_offset,
                    watermark: p.watermark,
                })
            })
            .collect()
    }
}
